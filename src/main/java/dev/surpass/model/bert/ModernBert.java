package dev.surpass.model.bert;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.LayerNorm;
import dev.surpass.layers.LinearWeight;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.decoder.Rope;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A ModernBERT encoder ({@code transformers.ModernBertModel}, model_type "modernbert":
 * answerdotai/ModernBERT-base/large and embedders built on it) in fp32, as HF's eager attention
 * path computes it:
 * <pre>
 * x = LayerNorm(tok[ids])                                            (embeddings.norm)
 * per layer i (pre-LN):
 *   h = i == 0 ? x : LayerNorm(x)                                     (attn_norm: Identity on layer 0)
 *   q, k, v = rows of h·Wqkvᵀ (+ b)   [3·hidden] split in q | k | v, then heads of head_dim
 *   q, k = rotate-half RoPE at the token's index in its row, θ = the layer type's rope_theta
 *   scores = q·kᵀ / √D + mask;  a = softmax(scores)·v;  x = x + a·Woᵀ (+ b)
 *   m = LayerNorm(x);  u | g = m·Wiᵀ (+ b)  [2·intermediate];  x = x + (act(u) ⊙ g)·Woᵀ (+ b)
 * last_hidden_state = LayerNorm(x)                                    (final_norm)
 * </pre>
 * Layer i is local when {@code i % global_attn_every_n_layers != 0}: its mask also takes the
 * float32 minimum where {@code |i − j| > local_attention / 2} (HF's sliding window mask). The
 * rope theta of a layer comes from its {@code layer_types} entry ("full_attention" /
 * "sliding_attention", derived from {@code global_attn_every_n_layers} when absent): transformers
 * 5's {@code rope_parameters[type].rope_theta}, else the older {@code global_rope_theta} (160000) /
 * {@code local_rope_theta} (10000). Padding keys get the float32 minimum added, as HF's additive
 * mask, so a query whose keys are all masked averages every key of its row as HF does. LayerNorms
 * have a bias only when {@code norm_bias}, the linears only when {@code attention_bias} /
 * {@code mlp_bias}. Weights are read with or without the {@code model.} prefix; the MLM head
 * ({@code head.*}, {@code decoder.*}) is not read.
 *
 * <p>Attention: without padding (packed sequences, or a batch whose mask is all 1) the fused varlen
 * kernel, local layers with the window {@code (half, half)}, when the head dim is one it takes (32,
 * 64, 72, 80, 96, 128, 256); with padding, or another head dim, the unfused {@link MaskedAttention}
 * (batched matmul, additive mask, softmax, matmul per sequence: {@code heads·L²} floats of scores
 * per layer), so padded rows come out as HF computes them.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class ModernBert implements SentenceEncoder {
    /** The fields of a ModernBERT config.json this encoder uses. */
    public record Config(int hiddenSize, int numLayers, int numHeads, int intermediateSize, int vocabSize, int maxPositions, float normEps,
                         boolean normBias, boolean attentionBias, boolean mlpBias, int localAttention, int globalEvery,
                         double globalTheta, double localTheta, boolean[] localRope, String activation) {
        public int headDim() {
            return hiddenSize / numHeads;
        }

        /** Whether layer {@code i} attends within the window (HF: {@code layer_id % global_attn_every_n_layers != 0}). */
        public boolean local(int i) {
            return i % globalEvery != 0;
        }

        public static Config load(Path dir) {
            return parse(ConfigJson.load(dir, "ModernBERT"));
        }

        public static Config parse(ConfigJson c) {
            int hidden = c.positive("hidden_size");
            int layers = c.positive("num_hidden_layers");
            int heads = c.positive("num_attention_heads");
            int inter = c.positive("intermediate_size");
            int vocab = c.positive("vocab_size");
            int maxPos = c.optPositive("max_position_embeddings", 8192);
            double eps = c.optPositiveNumber("norm_eps", 1e-5);
            int local = c.optPositive("local_attention", 128);
            int every = c.optPositive("global_attn_every_n_layers", 3);
            String act = c.text("hidden_activation", "gelu");
            if (!act.equals("gelu") && !act.equals("gelu_pytorch_tanh") && !act.equals("gelu_new") && !act.equals("silu")) {
                throw new IllegalArgumentException(c.where() + ": field \"hidden_activation\" is \"" + act
                        + "\"; supported: \"gelu\" (exact erf), \"gelu_pytorch_tanh\", \"gelu_new\", \"silu\"");
            }
            if (hidden % heads != 0 || (hidden / heads) % 2 != 0) {
                throw new IllegalArgumentException(c.where() + ": hidden_size " + hidden + " / num_attention_heads " + heads
                        + " must be a whole, even head dim (rotary embedding)");
            }
            if (c.has("rope_scaling")) {
                throw new IllegalArgumentException(c.where() + ": field \"rope_scaling\" is " + c.node().get("rope_scaling")
                        + "; only the default rotary embedding is supported");
            }
            boolean[] localRope = new boolean[layers];
            JsonNode types = c.node().path("layer_types");
            if (types.isArray()) {
                if (types.size() != layers) {
                    throw new IllegalArgumentException(c.where() + ": field \"layer_types\" has " + types.size() + " entries; num_hidden_layers is " + layers);
                }
                for (int i = 0; i < layers; i++) {
                    String t = types.get(i).asText("");
                    if (!t.equals("full_attention") && !t.equals("sliding_attention")) {
                        throw new IllegalArgumentException(c.where() + ": field \"layer_types\"[" + i + "] is " + types.get(i)
                                + "; expected \"full_attention\" or \"sliding_attention\"");
                    }
                    localRope[i] = t.equals("sliding_attention");
                }
            } else if (!types.isMissingNode() && !types.isNull()) {
                throw new IllegalArgumentException(c.where() + ": field \"layer_types\" is " + types + "; expected a list");
            } else {
                for (int i = 0; i < layers; i++) localRope[i] = i % every != 0;
            }
            double global = theta(c, "full_attention", "global_rope_theta", 160_000.0);
            double localTheta = theta(c, "sliding_attention", "local_rope_theta", 10_000.0);
            return new Config(hidden, layers, heads, inter, vocab, maxPos, (float) eps, c.bool("norm_bias", false), c.bool("attention_bias", false),
                    c.bool("mlp_bias", false), local, every, global, localTheta, localRope, act);
        }

        /** {@code rope_parameters[type].rope_theta} (transformers 5), else the old flat field, else HF's default. */
        private static double theta(ConfigJson c, String type, String oldField, double dflt) {
            JsonNode rp = c.node().path("rope_parameters");
            if (!rp.isMissingNode() && !rp.isNull()) {
                if (!rp.isObject() || rp.has("rope_theta")) {
                    throw new IllegalArgumentException(c.where() + ": field \"rope_parameters\" is " + rp
                            + "; expected one entry per layer type (\"full_attention\", \"sliding_attention\")");
                }
                JsonNode p = rp.path(type);
                if (p.isObject()) {
                    String kind = p.path("rope_type").asText("default");
                    if (!kind.equals("default")) {
                        throw new IllegalArgumentException(c.where() + ": field \"rope_parameters\"." + type + ".rope_type is \"" + kind
                                + "\"; only \"default\" is supported");
                    }
                    if (p.has("rope_theta")) return c.positiveNumber(p, "rope_theta", "rope_parameters." + type + ".rope_theta");
                }
            }
            return c.optPositiveNumber(oldField, dflt);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Config x && x.hiddenSize == hiddenSize && x.numLayers == numLayers && x.numHeads == numHeads
                    && x.intermediateSize == intermediateSize && x.vocabSize == vocabSize && x.maxPositions == maxPositions && x.normEps == normEps
                    && x.normBias == normBias && x.attentionBias == attentionBias && x.mlpBias == mlpBias && x.localAttention == localAttention
                    && x.globalEvery == globalEvery && x.globalTheta == globalTheta && x.localTheta == localTheta
                    && Arrays.equals(x.localRope, localRope) && x.activation.equals(activation);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(localRope) * 31 + hiddenSize;
        }

        @Override
        public String toString() {
            return "ModernBert.Config[hidden " + hiddenSize + ", layers " + numLayers + ", heads " + numHeads + ", intermediate " + intermediateSize
                    + ", local_attention " + localAttention + ", global every " + globalEvery + ", theta " + globalTheta + "/" + localTheta + "]";
        }
    }

    /** True when {@code dir/config.json} names a ModernBERT encoder (model_type, or architectures when it has none). */
    public static boolean looksLikeModernBert(Path dir) {
        JsonNode n = ConfigJson.peek(dir);
        if (n == null) return false;
        String t = n.path("model_type").asText("");
        if (!t.isEmpty()) return t.equals("modernbert");
        for (JsonNode a : n.path("architectures")) if (a.asText("").startsWith("ModernBert")) return true;
        return false;
    }

    private static final class Layer {
        Tensor attnW, attnB, wq, wk, wv, bq, bk, bv, wo, bo, mlpW, mlpB, wIn, wGate, bIn, bGate, w2, b2;
        LinearWeight pq, pk, pv, po, pIn, pGate, p2;

        Tensor[] all() {
            return new Tensor[] {attnW, attnB, wq, wk, wv, bq, bk, bv, wo, bo, mlpW, mlpB, wIn, wGate, bIn, bGate, w2, b2};
        }
    }

    /** Head dims the fused attention kernel takes. */
    private static final java.util.Set<Integer> FUSED_HEAD_DIMS = java.util.Set.of(32, 64, 72, 80, 96, 128, 256);

    private final Device device;
    private final Config config;
    private final Tensor tok, embW, embB, finalW, finalB, rotate;
    private final List<Layer> layers;
    private final Rope globalRope, localRope;
    private boolean closed;

    private ModernBert(Device device, Config config, Tensor tok, Tensor embW, Tensor embB, Tensor finalW, Tensor finalB, Tensor rotate,
                       List<Layer> layers) {
        this.device = device;
        this.config = config;
        this.tok = tok;
        this.embW = embW;
        this.embB = embB;
        this.finalW = finalW;
        this.finalB = finalB;
        this.rotate = rotate;
        this.layers = layers;
        int d = config.headDim();
        this.globalRope = new Rope(rotate, Rope.widen(Rope.defaultInvFreq(config.globalTheta(), d)), d, 1f);
        this.localRope = new Rope(rotate, Rope.widen(Rope.defaultInvFreq(config.localTheta(), d)), d, 1f);
    }

    /**
     * Loads {@code dir/config.json} and its safetensors onto {@code device}; tensor names with or
     * without the {@code model.} prefix ({@code ModernBertForMaskedLM} / {@code ModernBertModel}).
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *     missing tensor or one of the wrong shape
     */
    public static ModernBert load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        Config c = Config.load(dir);
        List<Tensor> owned = new ArrayList<>();
        try (Checkpoint ck = Checkpoint.open(dir)) {
            String p = ck.has("model.embeddings.tok_embeddings.weight") ? "model." : "";
            int e = c.hiddenSize(), f = c.intermediateSize();
            Tensor tok = up(owned, device, ck.read(p + "embeddings.tok_embeddings.weight", c.vocabSize(), e), c.vocabSize(), e);
            Tensor embW = up(owned, device, ck.read(p + "embeddings.norm.weight", e), e);
            Tensor embB = c.normBias() ? up(owned, device, ck.read(p + "embeddings.norm.bias", e), e) : null;
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.numLayers(); i++) {
                String lp = p + "layers." + i + ".";
                Layer l = new Layer();
                if (i > 0) {
                    l.attnW = up(owned, device, ck.read(lp + "attn_norm.weight", e), e);
                    if (c.normBias()) l.attnB = up(owned, device, ck.read(lp + "attn_norm.bias", e), e);
                }
                float[] qkv = ck.read(lp + "attn.Wqkv.weight", 3L * e, e);
                l.wq = up(owned, device, Arrays.copyOfRange(qkv, 0, e * e), e, e);
                l.wk = up(owned, device, Arrays.copyOfRange(qkv, e * e, 2 * e * e), e, e);
                l.wv = up(owned, device, Arrays.copyOfRange(qkv, 2 * e * e, 3 * e * e), e, e);
                l.wo = up(owned, device, ck.read(lp + "attn.Wo.weight", e, e), e, e);
                if (c.attentionBias()) {
                    float[] b = ck.read(lp + "attn.Wqkv.bias", 3L * e);
                    l.bq = up(owned, device, Arrays.copyOfRange(b, 0, e), e);
                    l.bk = up(owned, device, Arrays.copyOfRange(b, e, 2 * e), e);
                    l.bv = up(owned, device, Arrays.copyOfRange(b, 2 * e, 3 * e), e);
                    l.bo = up(owned, device, ck.read(lp + "attn.Wo.bias", e), e);
                }
                l.mlpW = up(owned, device, ck.read(lp + "mlp_norm.weight", e), e);
                if (c.normBias()) l.mlpB = up(owned, device, ck.read(lp + "mlp_norm.bias", e), e);
                float[] wi = ck.read(lp + "mlp.Wi.weight", 2L * f, e);
                l.wIn = up(owned, device, Arrays.copyOfRange(wi, 0, f * e), f, e);
                l.wGate = up(owned, device, Arrays.copyOfRange(wi, f * e, 2 * f * e), f, e);
                l.w2 = up(owned, device, ck.read(lp + "mlp.Wo.weight", e, f), e, f);
                if (c.mlpBias()) {
                    float[] b = ck.read(lp + "mlp.Wi.bias", 2L * f);
                    l.bIn = up(owned, device, Arrays.copyOfRange(b, 0, f), f);
                    l.bGate = up(owned, device, Arrays.copyOfRange(b, f, 2 * f), f);
                    l.b2 = up(owned, device, ck.read(lp + "mlp.Wo.bias", e), e);
                }
                l.pq = LinearWeight.of(l.wq);
                l.pk = LinearWeight.of(l.wk);
                l.pv = LinearWeight.of(l.wv);
                l.po = LinearWeight.of(l.wo);
                l.pIn = LinearWeight.of(l.wIn);
                l.pGate = LinearWeight.of(l.wGate);
                l.p2 = LinearWeight.of(l.w2);
                layers.add(l);
            }
            Tensor finalW = up(owned, device, ck.read(p + "final_norm.weight", e), e);
            Tensor finalB = c.normBias() ? up(owned, device, ck.read(p + "final_norm.bias", e), e) : null;
            Tensor rot = Rope.rotation(device, c.headDim());
            owned.add(rot);
            return device.ready(new ModernBert(device, c, tok, embW, embB, finalW, finalB, rot, layers));
        } catch (RuntimeException | Error ex) {
            for (Tensor t : owned) t.close();
            throw ex;
        }
    }

    private static Tensor up(List<Tensor> owned, Device device, float[] v, long... shape) {
        Tensor t = device.upload(DType.F32, v, shape);
        owned.add(t);
        return t;
    }

    public Config config() {
        return config;
    }

    public Device device() {
        return device;
    }

    @Override
    public int hiddenSize() {
        return config.hiddenSize();
    }

    @Override
    public int maxTokens() {
        return config.maxPositions();
    }

    @Override
    public String describe() {
        return "ModernBERT, " + config.numLayers() + " layers, hidden " + config.hiddenSize() + ", local window " + config.localAttention();
    }

    /**
     * {@code last_hidden_state [B, N, hidden]} F32 on the model's device, owned by the caller; token
     * t of a row at position t, padded rows computed as HF computes them.
     *
     * @param inputIds      {@code [B][N]} token ids, every row the same length {@code 1 <= N <= max_position_embeddings}
     * @param attentionMask {@code [B][N]} of 0/1 (1: a real token), or null for all 1
     * @throws IllegalArgumentException naming the argument, row and column of a bad value or shape
     */
    public Tensor forward(int[][] inputIds, int[][] attentionMask) {
        ensureOpen();
        int[] dims = BertModel.checkGrid("inputIds", inputIds, null, 0, config.vocabSize());
        int b = dims[0], n = dims[1];
        if (n > config.maxPositions()) {
            throw new IllegalArgumentException("forward: inputIds has " + n + " columns; at most " + config.maxPositions() + " (max_position_embeddings)");
        }
        if (attentionMask != null) BertModel.checkGrid("attentionMask", attentionMask, dims, 0, 2);
        int[] ids = new int[b * n], pos = new int[b * n], cu = new int[b + 1];
        for (int s = 0; s < b; s++) {
            for (int t = 0; t < n; t++) {
                ids[s * n + t] = inputIds[s][t];
                pos[s * n + t] = t;
            }
            cu[s + 1] = (s + 1) * n;
        }
        Tensor x = encode(ids, pos, cu, attentionMask);
        try {
            return x.reshape(b, n, config.hiddenSize());
        } finally {
            x.close();
        }
    }

    /**
     * The last hidden state of the given sequences, each on its own without padding, packed back to
     * back: {@code [Σ len_s, hidden]} F32 on the model's device, owned by the caller.
     */
    @Override
    public Tensor forwardPacked(int[][] inputIds) {
        ensureOpen();
        int[] cu = BertModel.packedOffsets(inputIds, config.maxPositions(), config.vocabSize());
        int b = inputIds.length, rows = cu[b];
        int[] ids = new int[rows], pos = new int[rows];
        for (int s = 0; s < b; s++) {
            System.arraycopy(inputIds[s], 0, ids, cu[s], inputIds[s].length);
            for (int t = 0; t < inputIds[s].length; t++) pos[cu[s] + t] = t;
        }
        return encode(ids, pos, cu, null);
    }

    /** The encoder over rows {@code [rows, hidden]}, sequence s being rows {@code [cu[s], cu[s+1])} with key mask {@code mask[s]} (null: all 1). */
    private Tensor encode(int[] ids, int[] pos, int[] cu, int[][] mask) {
        int rows = ids.length, e = config.hiddenSize(), h = config.numHeads(), d = config.headDim();
        float eps = config.normEps();
        Tensor x;
        try (Scope s = Scope.open()) {
            x = LayerNorm.layerNorm(s.track(Rows.gather(tok, ids)), embW, embB, eps);
        }
        try (Scope fw = Scope.open()) {
            boolean padded = false;
            if (mask != null) for (int[] row : mask) for (int m : row) padded |= m == 0;
            // without padding, query and key rows coincide, so the fused kernel's window (|i − j| <= half) is HF's mask
            boolean fused = !padded && FUSED_HEAD_DIMS.contains(d);
            Plan plan = fused ? null : plan(fw, cu, mask);
            int half = config.localAttention() / 2;
            Tensor[] globalTables = null, localTables = null;
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                boolean localRopeHere = config.localRope()[i];
                Tensor[] tables;
                if (localRopeHere) {
                    if (localTables == null) localTables = track(fw, localRope.tables(pos, h));
                    tables = localTables;
                } else {
                    if (globalTables == null) globalTables = track(fw, globalRope.tables(pos, h));
                    tables = globalTables;
                }
                Rope rope = localRopeHere ? localRope : globalRope;
                try (Scope s = Scope.open()) {
                    Tensor hn = l.attnW == null ? x : s.track(LayerNorm.layerNorm(x, l.attnW, l.attnB, eps));
                    Tensor q = s.track(l.pq.linear(hn, l.bq));
                    Tensor k = s.track(l.pk.linear(hn, l.bk));
                    Tensor v = s.track(l.pv.linear(hn, l.bv));
                    q = s.track(s.track(rope.apply(s.track(q.reshape(rows, h, d)), tables)).reshape(rows, e));
                    k = s.track(s.track(rope.apply(s.track(k.reshape(rows, h, d)), tables)).reshape(rows, e));
                    Tensor o;
                    if (fused) {
                        AttentionOptions opts = config.local(i) ? AttentionOptions.defaults().window(half, half) : AttentionOptions.defaults();
                        o = s.track(s.track(Attention.prefillVarlen(s.track(q.reshape(rows, h, d)), s.track(k.reshape(rows, h, d)),
                                s.track(v.reshape(rows, h, d)), cu, cu, opts)).reshape(rows, e));
                    } else {
                        o = s.track(MaskedAttention.attend(q, k, v, cu, plan.layout(), h, d, config.local(i) ? plan.local() : plan.global(), null));
                    }
                    Tensor x1 = s.track(Elementwise.add(x, s.track(l.po.linear(o, l.bo))));
                    Tensor m = s.track(LayerNorm.layerNorm(x1, l.mlpW, l.mlpB, eps));
                    Tensor act = s.track(activate(s.track(l.pIn.linear(m, l.bIn))));
                    Tensor glu = s.track(Elementwise.mul(act, s.track(l.pGate.linear(m, l.bGate))));
                    Tensor x2 = Elementwise.add(x1, s.track(l.p2.linear(glu, l.b2)));
                    x.close();
                    x = x2;
                }
            }
            Tensor out = LayerNorm.layerNorm(x, finalW, finalB, eps);
            x.close();
            x = null;
            return out;
        } finally {
            if (x != null) x.close();
        }
    }

    private static Tensor[] track(Scope s, Tensor[] ts) {
        for (Tensor t : ts) s.track(t);
        return ts;
    }

    private Tensor activate(Tensor u) {
        return switch (config.activation()) {
            case "gelu" -> Activation.gelu(u, Activation.Gelu.ERF);
            case "silu" -> Activation.silu(u);
            default -> Activation.gelu(u, Activation.Gelu.TANH);
        };
    }

    /**
     * Per sequence: the head layout, the global additive mask {@code [L]} (null when every key
     * attends) and the local one {@code [L, L]} (window and padding; null when the window spans
     * the sequence and no key is masked).
     */
    private record Plan(MaskedAttention.Layout layout, Tensor[] global, Tensor[] local) {}

    private Plan plan(Scope scope, int[] cu, int[][] mask) {
        int b = cu.length - 1, half = config.localAttention() / 2;
        Tensor[] global = new Tensor[b], local = new Tensor[b];
        Map<Integer, Tensor> windowByLength = new HashMap<>();
        for (int seq = 0; seq < b; seq++) {
            int len = cu[seq + 1] - cu[seq];
            boolean masked = false;
            if (mask != null) for (int j = 0; j < len; j++) masked |= mask[seq][j] == 0;
            if (masked) {
                float[] g = new float[len];
                for (int j = 0; j < len; j++) if (mask[seq][j] == 0) g[j] = -Float.MAX_VALUE;
                global[seq] = scope.track(device.upload(DType.F32, g, len));
            }
            if (len - 1 <= half && !masked) continue; // the window spans the sequence
            if (!masked && windowByLength.containsKey(len)) {
                local[seq] = windowByLength.get(len);
                continue;
            }
            float[] w = new float[len * len];
            for (int i = 0; i < len; i++) {
                for (int j = 0; j < len; j++) {
                    if (Math.abs(i - j) > half || (masked && mask[seq][j] == 0)) w[i * len + j] = -Float.MAX_VALUE;
                }
            }
            local[seq] = scope.track(device.upload(DType.F32, w, len, len));
            if (!masked) windowByLength.put(len, local[seq]);
        }
        return new Plan(MaskedAttention.Layout.of(scope, device, cu, config.numHeads(), config.headDim()), global, local);
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("ModernBert is closed");
    }

    /** Frees the weights; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Layer l : layers) for (Tensor t : l.all()) if (t != null) t.close();
        for (Tensor t : new Tensor[] {tok, embW, embB, finalW, finalB, rotate}) if (t != null) t.close();
    }
}
