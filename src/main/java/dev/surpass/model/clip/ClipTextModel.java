package dev.surpass.model.clip;

import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CLIP's text encoder in fp32, as transformers' {@code CLIPTextModel} /
 * {@code CLIPTextModelWithProjection} compute it:
 * <pre>
 * x = token_embedding[ids] + position_embedding[0..L)
 * per layer (pre-LN):
 *   x = x + out_proj(causal_attention(q_proj(ln1(x)), k_proj(·), v_proj(·)))   scale 1/√(D/heads)
 *   x = x + fc2(act(fc1(ln2(x))))                    act: quick_gelu x·σ(1.702x), gelu or gelu-tanh
 * last_hidden_state = final_layer_norm(x)                          [B, L, D]
 * pooled[b] = last_hidden_state[b, e_b]                            [B, D]
 *   e_b = argmax(ids[b]) when eos_token_id == 2 (configs saved before transformers fixed the rule),
 *         else the first position whose id is eos_token_id (0 when there is none, as torch's argmax)
 * text_embeds = pooled · text_projectionᵀ (no bias)                [B, P], when the checkpoint has it
 * </pre>
 * The attention is always causal, as CLIP's text tower is; no padding mask is taken: Stable
 * Diffusion pipelines pad every prompt to 77 tokens and attend causally, and with padding after the
 * text a causal mask already keeps the real tokens from seeing it (only the padded rows would
 * differ from a masked HF call). Head dims the fused attention supports (32, 64, 72, 80, 96, 128,
 * 256) run through it; others through an unfused GEMM + softmax + GEMM with an additive causal mask.
 *
 * <p>Loads a folder with config.json and model.safetensors (or a PyTorch {@code pytorch_model.bin}),
 * a Stable Diffusion pipeline root (its {@code text_encoder/}), or a full {@code CLIPModel}
 * checkpoint (config.json with text_config; the vision tower's tensors are not read). Tensor names
 * with or without the {@code text_model.} prefix; {@code text_projection.weight} is optional.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class ClipTextModel implements AutoCloseable {
    private final Device device;
    private final ClipTextConfig config;
    private final List<Tensor> owned = new ArrayList<>();
    private ClipEncoder encoder;
    private Tensor token, position;      // [V, D], [P, D]
    private Tensor finalW, finalB;       // final_layer_norm [D]
    private Tensor projection;           // text_projection [P, D], or null
    private volatile boolean closed;

    private ClipTextModel(Device device, ClipTextConfig config) {
        this.device = device;
        this.config = config;
    }

    /**
     * Loads a CLIP text encoder onto {@code device}: {@code dir} holds config.json and the weights,
     * or is a diffusers pipeline root whose {@code text_encoder/} does.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *                                  missing tensor or one of another shape or a non-float dtype
     */
    public static ClipTextModel load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("ClipTextModel.load: device is null");
        if (device.isClosed()) throw new IllegalArgumentException("ClipTextModel.load: device " + device.name() + " is closed");
        dir = resolve(dir);
        ClipTextConfig c = ClipTextConfig.load(dir);
        try (Checkpoint ck = Checkpoint.open(dir)) {
            ClipTextModel m = new ClipTextModel(device, c);
            try {
                m.fill(ck);
            } catch (RuntimeException | Error e) {
                m.close();
                throw e;
            }
            return device.ready(m);
        }
    }

    /** The text tower of an open checkpoint (a full CLIPModel's, {@code text_model.} names), for {@link ClipModel}. */
    static ClipTextModel fromCheckpoint(Device device, ClipTextConfig c, Checkpoint ck) {
        ClipTextModel m = new ClipTextModel(device, c);
        try {
            m.fill(ck);
        } catch (RuntimeException | Error e) {
            m.close();
            throw e;
        }
        return m;
    }

    /** The folder holding the encoder's config.json: {@code dir}, or a pipeline's {@code dir/text_encoder}. */
    static Path resolve(Path dir) {
        return Checkpoint.componentFolder("ClipTextModel.load", dir, "text_encoder", "config.json + model.safetensors, or a pipeline with text_encoder/");
    }

    private void fill(Checkpoint ck) {
        fill(ck, ck.has("text_model.embeddings.token_embedding.weight") ? "text_model." : "");
    }

    /** Reads the encoder under {@code p} ("text_model." or "") and the root's optional text_projection. */
    void fill(Checkpoint ck, String p) {
        ClipTextConfig c = config;
        int e = c.hiddenSize();
        token = up(ck, p + "embeddings.token_embedding.weight", c.vocabSize(), e);
        position = up(ck, p + "embeddings.position_embedding.weight", c.maxPositions(), e);
        encoder = new ClipEncoder(ck, device, p, e, c.intermediateSize(), c.numLayers(), c.numHeads(), c.activation(), c.layerNormEps(), owned);
        finalW = up(ck, p + "final_layer_norm.weight", e);
        finalB = up(ck, p + "final_layer_norm.bias", e);
        // CLIPTextModelWithProjection and CLIPModel keep the projection at the root, outside text_model.
        if (ck.has("text_projection.weight")) projection = up(ck, "text_projection.weight", c.projectionDim(), e);
    }

    private Tensor up(Checkpoint ck, String name, long... shape) {
        return ClipEncoder.up(ck, device, owned, name, shape);
    }

    public ClipTextConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    /** True when the checkpoint has a text_projection ({@link ClipTextOutput#textEmbeds} is then set). */
    public boolean hasProjection() {
        return projection != null;
    }

    /**
     * The encoder on {@code ids}: last hidden state, pooled end tokens and, with a projection, the
     * text embeddings.
     *
     * @param ids {@code [B][L]} token ids in {@code [0, vocab_size)}, every row the same length
     *            {@code 1 <= L <= max_position_embeddings} (pad prompts to one length, as pipelines
     *            pad to 77)
     * @throws IllegalArgumentException naming the row and column of a bad id or length
     */
    public ClipTextOutput forward(int[][] ids) {
        ensureOpen();
        int[] bl = check("forward", ids);
        int b = bl[0], l = bl[1];
        Tensor last = null, pooled = null, embeds = null;
        try {
            try (Tensor x = encode(ids, config.numLayers()); Tensor flat = LayerNorm.layerNorm(x, finalW, finalB, config.layerNormEps())) {
                last = flat.reshape(b, l, config.hiddenSize());
                pooled = Rows.gather(flat, poolRows(ids));
            }
            if (projection != null) embeds = Gemm.linear(pooled, projection, null);
            return new ClipTextOutput(last, pooled, embeds);
        } catch (RuntimeException | Error ex) {
            for (Tensor t : new Tensor[] {last, pooled, embeds}) if (t != null) t.close();
            throw ex;
        }
    }

    /**
     * What diffusers' {@code StableDiffusionPipeline} conditions on with {@code clip_skip}:
     * {@code hidden_states[-(clipSkip + 1)]} (the output of layer {@code num_hidden_layers − clipSkip},
     * the embeddings when that is 0) passed through final_layer_norm, {@code [B, L, D]} F32 on the
     * model's device, owned by the caller. {@code clipSkip} 0 is {@code last_hidden_state}.
     *
     * @throws IllegalArgumentException for bad ids (as {@link #forward}) or a clipSkip outside
     *                                  {@code [0, num_hidden_layers]}
     */
    public Tensor hiddenStates(int[][] ids, int clipSkip) {
        ensureOpen();
        if (clipSkip < 0 || clipSkip > config.numLayers()) {
            throw new IllegalArgumentException("hiddenStates: clipSkip is " + clipSkip + "; expected 0.." + config.numLayers()
                    + " (num_hidden_layers)");
        }
        int[] bl = check("hiddenStates", ids);
        try (Tensor x = encode(ids, config.numLayers() - clipSkip); Tensor flat = LayerNorm.layerNorm(x, finalW, finalB, config.layerNormEps())) {
            return flat.reshape(bl[0], bl[1], config.hiddenSize());
        }
    }

    /**
     * HF's {@code hidden_states[index]} as it is, without final_layer_norm: {@code index} 0 is the
     * embeddings, {@code i} the output of layer i (so {@code num_hidden_layers} is the last layer's,
     * before the final norm), {@code [B, L, D]} F32 on the model's device, owned by the caller. SDXL's
     * pipeline conditions on {@code hidden_states[-2]} this way (index {@code num_hidden_layers − 1},
     * less clip_skip), where SD 1.x / 2.x take {@link #hiddenStates}.
     *
     * @throws IllegalArgumentException for bad ids (as {@link #forward}) or an index outside
     *                                  {@code [0, num_hidden_layers]}
     */
    public Tensor hiddenState(int[][] ids, int index) {
        ensureOpen();
        if (index < 0 || index > config.numLayers()) {
            throw new IllegalArgumentException("hiddenState: index is " + index + "; expected 0.." + config.numLayers() + " (num_hidden_layers)");
        }
        int[] bl = check("hiddenState", ids);
        try (Tensor x = encode(ids, index)) {
            return x.reshape(bl[0], bl[1], config.hiddenSize());
        }
    }

    /** {@link #forward}'s output and {@code hidden_states[index]} of the same pass, owned together. */
    public record WithHiddenState(ClipTextOutput output, Tensor hiddenState) implements AutoCloseable {
        @Override
        public void close() {
            output.close();
            hiddenState.close();
        }
    }

    /**
     * {@link #forward} and {@link #hiddenState}{@code (ids, index)} from one pass through the layers (SDXL and SD3 condition
     * on {@code hidden_states[-2]} and the pooled {@code text_embeds} of the same prompts): the same values as the two calls.
     *
     * @throws IllegalArgumentException as those two
     */
    public WithHiddenState forwardWithHiddenState(int[][] ids, int index) {
        ensureOpen();
        if (index < 0 || index > config.numLayers()) {
            throw new IllegalArgumentException("forwardWithHiddenState: index is " + index + "; expected 0.." + config.numLayers() + " (num_hidden_layers)");
        }
        int[] bl = check("forwardWithHiddenState", ids);
        int b = bl[0], l = bl[1];
        Tensor hidden = null, last = null, pooled = null, embeds = null;
        try {
            try (Tensor h = encode(ids, index)) {
                hidden = h.reshape(b, l, config.hiddenSize());
                try (Tensor x = encoder.run(h, b, l, index, config.numLayers(), true);
                     Tensor flat = LayerNorm.layerNorm(x, finalW, finalB, config.layerNormEps())) {
                    last = flat.reshape(b, l, config.hiddenSize());
                    pooled = Rows.gather(flat, poolRows(ids));
                }
            }
            if (projection != null) embeds = Gemm.linear(pooled, projection, null);
            return new WithHiddenState(new ClipTextOutput(last, pooled, embeds), hidden);
        } catch (RuntimeException | Error ex) {
            for (Tensor t : new Tensor[] {hidden, last, pooled, embeds}) if (t != null) t.close();
            throw ex;
        }
    }

    /** Row of each sequence's pooled token in the flat {@code [B·L, D]} output (HF's rule, see the class comment). */
    int[] poolRows(int[][] ids) {
        int l = ids[0].length;
        int[] rows = new int[ids.length];
        for (int s = 0; s < ids.length; s++) {
            int at = 0;
            if (config.eosTokenId() == 2) {
                for (int t = 1; t < l; t++) if (ids[s][t] > ids[s][at]) at = t; // torch.argmax: first of the largest
            } else {
                for (int t = 0; t < l; t++) {
                    if (ids[s][t] == config.eosTokenId()) {
                        at = t;
                        break;
                    }
                }
            }
            rows[s] = s * l + at;
        }
        return rows;
    }

    /** The residual stream {@code [B·L, D]} after the first {@code count} layers (before final_layer_norm). */
    private Tensor encode(int[][] ids, int count) {
        int b = ids.length, l = ids[0].length, n = b * l;
        int[] flatIds = new int[n], pos = new int[n];
        for (int s = 0; s < b; s++) {
            for (int t = 0; t < l; t++) {
                flatIds[s * l + t] = ids[s][t];
                pos[s * l + t] = t;
            }
        }
        try (Scope s = Scope.open()) {
            Tensor x = s.track(Elementwise.add(s.track(Rows.gather(token, flatIds)), s.track(Rows.gather(position, pos))));
            return encoder.run(x, b, l, count, true);
        }
    }

    /** Checks {@code ids} is a non-empty rectangle of ids in range; returns {B, L}. */
    private int[] check(String op, int[][] ids) {
        if (ids == null || ids.length == 0) throw new IllegalArgumentException(op + ": ids is null or empty");
        int l = ids[0] == null ? 0 : ids[0].length;
        if (l == 0 || l > config.maxPositions()) {
            throw new IllegalArgumentException(op + ": ids[0] has " + l + " tokens; expected 1.." + config.maxPositions() + " (max_position_embeddings)");
        }
        for (int s = 0; s < ids.length; s++) {
            if (ids[s] == null || ids[s].length != l) {
                throw new IllegalArgumentException(op + ": ids[" + s + "] has " + (ids[s] == null ? "no" : ids[s].length) + " tokens but ids[0] has "
                        + l + "; pad every row to one length (pipelines pad to " + config.maxPositions() + ")");
            }
            for (int t = 0; t < l; t++) {
                if (ids[s][t] < 0 || ids[s][t] >= config.vocabSize()) {
                    throw new IllegalArgumentException(op + ": ids[" + s + "][" + t + "] is " + ids[s][t] + "; expected a value in [0, "
                            + config.vocabSize() + ") (vocab_size)");
                }
            }
        }
        return new int[] {ids.length, l};
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("ClipTextModel is closed");
    }

    /** Frees the weights; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Tensor t : owned) t.close();
        owned.clear();
        if (encoder != null) encoder.close();
    }
}
