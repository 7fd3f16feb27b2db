package dev.surpass.model.clip;

import dev.surpass.Tensor;

/**
 * What {@link ClipTextModel#forward} gives, each F32 on the model's device and owned by the caller
 * ({@link #close} frees all three).
 *
 * @param lastHiddenState {@code [B, L, D]}: the encoder's output after final_layer_norm
 * @param pooled          {@code [B, D]}: the row of each sequence's end token (HF's pooler_output)
 * @param textEmbeds      {@code [B, P]}: {@code pooled · text_projectionᵀ} when the checkpoint has a
 *                        text_projection (CLIPTextModelWithProjection, CLIPModel), else null
 */
public record ClipTextOutput(Tensor lastHiddenState, Tensor pooled, Tensor textEmbeds) implements AutoCloseable {
    /** Frees the tensors; idempotent. */
    @Override
    public void close() {
        for (Tensor t : new Tensor[] {lastHiddenState, pooled, textEmbeds}) if (t != null) t.close();
    }
}
