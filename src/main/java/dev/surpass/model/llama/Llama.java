package dev.surpass.model.llama;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.RmsNorm;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.LayerAttention;
import dev.surpass.model.decoder.LoadedDecoder;
import dev.surpass.model.decoder.Rope;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A Llama-family decoder ({@code LlamaForCausalLM}, and {@code MistralForCausalLM} /
 * {@code Qwen2ForCausalLM} / {@code Qwen3ForCausalLM} / {@code GemmaForCausalLM} /
 * {@code Gemma2ForCausalLM} / {@code Phi3ForCausalLM} / {@code Olmo2ForCausalLM}, which differ in
 * biases, sliding windows, Qwen3's per-head q/k norms, Gemma's norms, scales, GELU and soft caps,
 * Phi-3's fused projections and OLMo 2's norms after (not before) each sublayer: {@link LlamaConfig};
 * and the mixture-of-experts {@code MixtralForCausalLM} / {@code Qwen2MoeForCausalLM} /
 * {@code Qwen3MoeForCausalLM} / {@code OlmoeForCausalLM}, whose MLP is {@link MoeMlp} on their sparse layers) in fp32:
 * <pre>
 * x = embed_tokens[ids]
 * per layer:  a = RMSNorm(x);  q, k, v = q_proj(a), k_proj(a), v_proj(a)
 *             (Qwen3: q, k = RMSNorm(q per head, q_norm), RMSNorm(k per head, k_norm));  q, k = RoPE(q, k)
 *             x = x + o_proj(attn(q, k, v))                      (GQA: Hq/Hkv q-heads share a kv-head)
 *             m = RMSNorm(x);  x = x + down_proj(silu(gate_proj(m)) · up_proj(m))
 * logits = lm_head(RMSNorm_f(x))     (lm_head = embed_tokens when tied)
 * </pre>
 * HF names ({@code model.embed_tokens}, {@code model.layers.i.*}, {@code model.norm},
 * {@code lm_head}); sharded checkpoints through {@code model.safetensors.index.json}; 16-bit weights
 * widened on load (on the CPU the projections may stay 16-bit: {@link dev.surpass.model.decoder.Checkpoint#keepSixteenBitOnCpu}). RoPE is HF's rotate-half form with the config's theta and scaling ({@link Rope}),
 * over Phi-3's first {@code rotaryDim} dims of each head when its config has a partial_rotary_factor. LongRoPE and
 * dynamic NTK choose their frequencies by the length a sequence reaches in the pass (1 + its largest position, HF's
 * {@code max(position_ids) + 1} of a forward: given per token to
 * {@link #logits(int[], int[], int[], int[], LayerAttention)}, else the whole call's), so a prompt run whole matches
 * HF's forward over it. In a cached decode each new token takes the frequencies of its own length and the rows
 * cached earlier keep theirs, as in HF's generate; for Phi-3 {@link dev.surpass.model.decoder.DecoderSession}
 * recomputes a sequence's cache on the step it first passes original_max_position_embeddings
 * ({@link #recomputeCacheAt}), as HF's {@code Phi3ForCausalLM.prepare_inputs_for_generation} does.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class Llama extends LoadedDecoder {
    private static final class Layer {
        Tensor inNorm, wq, wk, wv, wo, bq, bk, bv, bo, qNorm, kNorm, postNorm, wGate, wUp, wDown, bGate, bUp, bDown;
        Tensor preFfNorm, postFfNorm; // Gemma 2: around the MLP (postNorm then normalises the attention output)
        MoeMlp moe; // a mixture-of-experts layer's MLP (then the dense projections are null)
    }

    private final LlamaConfig config;
    private final Tensor embed, norm, head;
    private final List<Layer> layers;
    private final Rope rope;
    private final Rope localRope; // the windowed layers' (Gemma 3); else the same as rope

    private Llama(Device device, LlamaConfig c, Weights weights, Tensor embed, Tensor norm, Tensor head, List<Layer> layers, Rope rope,
                  Rope localRope) {
        super(c.modelType(), device, new Sizes(c.vocabSize(), c.nLayer(), c.nHead(), c.nKvHead(), c.headDim(), c.maxPositions()), weights);
        this.config = c;
        this.embed = embed;
        this.norm = norm;
        this.head = head;
        this.layers = layers;
        this.rope = rope;
        this.localRope = localRope;
    }

    /**
     * Loads {@code dir/config.json} and its safetensors (sharded with an index or not) onto
     * {@code device}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *     missing tensor or one of the wrong shape, or a head dim the fused attention lacks
     */
    public static Llama load(Device device, Path dir) {
        return load(device, dir, true);
    }

    /**
     * The decoder without its LM head, for {@link #hiddenStates}: also a base-model checkpoint as
     * {@code Qwen3Model} / {@code LlamaModel} / {@code MistralModel} save it (names without the
     * {@code model.} prefix — {@code embed_tokens.weight}, {@code layers.N.*}, {@code norm.weight}
     * — and no {@code lm_head}); a causal-LM checkpoint's {@code lm_head} is not read. {@link #logits}
     * of such a model throws.
     *
     * @throws IllegalArgumentException as {@link #load}
     */
    public static Llama loadBase(Device device, Path dir) {
        return load(device, dir, false);
    }

    private static Llama load(Device device, Path dir, boolean withHead) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        LlamaConfig c = LlamaConfig.load(dir);
        Decoding.checkHeadDim(dir, "head_dim", c.headDim());
        return build(dir, (ck, w) -> {
            int e = c.hidden(), qd = c.nHead() * c.headDim(), kd = c.nKvHead() * c.headDim(), f = c.intermediate();
            // the embedding is also the head when tied: 16-bit with the projections when they are
            // the decoder's tensors: "model.*", or a multimodal Gemma 3's language model (transformers 4 and 5 namings)
            String mp = "model.";
            for (String p : new String[] {"language_model.model.", "model.language_model."}) {
                if (!ck.has("model.embed_tokens.weight") && ck.has(p + "embed_tokens.weight")) mp = p;
            }
            // a base model's own checkpoint (Qwen3Model.save_pretrained): no prefix, no head
            if (!withHead && !ck.has(mp + "embed_tokens.weight") && ck.has("embed_tokens.weight")) mp = "";
            String headName = ck.has("language_model.lm_head.weight") ? "language_model.lm_head.weight" : "lm_head.weight";
            Tensor embed = w.track(ck.uploadLinear(device, mp + "embed_tokens.weight", c.vocabSize(), e));
            Tensor norm = w.track(norm(ck, device, c, mp + "norm.weight", e));
            Tensor head;
            if (!withHead) {
                head = null;
            } else if (ck.has(headName)) {
                head = w.track(ck.uploadLinear(device, headName, c.vocabSize(), e));
            } else if (c.tieEmbeddings()) {
                head = embed;
            } else {
                throw new IllegalArgumentException(dir + ": tensor 'lm_head.weight' is missing and config.json says tie_word_embeddings = false");
            }
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = mp + "layers." + i + ".";
                Layer l = new Layer();
                if (!c.isOlmo2()) l.inNorm = w.track(norm(ck, device, c, lp + "input_layernorm.weight", e)); // OLMo 2 has none
                if (ck.has(lp + "self_attn.qkv_proj.weight")) { // Phi-3: rows [q | k | v]
                    Tensor[] qkv = ck.uploadLinearSplit(device, lp + "self_attn.qkv_proj.weight", e, qd, kd, kd);
                    l.wq = w.track(qkv[0]);
                    l.wk = w.track(qkv[1]);
                    l.wv = w.track(qkv[2]);
                } else {
                    l.wq = w.track(ck.uploadLinear(device, lp + "self_attn.q_proj.weight", qd, e));
                    l.wk = w.track(ck.uploadLinear(device, lp + "self_attn.k_proj.weight", kd, e));
                    l.wv = w.track(ck.uploadLinear(device, lp + "self_attn.v_proj.weight", kd, e));
                }
                l.wo = w.track(ck.uploadLinear(device, lp + "self_attn.o_proj.weight", e, qd));
                if (c.attentionBias()) {
                    l.bq = w.track(ck.upload(device, lp + "self_attn.q_proj.bias", qd));
                    l.bk = w.track(ck.upload(device, lp + "self_attn.k_proj.bias", kd));
                    l.bv = w.track(ck.upload(device, lp + "self_attn.v_proj.bias", kd));
                }
                if (c.outputBias()) l.bo = w.track(ck.upload(device, lp + "self_attn.o_proj.bias", e));
                if (c.qkNorm()) {
                    l.qNorm = w.track(norm(ck, device, c, lp + "self_attn.q_norm.weight", c.headDim()));
                    l.kNorm = w.track(norm(ck, device, c, lp + "self_attn.k_norm.weight", c.headDim()));
                } else if (c.qkNormWhole()) { // over the whole projections
                    l.qNorm = w.track(norm(ck, device, c, lp + "self_attn.q_norm.weight", qd));
                    l.kNorm = w.track(norm(ck, device, c, lp + "self_attn.k_norm.weight", kd));
                }
                l.postNorm = w.track(norm(ck, device, c, lp + "post_attention_layernorm.weight", e));
                if (c.gemma() != null && c.gemma().sandwichNorms()) {
                    l.preFfNorm = w.track(norm(ck, device, c, lp + "pre_feedforward_layernorm.weight", e));
                    l.postFfNorm = w.track(norm(ck, device, c, lp + "post_feedforward_layernorm.weight", e));
                } else if (c.isOlmo2()) {
                    l.postFfNorm = w.track(norm(ck, device, c, lp + "post_feedforward_layernorm.weight", e));
                }
                if (c.moe() != null && c.moe().sparse(i)) {
                    l.moe = MoeMlp.load(ck, device, c, lp, w::track);
                } else if (ck.has(lp + "mlp.gate_up_proj.weight")) { // Phi-3: rows [gate | up]
                    Tensor[] gateUp = ck.uploadLinearSplit(device, lp + "mlp.gate_up_proj.weight", e, f, f);
                    l.wGate = w.track(gateUp[0]);
                    l.wUp = w.track(gateUp[1]);
                } else {
                    l.wGate = w.track(ck.uploadLinear(device, lp + "mlp.gate_proj.weight", f, e));
                    l.wUp = w.track(ck.uploadLinear(device, lp + "mlp.up_proj.weight", f, e));
                }
                if (l.moe == null) l.wDown = w.track(ck.uploadLinear(device, lp + "mlp.down_proj.weight", e, f));
                if (c.mlpBias()) {
                    l.bGate = w.track(ck.upload(device, lp + "mlp.gate_proj.bias", f));
                    l.bUp = w.track(ck.upload(device, lp + "mlp.up_proj.bias", f));
                    l.bDown = w.track(ck.upload(device, lp + "mlp.down_proj.bias", e));
                }
                layers.add(l);
            }
            // Phi-3 may rotate only the first rotaryDim dims of each head (HF's q_rot / q_pass split)
            Tensor rotation = w.track(Rope.rotation(device, c.headDim(), c.rotaryDim()));
            Rope rope = new Rope(rotation, c.ropeFrequencies(), c.headDim(), c.rotaryDim());
            // Gemma 3: the windowed layers rotate with their own frequencies
            Rope local = c.gemma() == null || c.gemma().localInvFreq() == null ? rope
                    : new Rope(rotation, c.gemma().localInvFreq(), c.headDim(), 1f);
            return new Llama(device, c, w, embed, norm, head, layers, rope, local);
        });
    }

    /** An RMSNorm weight; Gemma stores it as an offset from 1 (HF multiplies by {@code 1 + w}, in fp32). */
    private static Tensor norm(dev.surpass.model.decoder.Checkpoint ck, Device device, LlamaConfig c, String name, int size) {
        if (c.gemma() == null) return ck.upload(device, name, size);
        float[] v = ck.read(name, size);
        for (int i = 0; i < v.length; i++) v[i] = 1f + v[i];
        return device.upload(DType.F32, v, size);
    }

    public LlamaConfig config() {
        return config;
    }

    /** True when lm_head is the embedding matrix. */
    public boolean tiedHead() {
        return head == embed;
    }

    /** False for a model from {@link #loadBase}: no LM head, only {@link #hiddenStates}. */
    public boolean hasHead() {
        return head != null;
    }

    /**
     * The final hidden states (after the final norm, before the LM head; HF's
     * {@code Qwen3Model(...).last_hidden_state}) of the given sequences, packed back to back:
     * {@code [Σ len_s, hidden]} F32 on the model's device, owned by the caller. Each sequence is
     * causal on its own (varlen prefill attention) at positions {@code 0..len_s-1}.
     *
     * <p>HF's batched call with left padding ({@code attention_mask}, {@code position_ids=None})
     * puts a sequence's real tokens at positions {@code pad..pad+len-1}; RoPE makes the scores depend
     * only on position differences, so its real rows equal these up to rounding (for the length-aware
     * RoPE scalings, LongRoPE and dynamic NTK, the reach counted here is the sequence's own length).
     *
     * @param sequences {@code [B][len_s]} token ids, {@code 1 <= len_s <= maxPositions}
     * @throws IllegalArgumentException naming the sequence and token of a bad id or length
     */
    public Tensor hiddenStates(int[][] sequences) {
        if (sequences == null || sequences.length == 0) throw new IllegalArgumentException(config.modelType() + ": hiddenStates: sequences is null or empty");
        int b = sequences.length, rows = 0;
        int[] cu = new int[b + 1];
        for (int s = 0; s < b; s++) {
            int[] row = sequences[s];
            if (row == null || row.length == 0 || row.length > maxPositions()) {
                throw new IllegalArgumentException(config.modelType() + ": hiddenStates: sequences[" + s + "] has " + (row == null ? "no" : row.length)
                        + " ids; expected 1.." + maxPositions() + " (max_position_embeddings)");
            }
            for (int t = 0; t < row.length; t++) {
                if (row[t] < 0 || row[t] >= vocabSize()) {
                    throw new IllegalArgumentException(config.modelType() + ": hiddenStates: sequences[" + s + "][" + t + "] is " + row[t]
                            + "; expected a value in [0, " + vocabSize() + ")");
                }
            }
            rows += row.length;
            cu[s + 1] = rows;
        }
        int[] ids = new int[rows], positions = new int[rows], reach = new int[rows];
        for (int s = 0; s < b; s++) {
            int len = sequences[s].length;
            System.arraycopy(sequences[s], 0, ids, cu[s], len);
            for (int t = 0; t < len; t++) {
                positions[cu[s] + t] = t;
                reach[cu[s] + t] = len;
            }
        }
        LayerAttention attention = (l, q, k, v) -> dev.surpass.attention.Attention.prefillVarlen(q, k, v, cu, cu, attentionOptions(l));
        checkCall(ids, positions, null, attention);
        Decoding.checkReach(positions, reach);
        try (Tensor x = blocks(ids, positions, reach, attention)) {
            return RmsNorm.rmsNorm(x, norm, config.rmsEps());
        }
    }

    @Override
    public String describe() {
        LlamaConfig c = config;
        int[] sw = c.slidingWindows();
        long sliding = java.util.Arrays.stream(sw).filter(x -> x > 0).count();
        return c.modelType() + ": " + c.nLayer() + " layers, hidden " + c.hidden() + ", " + c.nHead() + " heads / " + c.nKvHead() + " kv-heads of "
                + c.headDim() + ", vocab " + c.vocabSize() + ", rope " + c.ropeType() + " theta " + c.ropeTheta()
                + (c.rotaryDim() < c.headDim() ? " on " + c.rotaryDim() + " dims" : "")
                + (head == null ? ", no LM head" : tiedHead() ? ", tied head" : "")
                + (c.moe() == null ? "" : ", " + c.moe().experts() + " experts, top-" + c.moe().topK()
                        + (c.moe().sharedIntermediate() > 0 ? " + shared" : ""))
                + (sliding == 0 ? "" : ", sliding window " + java.util.Arrays.stream(sw).max().getAsInt() + " on " + sliding + " layers");
    }

    @Override
    public int slidingWindow(int layer) {
        return config.slidingWindows()[layer];
    }

    /** The window as the other families; Gemma 2's score scale and attention soft cap on top. */
    @Override
    public dev.surpass.attention.AttentionOptions attentionOptions(int layer) {
        dev.surpass.attention.AttentionOptions o = super.attentionOptions(layer);
        LlamaConfig.Gemma g = config.gemma();
        if (g == null) return o;
        if (g.queryScale() > 0) o = o.scale(g.queryScale());
        if (g.attnSoftcap() > 0) o = o.softcap(g.attnSoftcap());
        return o;
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] logitRows, LayerAttention attention) {
        return logits(ids, positions, null, logitRows, attention);
    }

    /** Phi-3 with LongRoPE: HF's generate recomputes the cache when a sequence first passes the original context. */
    @Override
    public int recomputeCacheAt() {
        return config.modelType().equals("phi3") ? config.ropeFrequencies().switchLength() : 0;
    }

    @Override
    public Tensor logits(int[] ids, int[] positions, int[] reach, int[] logitRows, LayerAttention attention) {
        if (head == null) throw new IllegalStateException(config.modelType() + ": loaded without its LM head (loadBase): no logits, only hiddenStates");
        checkCall(ids, positions, logitRows, attention);
        dev.surpass.model.decoder.Decoding.checkReach(positions, reach);
        float eps = config.rmsEps();
        try (Tensor x = blocks(ids, positions, reach, attention)) {
            Tensor logits = finalLogits(x, logitRows, t -> RmsNorm.rmsNorm(t, norm, eps), head);
            LlamaConfig.Gemma gemma = config.gemma();
            if (gemma == null || gemma.finalSoftcap() <= 0) return logits;
            try (logits) {
                return Activation.softcap(logits, gemma.finalSoftcap()); // Gemma 2's final_logit_softcapping
            }
        }
    }

    /** The embedding and the blocks over checked tokens: {@code x [n, hidden]} before the final norm, owned by the caller. */
    private Tensor blocks(int[] ids, int[] positions, int[] reach, LayerAttention attention) {
        int n = ids.length;
        int hq = config.nHead(), hkv = config.nKvHead(), d = config.headDim();
        float eps = config.rmsEps();
        Tensor x = null;
        Tensor[] ropeQ = null, ropeK = null, localQ = null, localK = null;
        try {
            ropeQ = rope.tables(positions, reach, hq);
            ropeK = rope.tables(positions, reach, hkv);
            if (localRope != rope) {
                localQ = localRope.tables(positions, reach, hq);
                localK = localRope.tables(positions, reach, hkv);
            }
            Tensor rows = Rows.gather(embed, ids);
            if (rows.dtype() == DType.F32) {
                x = rows;
            } else {
                try (rows) {
                    x = rows.to(DType.F32); // a 16-bit embedding kept on the CPU: its few rows widened
                }
            }
            LlamaConfig.Gemma gemma = config.gemma();
            if (gemma != null) { // Gemma scales the embedding by √hidden (HF's normalizer, an fp32 scalar)
                Tensor scaled = Elementwise.scale(x, gemma.embedScale());
                x.close();
                x = scaled;
            }
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                try (Scope s = Scope.open()) {
                    Tensor a = l.inNorm == null ? x : s.track(RmsNorm.rmsNorm(x, l.inNorm, eps)); // OLMo 2: no norm before
                    Tensor qp = s.track(Gemm.linear(a, l.wq, l.bq)), kp = s.track(Gemm.linear(a, l.wk, l.bk));
                    if (config.qkNormWhole()) { // q and k normalised over their whole projections, before the heads are split
                        qp = s.track(RmsNorm.rmsNorm(qp, l.qNorm, eps));
                        kp = s.track(RmsNorm.rmsNorm(kp, l.kNorm, eps));
                    }
                    Tensor q0 = s.track(qp.reshape(n, hq, d));
                    Tensor k0 = s.track(kp.reshape(n, hkv, d));
                    Tensor v = s.track(s.track(Gemm.linear(a, l.wv, l.bv)).reshape(n, hkv, d));
                    if (l.qNorm != null && !config.qkNormWhole()) { // Qwen3: each head's q and k RMS-normalised before RoPE
                        q0 = s.track(RmsNorm.rmsNorm(q0, l.qNorm, eps));
                        k0 = s.track(RmsNorm.rmsNorm(k0, l.kNorm, eps));
                    }
                    boolean local = localQ != null && config.slidingWindows()[i] > 0;
                    Tensor q = s.track((local ? localRope : rope).apply(q0, local ? localQ : ropeQ));
                    Tensor k = s.track((local ? localRope : rope).apply(k0, local ? localK : ropeK));
                    Tensor o = s.track(s.track(attention.attend(i, q, k, v)).reshape(n, (long) hq * d));
                    Tensor attn = s.track(Gemm.linear(o, l.wo, l.bo));
                    boolean postNorms = l.postFfNorm != null; // Gemma 2/3 and OLMo 2: the attention and MLP outputs normalised
                    if (postNorms) attn = s.track(RmsNorm.rmsNorm(attn, l.postNorm, eps));
                    Tensor x1 = s.track(Elementwise.add(x, attn));
                    Tensor m = !postNorms ? s.track(RmsNorm.rmsNorm(x1, l.postNorm, eps))
                            : l.preFfNorm != null ? s.track(RmsNorm.rmsNorm(x1, l.preFfNorm, eps)) : x1;
                    Tensor mlp;
                    if (l.moe != null) {
                        mlp = s.track(l.moe.apply(m));
                    } else {
                        Tensor gate = s.track(Gemm.linear(m, l.wGate, l.bGate));
                        Tensor g = s.track(gemma == null ? Activation.silu(gate) : Activation.gelu(gate, gemma.mlpGelu()));
                        Tensor gu = s.track(Elementwise.mul(g, s.track(Gemm.linear(m, l.wUp, l.bUp))));
                        mlp = s.track(Gemm.linear(gu, l.wDown, l.bDown));
                    }
                    if (postNorms) mlp = s.track(RmsNorm.rmsNorm(mlp, l.postFfNorm, eps));
                    Tensor x2 = Elementwise.add(x1, mlp);
                    x.close();
                    x = x2;
                }
            }
            Tensor out = x;
            x = null;
            return out;
        } finally {
            if (x != null) x.close();
            for (Tensor[] tb : new Tensor[][] {ropeQ, ropeK, localQ, localK}) if (tb != null) for (Tensor t : tb) t.close();
        }
    }
}
