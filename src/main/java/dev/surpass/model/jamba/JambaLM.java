package dev.surpass.model.jamba;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.RmsNorm;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.llama.MoeConfig;
import dev.surpass.model.llama.MoeMlp;
import dev.surpass.model.mamba.MambaLM;
import dev.surpass.model.mamba.LogitsRules;
import dev.surpass.model.mamba.Sampling;
import dev.surpass.scan.CausalConv1d;
import dev.surpass.scan.ConvOutput;
import dev.surpass.scan.ScanOutput;
import dev.surpass.scan.SelectiveScan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * A Jamba language model (HF {@code JambaForCausalLM}) in fp32 on one device.
 * <pre>
 * h = embed_tokens[ids]
 * per layer:  h = h + Mixer(RMSNorm_in(h));  h = h + FF(RMSNorm_preff(h))
 * logits = lm_head(RMSNorm_final(h))                         (lm_head = embed_tokens when tied)
 * attention mixer: q, k, v = x·Wqᵀ, x·Wkᵀ, x·Wvᵀ (GQA, no positional encoding);
 *           softmax(q·kᵀ / √head_dim, causal)·v;  o_proj
 * Mamba mixer: x, z = in_proj(h) rows [x | z];  x = silu(causal_conv1d(x))
 *           dt, B, C = x_proj(x) rows [dt | B | C], each RMSNorm-ed over its own axis with its weight
 *           (dt_layernorm, b_layernorm, c_layernorm; eps rms_norm_eps)
 *           y = selective_scan(x, dt_proj.weight·dt, A = −exp(A_log), B, C, D, gate z,
 *               delta_bias = dt_proj.bias, softplus);  out_proj(y)
 * FF: SwiGLU down(silu(gate·x)·up·x), or the mixture: p = softmax(router·x), the top-k
 *     probabilities (not renormalised) weigh their experts' SwiGLU outputs
 * </pre>
 * The norms on dt, B and C apply in HF's slow path and in its kernel path alike.
 *
 * <p>A prompt is run one sequence at a time (the parallel scan and causal attention over its
 * tokens); decoding carries a {@link JambaState}: conv and SSM state for Mamba layers, a paged KV
 * cache for attention layers. Batched prompts of different lengths need no padding: each is
 * prefilled on its own into its row of the state (HF's left-padded batch gives the same tokens).
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads, each with its own
 * {@link JambaState}; {@link #close} must not race with a forward pass.
 */
public final class JambaLM implements AutoCloseable {
    /** One layer's weights; all are owned by the model's {@code owned} list. */
    static final class Layer {
        boolean attention, moe;
        Tensor inNorm, ffNorm;                  // [hidden]  input_layernorm, pre_ff_layernorm
        Tensor wq, wk, wv, wo;                  // attention: [H·D | Hkv·D, hidden], o_proj [hidden, H·D]
        Tensor inX, inZ;                        // Mamba: in_proj rows [0, d_inner) and [d_inner, 2·d_inner): [d_inner, hidden]
        Tensor convW, convB;                    // [d_inner, d_conv], [d_inner] or null
        Tensor xpDt, xpB, xpC;                  // x_proj rows: [dt_rank | N | N, d_inner]
        Tensor dtNorm, bNorm, cNorm;            // [dt_rank], [N], [N]
        Tensor dtW, dtB;                        // dt_proj.weight [d_inner, dt_rank], bias [d_inner]
        Tensor a, d;                            // A = −exp(A_log) [d_inner, N], D [d_inner]
        Tensor outW;                            // out_proj [hidden, d_inner]
        Tensor gate, up, down;                  // dense MLP
        MoeMlp mixture;                         // or the experts
    }

    private final Device device;
    private final JambaConfig config;
    private final Tensor embedding;  // [vocab, hidden]
    private final Tensor finalNorm;  // [hidden]
    private final Tensor lmHead;     // [vocab, hidden], the embedding when tied
    private final List<Layer> layers;
    private final List<Tensor> owned;
    private boolean closed;

    private JambaLM(Device device, JambaConfig config, Tensor embedding, Tensor finalNorm, Tensor lmHead, List<Layer> layers, List<Tensor> owned) {
        this.device = device;
        this.config = config;
        this.embedding = embedding;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        this.layers = layers;
        this.owned = owned;
    }

    public JambaConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    /** Columns of the logits: {@code vocab_size}. */
    public int logitsWidth() {
        return config.vocabSize();
    }

    /** True when lm_head is the embedding matrix. */
    public boolean tiedHead() {
        return lmHead == embedding;
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Loads {@code dir/config.json} and its safetensors (16-bit weights widened to fp32) onto
     * {@code device} in HF's key naming ({@code model.layers.i.mamba.*}, {@code .self_attn.*},
     * {@code .feed_forward.*}).
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *                                  missing tensor or one of the wrong shape
     */
    public static JambaLM load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null || !Files.isDirectory(dir)) throw new IllegalArgumentException(dir + ": not a folder with config.json and *.safetensors");
        JambaConfig c = JambaConfig.load(dir);
        List<Tensor> owned = new ArrayList<>();
        try (Checkpoint ck = Checkpoint.open(dir)) {
            int h = c.hidden(), v = c.vocabSize(), di = c.dInner(), n = c.dState(), r = c.dtRank(), w = c.dConv();
            int hd = c.headDim(), f = c.intermediate();
            Tensor emb = own(owned, ck.upload(device, "model.embed_tokens.weight", v, h));
            Tensor head;
            if (ck.has("lm_head.weight")) {
                head = own(owned, ck.uploadLinear(device, "lm_head.weight", v, h));
            } else if (c.tieEmbeddings()) {
                head = emb;
            } else {
                throw new IllegalArgumentException(dir + ": tensor 'lm_head.weight' is missing and config.json has tie_word_embeddings false");
            }
            Tensor normF = own(owned, ck.upload(device, "model.final_layernorm.weight", h));
            List<Layer> layers = new ArrayList<>();
            MoeConfig moe = new MoeConfig(Math.max(c.experts(), 1), c.topK(), f, false, 0, sparse(c));
            for (int i = 0; i < c.nLayer(); i++) {
                String lp = "model.layers." + i + ".";
                Layer l = new Layer();
                layers.add(l);
                l.attention = c.isAttention(i);
                l.moe = c.isMoe(i);
                l.inNorm = own(owned, ck.upload(device, lp + "input_layernorm.weight", h));
                l.ffNorm = own(owned, ck.upload(device, lp + "pre_ff_layernorm.weight", h));
                if (l.attention) {
                    String ap = lp + "self_attn.";
                    l.wq = own(owned, ck.uploadLinear(device, ap + "q_proj.weight", (long) c.nHeads() * hd, h));
                    l.wk = own(owned, ck.uploadLinear(device, ap + "k_proj.weight", (long) c.nKvHeads() * hd, h));
                    l.wv = own(owned, ck.uploadLinear(device, ap + "v_proj.weight", (long) c.nKvHeads() * hd, h));
                    l.wo = own(owned, ck.uploadLinear(device, ap + "o_proj.weight", h, (long) c.nHeads() * hd));
                } else {
                    String mp = lp + "mamba.";
                    // Mamba weights stay F32 (they are GEMM operands on either side): split as HF's chunk/split do
                    float[] inProj = ck.read(mp + "in_proj.weight", 2L * di, h);
                    l.inX = own(owned, device.upload(DType.F32, Arrays.copyOfRange(inProj, 0, di * h), di, h));
                    l.inZ = own(owned, device.upload(DType.F32, Arrays.copyOfRange(inProj, di * h, 2 * di * h), di, h));
                    l.convW = own(owned, device.upload(DType.F32, ck.read(mp + "conv1d.weight", di, 1, w), di, w));
                    if (c.convBias()) l.convB = own(owned, ck.upload(device, mp + "conv1d.bias", di));
                    float[] xp = ck.read(mp + "x_proj.weight", (long) r + 2L * n, di);
                    l.xpDt = own(owned, device.upload(DType.F32, Arrays.copyOfRange(xp, 0, r * di), r, di));
                    l.xpB = own(owned, device.upload(DType.F32, Arrays.copyOfRange(xp, r * di, (r + n) * di), n, di));
                    l.xpC = own(owned, device.upload(DType.F32, Arrays.copyOfRange(xp, (r + n) * di, (r + 2 * n) * di), n, di));
                    l.dtNorm = own(owned, ck.upload(device, mp + "dt_layernorm.weight", r));
                    l.bNorm = own(owned, ck.upload(device, mp + "b_layernorm.weight", n));
                    l.cNorm = own(owned, ck.upload(device, mp + "c_layernorm.weight", n));
                    l.dtW = own(owned, ck.upload(device, mp + "dt_proj.weight", di, r));
                    l.dtB = own(owned, ck.upload(device, mp + "dt_proj.bias", di));
                    float[] aLog = ck.read(mp + "A_log", di, n);
                    float[] a = new float[aLog.length];
                    for (int k = 0; k < a.length; k++) a[k] = (float) -Math.exp(aLog[k]);
                    l.a = own(owned, device.upload(DType.F32, a, di, n));
                    l.d = own(owned, ck.upload(device, mp + "D", di));
                    l.outW = own(owned, ck.upload(device, mp + "out_proj.weight", h, di));
                }
                String fp = lp + "feed_forward.";
                if (l.moe) {
                    int ne = c.experts();
                    Tensor router = own(owned, ck.upload(device, fp + "router.weight", ne, h));
                    Tensor[] g = new Tensor[ne], u = new Tensor[ne], dn = new Tensor[ne];
                    for (int j = 0; j < ne; j++) {
                        String ep = fp + "experts." + j + ".";
                        g[j] = own(owned, ck.uploadLinear(device, ep + "gate_proj.weight", f, h));
                        u[j] = own(owned, ck.uploadLinear(device, ep + "up_proj.weight", f, h));
                        dn[j] = own(owned, ck.uploadLinear(device, ep + "down_proj.weight", h, f));
                    }
                    l.mixture = MoeMlp.of(moe, router, g, u, dn);
                } else {
                    l.gate = own(owned, ck.uploadLinear(device, fp + "gate_proj.weight", f, h));
                    l.up = own(owned, ck.uploadLinear(device, fp + "up_proj.weight", f, h));
                    l.down = own(owned, ck.uploadLinear(device, fp + "down_proj.weight", h, f));
                }
            }
            return device.ready(new JambaLM(device, c, emb, normF, head, layers, owned));
        } catch (RuntimeException | Error e) {
            for (Tensor t : owned) t.close();
            throw e;
        }
    }

    private static Tensor own(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }

    private static boolean[] sparse(JambaConfig c) {
        boolean[] s = new boolean[c.nLayer()];
        for (int i = 0; i < s.length; i++) s[i] = c.isMoe(i);
        return s;
    }

    // ---------------------------------------------------------------------------------------------
    // Forward

    /** A fresh decode state for {@code batch} sequences of up to {@code capacity} tokens each. */
    public JambaState newState(int batch, int capacity) {
        ensureOpen();
        return new JambaState(this, batch, capacity);
    }

    /** Logits {@code [B, L, vocab]} F32 for equal-length sequences {@code inputIds[B][L]}. */
    public Tensor forward(int[][] inputIds) {
        ensureOpen();
        if (inputIds == null || inputIds.length == 0) throw new IllegalArgumentException("forward: inputIds is null or empty");
        int len = inputIds[0] == null ? 0 : inputIds[0].length;
        for (int b = 0; b < inputIds.length; b++) {
            if (inputIds[b] == null || inputIds[b].length == 0 || inputIds[b].length != len) {
                throw new IllegalArgumentException("forward: inputIds[" + b + "] has " + (inputIds[b] == null ? "no" : inputIds[b].length)
                        + " tokens; expected " + len + " (all rows equal, >= 1)");
            }
            checkIds("forward", inputIds[b], "inputIds[" + b + "]");
        }
        int batch = inputIds.length, v = logitsWidth();
        Tensor out = device.allocate(DType.F32, batch, len, v);
        try {
            for (int b = 0; b < batch; b++) {
                try (Tensor lg = prefill(null, b, inputIds[b])) {
                    MambaLM.copyInto(lg, out, (long) b * len * v);
                }
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /**
     * Runs sequence {@code ids} (checked) from an empty state and returns its logits {@code [L, vocab]};
     * with a state, its row {@code b} receives the final conv/SSM states and the K/V of every token.
     */
    Tensor prefill(JambaState st, int b, int[] ids) {
        int len = ids.length;
        Tensor hs = embed(ids); // [L, hidden]
        try {
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                int li = i;
                hs = block(l, hs, x -> l.attention ? attentionPrefill(li, l, x, st, b) : mambaPrefill(li, l, x, len, st, b));
            }
            try (Tensor normed = RmsNorm.rmsNorm(hs, finalNorm, config.rmsEps())) {
                return Gemm.linear(normed, lmHead, null);
            }
        } finally {
            hs.close();
        }
    }

    /** One decode step: logits {@code [B, vocab]} for {@code tokens[B]} (checked), advancing {@code st}. */
    Tensor step(JambaState st, int[] tokens) {
        Tensor hs = embed(tokens); // [B, hidden]
        try {
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                int li = i;
                hs = block(l, hs, x -> l.attention ? attentionStep(li, l, x, st) : mambaStep(li, l, x, st));
            }
            try (Tensor normed = RmsNorm.rmsNorm(hs, finalNorm, config.rmsEps())) {
                return Gemm.linear(normed, lmHead, null);
            }
        } finally {
            hs.close();
        }
    }

    /** {@code hs + mixer(norm_in(hs))}, then {@code + FF(norm_preff(·))}; consumes {@code hs}. */
    private Tensor block(Layer l, Tensor hs, java.util.function.UnaryOperator<Tensor> mixer) {
        try (Scope s = Scope.open()) {
            s.track(hs);
            Tensor x = s.track(RmsNorm.rmsNorm(hs, l.inNorm, config.rmsEps()));
            Tensor m = s.track(mixer.apply(x));
            RmsNorm.Added a = s.track(RmsNorm.addRmsNorm(m, hs, l.ffNorm, config.rmsEps()));
            Tensor ff = s.track(l.moe ? l.mixture.apply(a.normed()) : MoeMlp.swiglu(a.normed(), l.gate, l.up, l.down));
            return Elementwise.add(a.sum(), ff);
        }
    }

    /** Causal GQA attention over one sequence's {@code x [L, hidden]}; its K/V go to the state's cache. */
    private Tensor attentionPrefill(int i, Layer l, Tensor x, JambaState st, int b) {
        int len = (int) x.dim(0), hd = config.headDim();
        try (Scope s = Scope.open()) {
            Tensor q = s.track(s.track(Gemm.linear(x, l.wq, null)).reshape(len, config.nHeads(), hd));
            Tensor k = s.track(s.track(Gemm.linear(x, l.wk, null)).reshape(len, config.nKvHeads(), hd));
            Tensor v = s.track(s.track(Gemm.linear(x, l.wv, null)).reshape(len, config.nKvHeads(), hd));
            if (st != null) st.cache(i).appendPrompt(st.seqId(i, b), k, v);
            int[] cu = {0, len};
            Tensor o = s.track(Attention.prefillVarlen(q, k, v, cu, cu, AttentionOptions.causal()));
            return Gemm.linear(s.track(o.reshape(len, (long) config.nHeads() * hd)), l.wo, null);
        }
    }

    /** One token per sequence, {@code x [B, hidden]}: its K/V appended, then attention over the cache. */
    private Tensor attentionStep(int i, Layer l, Tensor x, JambaState st) {
        int batch = (int) x.dim(0), hd = config.headDim();
        try (Scope s = Scope.open()) {
            Tensor q = s.track(s.track(Gemm.linear(x, l.wq, null)).reshape(batch, config.nHeads(), hd));
            Tensor k = s.track(s.track(Gemm.linear(x, l.wk, null)).reshape(batch, config.nKvHeads(), hd));
            Tensor v = s.track(s.track(Gemm.linear(x, l.wv, null)).reshape(batch, config.nKvHeads(), hd));
            int[] ids = st.seqIds(i);
            st.cache(i).append(ids, k, v);
            Tensor o = s.track(Attention.decode(q, st.cache(i), ids, AttentionOptions.defaults()));
            return Gemm.linear(s.track(o.reshape(batch, (long) config.nHeads() * hd)), l.wo, null);
        }
    }

    /**
     * The Mamba mixer over one sequence's {@code x [L, hidden]}, channel-major for the conv and
     * scan; dt, B and C go token-major for their norms. From zero states; with a state, row
     * {@code b} receives the final conv and SSM states.
     */
    private Tensor mambaPrefill(int i, Layer l, Tensor x, int len, JambaState st, int b) {
        int di = config.dInner(), n = config.dState(), w1 = config.dConv() - 1;
        try (Scope s = Scope.open()) {
            Tensor x3 = s.track(s.track(Gemm.linear(l.inX, x, null)).reshape(1, di, len));     // [1, d_inner, L]
            Tensor z3 = s.track(s.track(Gemm.linear(l.inZ, x, null)).reshape(1, di, len));     // [1, d_inner, L]
            ConvOutput conv = s.track(CausalConv1d.causalConv1d(x3, l.convW, l.convB, true, null));
            Tensor xc = s.track(conv.out().reshape(di, len));                                  // [d_inner, L]
            Tensor dtTok = s.track(normTokenMajor(s, s.track(Gemm.matmul(l.xpDt, xc)), l.dtNorm)); // [L, dt_rank]
            Tensor bTok = s.track(normTokenMajor(s, s.track(Gemm.matmul(l.xpB, xc)), l.bNorm));    // [L, N]
            Tensor cTok = s.track(normTokenMajor(s, s.track(Gemm.matmul(l.xpC, xc)), l.cNorm));    // [L, N]
            Tensor delta = s.track(s.track(Gemm.linear(l.dtW, dtTok, null)).reshape(1, di, len)); // [1, d_inner, L]
            Tensor b3 = s.track(s.track(MambaLM.transpose(bTok)).reshape(1, n, len));
            Tensor c3 = s.track(s.track(MambaLM.transpose(cTok)).reshape(1, n, len));
            ScanOutput so = s.track(SelectiveScan.selectiveScan(conv.out(), delta, l.a, b3, c3, l.d, z3, l.dtB, true, null));
            Tensor yTok = s.track(MambaLM.transpose(s.track(so.y().reshape(di, len))));          // [L, d_inner]
            if (st != null) {
                MambaLM.copyInto(conv.finalState(), st.conv(i), (long) b * di * w1);
                MambaLM.copyInto(so.lastState(), st.ssm(i), (long) b * di * n);
            }
            return Gemm.linear(yTok, l.outW, null);
        }
    }

    /** {@code [width, L]} channel-major → RMSNorm(·) per token with {@code weight}: {@code [L, width]}. */
    private Tensor normTokenMajor(Scope s, Tensor channelMajor, Tensor weight) {
        return RmsNorm.rmsNorm(s.track(MambaLM.transpose(channelMajor)), weight, config.rmsEps());
    }

    /** The Mamba mixer for one token per sequence, {@code x [B, hidden]}, advancing the layer's states. */
    private Tensor mambaStep(int i, Layer l, Tensor x, JambaState st) {
        float eps = config.rmsEps();
        try (Scope s = Scope.open()) {
            Tensor xs = s.track(Gemm.linear(x, l.inX, null));                                   // [B, d_inner]
            Tensor z = s.track(Gemm.linear(x, l.inZ, null));                                    // [B, d_inner]
            Tensor xc = s.track(CausalConv1d.update(st.conv(i), xs, l.convW, l.convB, true));
            Tensor dtLow = s.track(RmsNorm.rmsNorm(s.track(Gemm.linear(xc, l.xpDt, null)), l.dtNorm, eps)); // [B, dt_rank]
            Tensor bm = s.track(RmsNorm.rmsNorm(s.track(Gemm.linear(xc, l.xpB, null)), l.bNorm, eps));      // [B, N]
            Tensor cm = s.track(RmsNorm.rmsNorm(s.track(Gemm.linear(xc, l.xpC, null)), l.cNorm, eps));      // [B, N]
            Tensor dt = s.track(Gemm.linear(dtLow, l.dtW, null));                               // [B, d_inner]
            Tensor y = s.track(SelectiveScan.selectiveStateUpdate(st.ssm(i), xc, dt, l.a, bm, cm, l.d, z, l.dtB, true));
            return Gemm.linear(y, l.outW, null);
        }
    }

    /** Rows of the embedding for the (checked) ids. */
    private Tensor embed(int[] ids) {
        try (Tensor idt = device.upload(ids, ids.length)) {
            return Gather.rows(embedding, idt);
        }
    }

    void checkIds(String op, int[] ids, String where) {
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= config.vocabSize()) {
                throw new IllegalArgumentException(op + ": token id " + ids[t] + " at " + where + "[" + t + "] is outside [0, " + config.vocabSize() + ")");
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Generation

    /** Receives each generated token as soon as it is picked. */
    @FunctionalInterface
    public interface TokenSink {
        void accept(int sequence, int token);
    }

    /**
     * Batched generation for prompts of any lengths: each prompt is prefilled on its own into its
     * row of one {@link JambaState}, then every decode step advances all sequences together. A
     * sequence stops after {@code maxNewTokens} tokens or after emitting one of {@code stopIds}
     * (returned and streamed); finished rows keep stepping with their last token, output ignored.
     * Sequence {@code b} samples from its own stream ({@link Sampling#newRandom(int)}).
     *
     * @return the new tokens of each sequence
     */
    public int[][] generate(int[][] prompts, int maxNewTokens, Sampling sampling, int[] stopIds, TokenSink onToken) {
        return generate(prompts, maxNewTokens, sampling, LogitsRules.NONE, stopIds, onToken);
    }

    /** {@link #generate(int[][], int, Sampling, int[], TokenSink)} with HF's sequence-aware logits processors ({@link LogitsRules}) before each pick. */
    public int[][] generate(int[][] prompts, int maxNewTokens, Sampling sampling, LogitsRules rules, int[] stopIds, TokenSink onToken) {
        ensureOpen();
        if (rules == null) throw new IllegalArgumentException("generate: rules is null (LogitsRules.NONE for none)");
        if (prompts == null || prompts.length == 0) throw new IllegalArgumentException("generate: prompts is null or empty");
        int maxLen = 0;
        for (int b = 0; b < prompts.length; b++) {
            if (prompts[b] == null || prompts[b].length == 0) throw new IllegalArgumentException("generate: prompts[" + b + "] is null or empty");
            checkIds("generate", prompts[b], "prompts[" + b + "]");
            maxLen = Math.max(maxLen, prompts[b].length);
        }
        if (maxNewTokens < 0) throw new IllegalArgumentException("generate: maxNewTokens is " + maxNewTokens);
        if (sampling == null) throw new IllegalArgumentException("generate: sampling is null");
        if ((long) maxLen + maxNewTokens > config.maxPositions()) {
            throw new IllegalArgumentException("generate: the longest prompt (" + maxLen + ") + maxNewTokens (" + maxNewTokens + ") exceeds"
                    + " max_position_embeddings " + config.maxPositions() + " (the KV cache is sized for it)");
        }
        int batch = prompts.length, v = config.vocabSize();
        int[][] out = new int[batch][];
        if (maxNewTokens == 0) {
            for (int b = 0; b < batch; b++) out[b] = new int[0];
            return out;
        }
        Set<Integer> stops = new HashSet<>();
        if (stopIds != null) for (int id : stopIds) stops.add(id);
        int[][] buf = new int[batch][Math.min(maxNewTokens, 64)]; // grown as tokens come
        int[] count = new int[batch];
        boolean[] done = new boolean[batch];
        Random[] rng = new Random[batch];
        for (int b = 0; b < batch; b++) rng[b] = sampling.newRandom(b);
        float[] last = new float[batch * v];
        int[] stopList = stopIds == null ? new int[0] : stopIds;
        try (JambaState st = newState(batch, maxLen + maxNewTokens)) {
            for (int b = 0; b < batch; b++) {
                int len = prompts[b].length;
                try (Tensor lg = prefill(st, b, prompts[b]); Tensor row = MambaLM.slice(lg, (long) (len - 1) * v, v)) {
                    System.arraycopy(row.toFloatArray(), 0, last, b * v, v);
                }
            }
            int[] tok = new int[batch];
            for (int i = 0; i < maxNewTokens; i++) {
                int live = 0;
                for (int b = 0; b < batch; b++) {
                    if (done[b]) continue;
                    rules.apply(last, b * v, v, prompts[b], buf[b], count[b], stopList);
                    tok[b] = sampling.pick(last, b * v, v, rng[b]);
                    if (count[b] == buf[b].length) buf[b] = Arrays.copyOf(buf[b], (int) Math.min(maxNewTokens, 2L * buf[b].length));
                    buf[b][count[b]++] = tok[b];
                    if (onToken != null) onToken.accept(b, tok[b]);
                    if (stops.contains(tok[b]) || count[b] == maxNewTokens) done[b] = true;
                    else live++;
                }
                if (live == 0) break;
                try (Tensor lg = step(st, tok)) {
                    last = lg.toFloatArray();
                }
            }
        }
        for (int b = 0; b < batch; b++) out[b] = Arrays.copyOf(buf[b], count[b]);
        return out;
    }

    /** Every weight tensor (for tests: leak checks). */
    List<Tensor> weightTensors() {
        return List.copyOf(owned);
    }

    List<Layer> layers() {
        return layers;
    }

    void ensureOpen() {
        if (closed) throw new IllegalStateException("JambaLM is closed");
    }

    /** Frees the weights; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Tensor t : owned) t.close();
    }
}
