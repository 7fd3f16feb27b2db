package dev.surpass.model.bert;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.layers.LinearWeight;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A BERT encoder ({@code transformers.BertModel}) in fp32:
 * <pre>
 * x = LayerNorm(word[ids] + position[0..N) + token_type[types])
 * per layer (post-LN):
 *   a = attention(q = x·Wqᵀ + bq, k, v; keys where attention_mask = 0 are left out; scale 1/√D)
 *   x = LayerNorm(x + a·Woᵀ + bo)                       (attention.output.LayerNorm)
 *   x = LayerNorm(x + gelu_erf(x·Wiᵀ + bi)·W2ᵀ + b2)    (intermediate.dense, output.dense/LayerNorm)
 * last_hidden_state = x   [B, N, hidden]
 * pooler_output = tanh(x[:, 0]·Wpᵀ + bp)   [B, hidden]   (when the checkpoint has pooler.dense)
 * </pre>
 * Loads HF safetensors (with or without the {@code bert.} prefix, 16-bit weights widened) through
 * {@link #load}, or the initializers of an ONNX export through {@link #loadOnnx}.
 *
 * <p>MPNet ({@link BertConfig#mpnet}, transformers' {@code MPNetModel}): the same layers with no
 * token types, RoBERTa positions from padding id 1, and one relative position bias for all layers
 * added to every head's scaled scores before the mask and the softmax:
 * <pre>
 * scores[h, i, j] = q_i·k_j / √D + rel[bucket(j − i), h] + (attention_mask[j] = 0 ? float32 min : 0)
 * bucket(r): T5's bidirectional bucket of n = i − j over 32 buckets, max distance 128 (16 per sign:
 *   |n| < 8 exact, then 8 + ⌊ln(|n|/8) / ln 16 · 8⌋ capped at 15, +16 when n < 0), in float32 as torch
 * </pre>
 * i and j are the token's indices in its (padded) row. This attention is unfused (batched matmul,
 * softmax, matmul per sequence), as the fused kernel takes no additive bias; masked keys get the
 * float32 minimum added as HF's extended mask, so a row whose mask is all 0 averages every key
 * there as in HF.
 *
 * <p>Padding: every query row attends only to the keys of its own sequence whose mask is 1 (the
 * masked keys are dropped before the varlen fused attention), so padded rows still get an output,
 * like HF's additive mask. A sequence whose mask is all 0 gets attention output 0 (HF would
 * average every key instead).
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class BertModel implements SentenceEncoder {
    private static final class Layer {
        Tensor wq, bq, wk, bk, wv, bv, wo, bo, ln1w, ln1b, wi, bi, w2, b2, ln2w, ln2b;
        /** The six weights prepared for repeated products (on the CPU a packed copy: see {@link LinearWeight}). */
        LinearWeight pq, pk, pv, po, pi, p2;

        void prepare() {
            pq = LinearWeight.of(wq);
            pk = LinearWeight.of(wk);
            pv = LinearWeight.of(wv);
            po = LinearWeight.of(wo);
            pi = LinearWeight.of(wi);
            p2 = LinearWeight.of(w2);
        }

        Tensor[] all() {
            return new Tensor[] {wq, bq, wk, bk, wv, bv, wo, bo, ln1w, ln1b, wi, bi, w2, b2, ln2w, ln2b};
        }
    }

    /** Where weights come from: HF names (no {@code bert.} prefix), fp32 values checked against a shape. */
    interface WeightSource {
        float[] read(String name, long... shape);

        /** Whether the optional tensor {@code name} is there (the pooler). */
        default boolean has(String name) {
            return false;
        }
    }

    private final Device device;
    private final BertConfig config;
    private final Tensor word, position, tokenType, embLnW, embLnB;
    private final Tensor poolW, poolB; // pooler.dense, or null
    private final List<Layer> layers;
    /** MPNet's relative attention bias {@code [buckets, heads]} on the host, or null. */
    private final float[] relBias;
    private boolean closed;

    private BertModel(Device device, BertConfig config, Tensor word, Tensor position, Tensor tokenType, Tensor embLnW, Tensor embLnB,
                      List<Layer> layers, Tensor poolW, Tensor poolB, float[] relBias) {
        this.relBias = relBias;
        this.device = device;
        this.config = config;
        this.word = word;
        this.position = position;
        this.tokenType = tokenType;
        this.embLnW = embLnW;
        this.embLnB = embLnB;
        this.layers = layers;
        this.poolW = poolW;
        this.poolB = poolB;
    }

    /**
     * Loads {@code dir/config.json} and its safetensors (sharded with an index or not) onto
     * {@code device}; tensor names with or without the {@code bert.} prefix.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *     missing tensor or one of the wrong shape, or a head dim the fused attention lacks
     */
    public static BertModel load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        BertConfig c = BertConfig.load(dir);
        if (!c.mpnet()) Decoding.checkHeadDim(dir, "hidden_size / num_attention_heads", c.headDim());
        try (Checkpoint ck = Checkpoint.open(dir)) {
            if (BertConfig.isDistilBert(ConfigJson.peek(dir))) return device.ready(build(device, c, distilBert(ck)));
            if (c.mpnet()) return device.ready(build(device, c, mpnet(ck)));
            String p = ck.has("bert.embeddings.word_embeddings.weight") ? "bert."
                    : ck.has("roberta.embeddings.word_embeddings.weight") ? "roberta." : "";
            return device.ready(build(device, c, new WeightSource() {
                @Override
                public float[] read(String name, long... shape) {
                    return ck.read(p + name, shape);
                }

                @Override
                public boolean has(String name) {
                    return ck.has(p + name);
                }
            }));
        }
    }

    /** BERT's names read from DistilBERT's ({@code distilbert.} prefix or none); its missing token-type table is one zero row. */
    private static WeightSource distilBert(Checkpoint ck) {
        String p = ck.has("distilbert.embeddings.word_embeddings.weight") ? "distilbert." : "";
        String[][] names = {
            {"attention.self.query.", "attention.q_lin."}, {"attention.self.key.", "attention.k_lin."}, {"attention.self.value.", "attention.v_lin."},
            {"attention.output.dense.", "attention.out_lin."}, {"attention.output.LayerNorm.", "sa_layer_norm."},
            {"intermediate.dense.", "ffn.lin1."}, {"output.dense.", "ffn.lin2."}, {"output.LayerNorm.", "output_layer_norm."},
        };
        return renamed(ck, p, "transformer.layer.", names, false); // DistilBERT has no pooler
    }

    /**
     * BERT's names read from MPNet's ({@code mpnet.} prefix or none): {@code attention.attn.{q,k,v,o}},
     * {@code attention.LayerNorm}; the missing token-type table is one zero row.
     */
    private static WeightSource mpnet(Checkpoint ck) {
        String p = ck.has("mpnet.embeddings.word_embeddings.weight") ? "mpnet." : "";
        String[][] names = {
            {"attention.self.query.", "attention.attn.q."}, {"attention.self.key.", "attention.attn.k."}, {"attention.self.value.", "attention.attn.v."},
            {"attention.output.dense.", "attention.attn.o."}, {"attention.output.LayerNorm.", "attention.LayerNorm."},
        };
        return renamed(ck, p, "encoder.layer.", names, true);
    }

    /**
     * A checkpoint whose layer tensors are BERT's under other names: {@code encoder.layer.i.<bert>}
     * is read as {@code prefix + layers + i. + <theirs>} by the first pair {@code {bert, theirs}} whose
     * BERT head matches (else the BERT tail); embeddings keep their names, other tensors (the
     * pooler, MPNet's relative bias) too when {@code others}, else they are absent; the
     * token-type table is one zero row.
     */
    private static WeightSource renamed(Checkpoint ck, String prefix, String layers, String[][] names, boolean others) {
        return new WeightSource() {
            String stored(String name) {
                if (name.startsWith("encoder.layer.")) {
                    String rest = name.substring("encoder.layer.".length());
                    int dot = rest.indexOf('.');
                    String layer = rest.substring(0, dot + 1), tail = rest.substring(dot + 1);
                    for (String[] kv : names) if (tail.startsWith(kv[0])) return prefix + layers + layer + kv[1] + tail.substring(kv[0].length());
                    return prefix + layers + layer + tail;
                }
                return name.startsWith("embeddings.") || others ? prefix + name : null;
            }

            @Override
            public float[] read(String name, long... shape) {
                if (name.equals("embeddings.token_type_embeddings.weight")) return new float[(int) (shape[0] * shape[1])];
                return ck.read(stored(name), shape);
            }

            @Override
            public boolean has(String name) {
                String s = stored(name);
                return s != null && ck.has(s);
            }
        };
    }

    /**
     * Loads the weights of a BERT ONNX export (e.g. all-MiniLM-L6-v2's {@code .onnx}): the sizes
     * come from the initializers' shapes; the head count and LayerNorm epsilon are not stored as
     * weights, so they are given here. Matmul weights are named by the bias their output gets
     * (or by the MatMul node's name) and transposed from the export's [in, out].
     *
     * @throws IllegalArgumentException naming the file and tensor when the graph is not a BERT
     *     encoder this loader can map
     */
    public static BertModel loadOnnx(Device device, Path onnxFile, int numHeads, float layerNormEps) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (onnxFile == null) throw new IllegalArgumentException("onnxFile is null");
        return fromOnnx(device, OnnxGraph.read(onnxFile), numHeads, layerNormEps, onnxFile.toString());
    }

    /** {@link #loadOnnx(Device, Path, int, float)} from a parsed graph; {@code where} names it in errors. */
    public static BertModel fromOnnx(Device device, OnnxGraph graph, int numHeads, float layerNormEps, String where) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (graph == null) throw new IllegalArgumentException("graph is null");
        if (numHeads <= 0) throw new IllegalArgumentException("numHeads is " + numHeads + "; expected a positive integer");
        OnnxBertWeights w = OnnxBertWeights.map(graph, where, numHeads, layerNormEps);
        int d = w.config().headDim();
        if (d != 32 && d != 64 && d != 72 && d != 80 && d != 96 && d != 128 && d != 256) {
            throw new IllegalArgumentException(where + ": head dim (hidden " + w.config().hiddenSize() + " / numHeads " + numHeads + ") is " + d
                    + "; the fused attention supports 32, 64, 72, 80, 96, 128 and 256");
        }
        return device.ready(build(device, w.config(), w));
    }

    static BertModel build(Device device, BertConfig c, WeightSource src) {
        List<Tensor> owned = new ArrayList<>();
        List<Layer> layers = new ArrayList<>();
        int e = c.hiddenSize(), f = c.intermediateSize();
        try {
            Tensor word = up(owned, device, src, "embeddings.word_embeddings.weight", c.vocabSize(), e);
            Tensor pos = up(owned, device, src, "embeddings.position_embeddings.weight", c.maxPositions(), e);
            Tensor type = up(owned, device, src, "embeddings.token_type_embeddings.weight", c.typeVocabSize(), e);
            Tensor lnW = up(owned, device, src, "embeddings.LayerNorm.weight", e);
            Tensor lnB = up(owned, device, src, "embeddings.LayerNorm.bias", e);
            for (int i = 0; i < c.numLayers(); i++) {
                String p = "encoder.layer." + i + ".";
                Layer l = new Layer();
                l.wq = up(owned, device, src, p + "attention.self.query.weight", e, e);
                l.bq = up(owned, device, src, p + "attention.self.query.bias", e);
                l.wk = up(owned, device, src, p + "attention.self.key.weight", e, e);
                l.bk = up(owned, device, src, p + "attention.self.key.bias", e);
                l.wv = up(owned, device, src, p + "attention.self.value.weight", e, e);
                l.bv = up(owned, device, src, p + "attention.self.value.bias", e);
                l.wo = up(owned, device, src, p + "attention.output.dense.weight", e, e);
                l.bo = up(owned, device, src, p + "attention.output.dense.bias", e);
                l.ln1w = up(owned, device, src, p + "attention.output.LayerNorm.weight", e);
                l.ln1b = up(owned, device, src, p + "attention.output.LayerNorm.bias", e);
                l.wi = up(owned, device, src, p + "intermediate.dense.weight", f, e);
                l.bi = up(owned, device, src, p + "intermediate.dense.bias", f);
                l.w2 = up(owned, device, src, p + "output.dense.weight", e, f);
                l.b2 = up(owned, device, src, p + "output.dense.bias", e);
                l.ln2w = up(owned, device, src, p + "output.LayerNorm.weight", e);
                l.ln2b = up(owned, device, src, p + "output.LayerNorm.bias", e);
                l.prepare();
                layers.add(l);
            }
            Tensor pw = null, pb = null;
            if (src.has("pooler.dense.weight")) {
                pw = up(owned, device, src, "pooler.dense.weight", e, e);
                pb = up(owned, device, src, "pooler.dense.bias", e);
            }
            float[] rel = c.mpnet() ? src.read("encoder.relative_attention_bias.weight", c.relativeBuckets(), c.numHeads()) : null;
            return new BertModel(device, c, word, pos, type, lnW, lnB, layers, pw, pb, rel);
        } catch (RuntimeException | Error ex) {
            for (Tensor t : owned) t.close();
            throw ex;
        }
    }

    private static Tensor up(List<Tensor> owned, Device device, WeightSource src, String name, long... shape) {
        Tensor t = device.upload(DType.F32, src.read(name, shape), shape);
        owned.add(t);
        return t;
    }

    public BertConfig config() {
        return config;
    }

    @Override
    public int hiddenSize() {
        return config.hiddenSize();
    }

    @Override
    public int maxTokens() {
        return config.maxTokens();
    }

    @Override
    public String describe() {
        return config.numLayers() + " layers, hidden " + config.hiddenSize();
    }

    public Device device() {
        return device;
    }

    /**
     * {@code last_hidden_state [B, N, hidden]} F32 on the model's device, owned by the caller.
     *
     * @param inputIds      {@code [B][N]} token ids, every row the same length {@code 1 <= N <= max_position_embeddings}
     * @param attentionMask {@code [B][N]} of 0/1 (1: a real token), or null for all 1
     * @param tokenTypeIds  {@code [B][N]} segment ids, or null for all 0
     * @throws IllegalArgumentException naming the argument, row and column of a bad value or shape
     */
    public Tensor forward(int[][] inputIds, int[][] attentionMask, int[][] tokenTypeIds) {
        ensureOpen();
        int[] dims = checkGrid("inputIds", inputIds, null, 0, config.vocabSize());
        int b = dims[0], n = dims[1];
        if (n > config.maxTokens()) {
            throw new IllegalArgumentException("forward: inputIds has " + n + " columns; at most " + config.maxTokens()
                    + " fit max_position_embeddings " + config.maxPositions());
        }
        if (attentionMask != null) checkGrid("attentionMask", attentionMask, dims, 0, 2);
        if (tokenTypeIds != null) checkGrid("tokenTypeIds", tokenTypeIds, dims, 0, config.typeVocabSize());
        int rows = b * n;
        int[] ids = new int[rows], positions = new int[rows], types = new int[rows];
        int[] cuQ = new int[b + 1], cuK = new int[b + 1];
        int[] keep = new int[rows];
        int kept = 0;
        for (int s = 0; s < b; s++) {
            positions(inputIds[s], positions, s * n);
            for (int t = 0; t < n; t++) {
                int r = s * n + t;
                ids[r] = inputIds[s][t];
                types[r] = tokenTypeIds == null ? 0 : tokenTypeIds[s][t];
                if (attentionMask == null || attentionMask[s][t] == 1) keep[kept++] = r;
            }
            cuQ[s + 1] = (s + 1) * n;
            cuK[s + 1] = kept;
        }
        int[] keyRows = kept == rows ? null : java.util.Arrays.copyOf(keep, kept);
        Tensor x = config.mpnet() ? encode(ids, positions, types, cuQ, cuQ, null, attentionMask) : encode(ids, positions, types, cuQ, cuK, keyRows, null);
        try {
            return x.reshape(b, n, config.hiddenSize());
        } finally {
            x.close();
        }
    }

    /**
     * The last hidden state of the given tokens only, the sequences packed back to back:
     * {@code [Σ inputIds[s].length, hidden]} F32 on the model's device, owned by the caller; token
     * type 0, no padding. Each row is what {@link #forward} gives that token with the sequences
     * padded and masked (the encoder never mixes rows of different sequences), without the
     * products of the padded rows, which only {@link #forward}'s callers may want.
     *
     * @param inputIds {@code [B][len_s]} token ids, {@code 1 <= len_s <= max_position_embeddings}
     * @throws IllegalArgumentException naming the row and column of a bad id or length
     */
    @Override
    public Tensor forwardPacked(int[][] inputIds) {
        ensureOpen();
        int[] cu = packedOffsets(inputIds, config.maxTokens(), config.vocabSize());
        int b = inputIds.length, rows = cu[b];
        int[] ids = new int[rows], positions = new int[rows];
        for (int s = 0; s < b; s++) {
            System.arraycopy(inputIds[s], 0, ids, cu[s], inputIds[s].length);
            positions(inputIds[s], positions, cu[s]);
        }
        return encode(ids, positions, new int[rows], cu, cu, null, null);
    }

    /**
     * The encoder over {@code ids.length} rows {@code [rows, hidden]}: sequence s is query rows
     * {@code [cuQ[s], cuQ[s+1])} attending to key rows {@code [cuK[s], cuK[s+1])} of the rows
     * {@code keyRows} (null: all rows) keeps. MPNet takes {@code cuQ == cuK}, no keyRows, and
     * {@code mask[s]} (null: all 1) for sequence s, masked by addition.
     */
    private Tensor encode(int[] ids, int[] positions, int[] types, int[] cuQ, int[] cuK, int[] keyRows, int[][] mask) {
        int rows = ids.length, kept = keyRows == null ? rows : keyRows.length;
        int e = config.hiddenSize(), h = config.numHeads(), d = config.headDim();
        float eps = config.layerNormEps();
        Tensor x;
        try (Scope s = Scope.open()) {
            Tensor we = s.track(Rows.gather(word, ids));
            Tensor pe = s.track(Rows.gather(position, positions));
            Tensor te = s.track(Rows.gather(tokenType, types));
            Tensor sum = s.track(Elementwise.add(s.track(Elementwise.add(we, pe)), te));
            x = LayerNorm.layerNorm(sum, embLnW, embLnB, eps);
        }
        try (Scope fw = Scope.open()) {
            MpnetPlan plan = config.mpnet() ? plan(fw, cuQ, mask) : null;
            for (Layer l : layers) {
                try (Scope s = Scope.open()) {
                    Tensor q = s.track(l.pq.linear(x, l.bq));
                    Tensor k = s.track(l.pk.linear(x, l.bk));
                    Tensor v = s.track(l.pv.linear(x, l.bv));
                    Tensor o;
                    if (plan != null) {
                        o = s.track(MaskedAttention.attend(q, k, v, cuQ, plan.layout(), h, d, plan.bias(), plan.mask()));
                    } else {
                        if (keyRows != null) { // drop the padded keys: each sequence keeps its attended ones
                            k = s.track(Rows.gather(k, keyRows));
                            v = s.track(Rows.gather(v, keyRows));
                        }
                        o = s.track(s.track(Attention.prefillVarlen(s.track(q.reshape(rows, h, d)), s.track(k.reshape(kept, h, d)),
                                s.track(v.reshape(kept, h, d)), cuQ, cuK, AttentionOptions.defaults())).reshape(rows, e));
                    }
                    Tensor attn = s.track(l.po.linear(o, l.bo));
                    Tensor x1 = s.track(LayerNorm.layerNorm(s.track(Elementwise.add(x, attn)), l.ln1w, l.ln1b, eps));
                    Tensor inter = s.track(Activation.gelu(s.track(l.pi.linear(x1, l.bi)), Activation.Gelu.ERF));
                    Tensor out = s.track(l.p2.linear(inter, l.b2));
                    Tensor x2 = LayerNorm.layerNorm(s.track(Elementwise.add(x1, out)), l.ln2w, l.ln2b, eps);
                    x.close();
                    x = x2;
                }
            }
            Tensor result = x;
            x = null;
            return result;
        } finally {
            if (x != null) x.close();
        }
    }

    /**
     * MPNet's relative position bucket of {@code relative = key index − query index}
     * (transformers' {@code MPNetEncoder.relative_position_bucket}, 32 buckets, max distance 128),
     * the logarithm in float32 as torch computes it.
     */
    static int relativeBucket(int relative) {
        int n = -relative, half = BertConfig.MPNET_BUCKETS / 2, exact = half / 2;
        int ret = n < 0 ? half : 0;
        n = Math.abs(n);
        if (n < exact) return ret + n;
        float lg = (float) Math.log((float) n / exact);
        float scaled = lg / (float) Math.log(128.0 / exact) * (half - exact);
        return ret + Math.min(exact + (int) scaled, half - 1);
    }

    /**
     * What MPNet's attention needs per sequence, built once per forward: the relative bias and the
     * additive mask ({@link #sequenceBiases}, {@link MaskedAttention#keyMasks}) and the head layout.
     */
    private record MpnetPlan(Tensor[] bias, Tensor[] mask, MaskedAttention.Layout layout) {}

    private MpnetPlan plan(Scope scope, int[] cu, int[][] mask) {
        return new MpnetPlan(sequenceBiases(scope, cu), MaskedAttention.keyMasks(scope, device, cu, mask),
                MaskedAttention.Layout.of(scope, device, cu, config.numHeads(), config.headDim()));
    }

    /**
     * MPNet's position bias of each sequence, {@code [heads, L, L]} with {@code [h, i, j] =
     * rel[bucket(j − i), h]}: one tensor per distinct length L, tracked by {@code scope}.
     */
    private Tensor[] sequenceBiases(Scope scope, int[] cu) {
        int b = cu.length - 1, h = config.numHeads();
        Tensor[] out = new Tensor[b];
        java.util.Map<Integer, Tensor> byLength = new java.util.HashMap<>();
        for (int s = 0; s < b; s++) {
            int len = cu[s + 1] - cu[s];
            Tensor t = byLength.get(len);
            if (t == null) {
                float[] v = new float[h * len * len];
                for (int i = 0; i < len; i++) {
                    for (int j = 0; j < len; j++) {
                        int bucket = relativeBucket(j - i);
                        for (int hh = 0; hh < h; hh++) v[(hh * len + i) * len + j] = relBias[bucket * h + hh];
                    }
                }
                t = scope.track(device.upload(DType.F32, v, h, len, len));
                byLength.put(len, t);
            }
            out[s] = t;
        }
        return out;
    }

    /**
     * The position ids of one sequence into {@code out[from..]}: the index (BERT), or HF RoBERTa's
     * {@code pad + (k-th non-pad token)} with pad tokens at {@code pad}.
     */
    private void positions(int[] ids, int[] out, int from) {
        int pad = config.paddingIdx(), count = 0;
        for (int t = 0; t < ids.length; t++) out[from + t] = pad < 0 ? t : (ids[t] == pad ? pad : pad + ++count);
    }

    /** True when the checkpoint has a pooler ({@code pooler.dense}). */
    public boolean hasPooler() {
        return poolW != null;
    }

    /**
     * HF's {@code pooler_output} from {@link #forward}'s {@code last_hidden_state [B, N, hidden]}:
     * {@code tanh(h[:, 0]·Wpᵀ + bp)}, {@code [B, hidden]} F32 on the model's device, owned by the
     * caller (the tanh of these B·hidden values runs on the host).
     *
     * @throws IllegalStateException when the checkpoint has no pooler
     * @throws IllegalArgumentException when {@code lastHidden} is not {@code [B, N, hidden]} F32 on the model's device
     */
    public Tensor pooler(Tensor lastHidden) {
        ensureOpen();
        if (poolW == null) throw new IllegalStateException("pooler: the checkpoint has no pooler.dense weights");
        if (lastHidden == null || lastHidden.isClosed() || lastHidden.rank() != 3 || lastHidden.dim(2) != config.hiddenSize()
                || lastHidden.dtype() != DType.F32 || !lastHidden.device().sameAs(device)) {
            throw new IllegalArgumentException("pooler: lastHidden is " + (lastHidden == null ? "null" : lastHidden.describe())
                    + "; expected F32 [B, N, " + config.hiddenSize() + "] on " + device.name());
        }
        int b = (int) lastHidden.dim(0), n = (int) lastHidden.dim(1);
        int[] first = new int[b];
        for (int s = 0; s < b; s++) first[s] = s * n;
        try (Scope s = Scope.open()) {
            Tensor cls = s.track(Rows.gather(s.track(lastHidden.reshape((long) b * n, config.hiddenSize())), first));
            float[] v = s.track(Gemm.linear(cls, poolW, poolB)).toFloatArray();
            for (int i = 0; i < v.length; i++) v[i] = (float) Math.tanh(v[i]);
            return device.upload(DType.F32, v, b, config.hiddenSize());
        }
    }

    /**
     * The row offsets {@code cu [B + 1]} of sequences packed back to back, after checking each has
     * {@code 1..maxTokens} ids in {@code [0, vocab)}.
     *
     * @throws IllegalArgumentException naming the sequence and token of a bad id or length
     */
    static int[] packedOffsets(int[][] inputIds, int maxTokens, int vocab) {
        if (inputIds == null || inputIds.length == 0) throw new IllegalArgumentException("forwardPacked: inputIds is null or empty");
        int b = inputIds.length, rows = 0;
        int[] cu = new int[b + 1];
        for (int s = 0; s < b; s++) {
            int[] row = inputIds[s];
            if (row == null || row.length == 0 || row.length > maxTokens) {
                throw new IllegalArgumentException("forwardPacked: inputIds[" + s + "] has " + (row == null ? "no" : row.length)
                        + " ids; expected 1.." + maxTokens + " (max_position_embeddings)");
            }
            for (int t = 0; t < row.length; t++) {
                if (row[t] < 0 || row[t] >= vocab) {
                    throw new IllegalArgumentException("forwardPacked: inputIds[" + s + "][" + t + "] is " + row[t] + "; expected a value in [0, "
                            + vocab + ")");
                }
            }
            rows += row.length;
            cu[s + 1] = rows;
        }
        return cu;
    }

    /** Checks a rectangular int grid (shape {@code dims} if given) with values in {@code [lo, hi)}; returns {B, N}. */
    static int[] checkGrid(String name, int[][] g, int[] dims, int lo, int hi) {
        if (g == null || g.length == 0) throw new IllegalArgumentException("forward: " + name + " is null or empty");
        if (dims != null && g.length != dims[0]) {
            throw new IllegalArgumentException("forward: " + name + " has " + g.length + " rows; inputIds has " + dims[0]);
        }
        int n = dims != null ? dims[1] : (g[0] == null ? 0 : g[0].length);
        if (n == 0) throw new IllegalArgumentException("forward: " + name + "[0] is null or empty");
        for (int r = 0; r < g.length; r++) {
            if (g[r] == null || g[r].length != n) {
                throw new IllegalArgumentException("forward: " + name + "[" + r + "] has " + (g[r] == null ? "no" : g[r].length)
                        + " columns; expected " + n + " (pad every row to one length)");
            }
            for (int c = 0; c < n; c++) {
                if (g[r][c] < lo || g[r][c] >= hi) {
                    throw new IllegalArgumentException("forward: " + name + "[" + r + "][" + c + "] is " + g[r][c] + "; expected a value in ["
                            + lo + ", " + hi + ")");
                }
            }
        }
        return new int[] {g.length, n};
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("BertModel is closed");
    }

    /** Frees the weights; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Layer l : layers) for (Tensor t : l.all()) t.close();
        for (Tensor t : new Tensor[] {word, position, tokenType, embLnW, embLnB, poolW, poolB}) if (t != null) t.close();
    }
}
