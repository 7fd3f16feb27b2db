package dev.surpass.model.clip;

import dev.surpass.Tensor;

/**
 * What {@link ClipVisionModel#forward} gives, each F32 on the model's device and owned by the
 * caller ({@link #close} frees all three).
 *
 * @param lastHiddenState {@code [B, G²+1, D]}: the encoder's output (class token first), no final norm
 * @param pooled          {@code [B, D]}: post_layernorm of the class token (HF's pooler_output)
 * @param imageEmbeds     {@code [B, P]}: {@code pooled · visual_projectionᵀ} when the checkpoint has it, else null
 */
public record ClipVisionOutput(Tensor lastHiddenState, Tensor pooled, Tensor imageEmbeds) implements AutoCloseable {
    /** Frees the tensors; idempotent. */
    @Override
    public void close() {
        for (Tensor t : new Tensor[] {lastHiddenState, pooled, imageEmbeds}) if (t != null) t.close();
    }
}
