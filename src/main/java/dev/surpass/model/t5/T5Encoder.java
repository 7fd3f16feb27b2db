package dev.surpass.model.t5;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Argmax;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LinearWeight;
import dev.surpass.layers.RmsNorm;
import dev.surpass.model.bert.MaskedAttention;
import dev.surpass.model.bert.SentenceEncoder;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The T5 encoder ({@code transformers.T5EncoderModel}; the encoder of T5ForConditionalGeneration,
 * mt5, flan-t5, t5-v1_1, sentence-t5, GTR-T5, and the text encoder of PixArt / SD3 / Flux) in fp32,
 * as HF computes it:
 * <pre>
 * x = shared[ids]                                                  (no scaling)
 * bias[h, i, j] = rel[bucket(j − i), h]                            (layer 0's table, for every layer)
 * per block (pre-norm, no biases anywhere):
 *   n = T5LayerNorm(x)          T5LayerNorm(x) = w · x / √(mean(x²) + eps)   (no mean, no bias)
 *   q, k, v = n·Wqᵀ, n·Wkᵀ, n·Wvᵀ   heads of d_kv
 *   scores = q·kᵀ + bias + mask  (NO 1/√d_kv: T5 folds it into the initialisation)
 *   x = x + (softmax(scores)·v)·Woᵀ
 *   n = T5LayerNorm(x)
 *   x = x + wo(act(wi n))  or, gated, x + wo(act(wi_0 n) ⊙ wi_1 n)
 * last_hidden_state = T5LayerNorm_final(x)
 * </pre>
 * {@code bucket}: HF's {@code _relative_position_bucket(bidirectional=True)} ({@link #relativeBucket}).
 * {@code mask[j]} is 0 for attended keys and the float32 minimum for padded ones (HF's extended mask),
 * so a query whose keys are all masked averages every key of its row, as in HF. The attention is the
 * unfused {@link MaskedAttention} (batched matmul, additive terms, softmax, matmul per sequence;
 * {@code heads·L²} floats of scores per sequence), as the fused kernel takes no additive bias.
 *
 * <p>Weights: {@code shared.weight} (or {@code encoder.embed_tokens.weight}),
 * {@code encoder.block.{i}.layer.0.SelfAttention.{q,k,v,o}.weight},
 * {@code encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight [buckets, heads]},
 * {@code encoder.block.{i}.layer.{0,1}.layer_norm.weight},
 * {@code encoder.block.{i}.layer.1.DenseReluDense.{wi | wi_0, wi_1}.weight} and {@code .wo.weight},
 * {@code encoder.final_layer_norm.weight}; from safetensors (sharded with an index or not) or
 * PyTorch {@code .bin} files ({@link Checkpoint}); 16-bit weights are widened. The decoder and
 * {@code lm_head} tensors of a full T5ForConditionalGeneration checkpoint are not read.
 *
 * <p>ReLU (original T5, sentence-t5, GTR-T5): on the CPU clamped on the host (the tensor's memory
 * is host memory); on other devices composed from existing device ops, exactly:
 * {@code step = [0, 1][argmax([0·x, x])]}, {@code relu = x · step} (a +inf entry gives NaN there;
 * torch gives +inf).
 *
 * <p>Thread rules: a loaded encoder is read-only and may run from several threads; {@link #close}
 * must not race with a forward pass.
 */
public final class T5Encoder implements SentenceEncoder {
    /**
     * The most tokens one sequence may have. T5 has no position table (its relative buckets reach
     * any length); the cap bounds the {@code heads·L²} floats of attention scores a sequence takes.
     * A model with many heads takes fewer: {@link #maxTokens()}.
     */
    public static final int MAX_TOKENS = 16_384;

    /** The most floats one Java array holds: the host-built position bias {@code [heads, L, L]} of a sequence is one array. */
    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private static final class Layer {
        Tensor ln0, wq, wk, wv, wo, ln1, wi, wi0, wi1, wff; // wi for relu-style, wi0/wi1 for gated; wff is DenseReluDense.wo
        LinearWeight pq, pk, pv, po, pi, pi0, pi1, pff;

        Tensor[] all() {
            return new Tensor[] {ln0, wq, wk, wv, wo, ln1, wi, wi0, wi1, wff};
        }
    }

    private final Device device;
    private final T5Config config;
    private final Tensor embed, finalLn;
    private final List<Layer> layers;
    /** Layer 0's relative attention bias {@code [buckets, heads]} on the host. */
    private final float[] relBias;
    /** For the device ReLU: the selector {@code [1, 2] = [0, 1]} and the step table {@code [2, 1] = [0; 1]}. */
    private final Tensor reluSelect, reluSteps;
    private volatile boolean closed;

    private T5Encoder(Device device, T5Config config, Tensor embed, Tensor finalLn, List<Layer> layers, float[] relBias, Tensor reluSelect,
                      Tensor reluSteps) {
        this.device = device;
        this.config = config;
        this.embed = embed;
        this.finalLn = finalLn;
        this.layers = layers;
        this.relBias = relBias;
        this.reluSelect = reluSelect;
        this.reluSteps = reluSteps;
    }

    /**
     * Loads {@code dir/config.json} and the encoder's weights onto {@code device}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor: a bad config (umt5 is
     *     refused by name), a missing tensor or one of the wrong shape, or a per-layer relative
     *     attention bias (umt5-style weights)
     */
    public static T5Encoder load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        T5Config c = T5Config.load(dir);
        List<Tensor> owned = new ArrayList<>();
        try (Checkpoint ck = Checkpoint.open(dir)) {
            int d = c.dModel(), inner = c.innerDim(), ff = c.dFf();
            String emb = ck.has("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
            if (!ck.has(emb)) {
                throw new IllegalArgumentException(dir + ": tensor 'shared.weight' (or 'encoder.embed_tokens.weight') is missing from the checkpoint");
            }
            Tensor embed = track(owned, ck.upload(device, emb, c.vocabSize(), d));
            String relName = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
            float[] rel = ck.read(relName, c.buckets(), c.numHeads());
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < c.numLayers(); i++) {
                String p = "encoder.block." + i + ".layer.";
                if (i > 0 && ck.has(p + "0.SelfAttention.relative_attention_bias.weight")) {
                    throw new IllegalArgumentException(dir + ": tensor '" + p + "0.SelfAttention.relative_attention_bias.weight' is present: a relative"
                            + " attention bias per layer (UMT5) is not supported; T5 computes it once from layer 0's");
                }
                Layer l = new Layer();
                l.ln0 = track(owned, ck.upload(device, p + "0.layer_norm.weight", d));
                l.wq = track(owned, ck.uploadLinear(device, p + "0.SelfAttention.q.weight", inner, d));
                l.wk = track(owned, ck.uploadLinear(device, p + "0.SelfAttention.k.weight", inner, d));
                l.wv = track(owned, ck.uploadLinear(device, p + "0.SelfAttention.v.weight", inner, d));
                l.wo = track(owned, ck.uploadLinear(device, p + "0.SelfAttention.o.weight", d, inner));
                l.ln1 = track(owned, ck.upload(device, p + "1.layer_norm.weight", d));
                String ffp = p + "1.DenseReluDense.";
                if (c.gated()) {
                    if (!ck.has(ffp + "wi_0.weight") && ck.has(ffp + "wi.weight")) {
                        throw new IllegalArgumentException(dir + ": feed_forward_proj is gated but tensor '" + ffp + "wi_0.weight' is missing (the checkpoint"
                                + " has '" + ffp + "wi.weight', a non-gated layer): check config.json's feed_forward_proj");
                    }
                    l.wi0 = track(owned, ck.uploadLinear(device, ffp + "wi_0.weight", ff, d));
                    l.wi1 = track(owned, ck.uploadLinear(device, ffp + "wi_1.weight", ff, d));
                } else {
                    if (!ck.has(ffp + "wi.weight") && ck.has(ffp + "wi_0.weight")) {
                        throw new IllegalArgumentException(dir + ": feed_forward_proj is not gated but tensor '" + ffp + "wi.weight' is missing (the checkpoint"
                                + " has '" + ffp + "wi_0.weight', a gated layer): check config.json's feed_forward_proj");
                    }
                    l.wi = track(owned, ck.uploadLinear(device, ffp + "wi.weight", ff, d));
                }
                l.wff = track(owned, ck.uploadLinear(device, ffp + "wo.weight", d, ff));
                l.pq = LinearWeight.of(l.wq);
                l.pk = LinearWeight.of(l.wk);
                l.pv = LinearWeight.of(l.wv);
                l.po = LinearWeight.of(l.wo);
                if (c.gated()) {
                    l.pi0 = LinearWeight.of(l.wi0);
                    l.pi1 = LinearWeight.of(l.wi1);
                } else {
                    l.pi = LinearWeight.of(l.wi);
                }
                l.pff = LinearWeight.of(l.wff);
                layers.add(l);
            }
            Tensor fin = track(owned, ck.upload(device, "encoder.final_layer_norm.weight", d));
            Tensor sel = track(owned, device.upload(DType.F32, new float[] {0, 1}, 1, 2));
            Tensor steps = track(owned, device.upload(DType.F32, new float[] {0, 1}, 2, 1));
            return device.ready(new T5Encoder(device, c, embed, fin, layers, rel, sel, steps));
        } catch (RuntimeException | Error e) {
            for (Tensor t : owned) t.close();
            throw e;
        }
    }

    private static Tensor track(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }

    public T5Config config() {
        return config;
    }

    /** The token embedding {@code shared.weight [vocab, d_model]} F32; owned by this encoder (T5ForConditionalGeneration's decoder and tied head share it). */
    Tensor embedding() {
        ensureOpen();
        return embed;
    }

    public Device device() {
        return device;
    }

    @Override
    public int hiddenSize() {
        return config.dModel();
    }

    /**
     * The most tokens one sequence may have with this model: {@link #MAX_TOKENS}, or fewer where a
     * sequence's {@code heads·L²} position-bias floats (built on the host as one array) would not
     * fit a Java array (12 heads: 13,377; 64 heads: 5,792).
     */
    @Override
    public int maxTokens() {
        return maxTokens(config.numHeads());
    }

    /** {@link #maxTokens()} for a model of {@code heads} heads: the largest L up to MAX_TOKENS with {@code heads·L² <= MAX_ARRAY}. */
    static int maxTokens(int heads) {
        int l = (int) Math.min(MAX_TOKENS, (long) Math.sqrt((double) MAX_ARRAY / Math.max(1, heads)) + 1);
        while (l > 1 && (long) heads * l * l > MAX_ARRAY) l--;
        return l;
    }

    @Override
    public String describe() {
        return "T5 encoder: " + config.numLayers() + " layers, d_model " + config.dModel() + ", " + config.numHeads() + " heads of " + config.dKv()
                + ", d_ff " + config.dFf() + " (" + (config.gated() ? "gated-" : "") + config.act().name().toLowerCase(java.util.Locale.ROOT) + "), "
                + config.buckets() + " buckets up to " + config.maxDistance();
    }

    /**
     * The last hidden state of ragged rows: each row padded on the right to the longest with
     * {@code pad_token_id} and masked there, as a tokenizer pads a batch for HF's
     * {@code T5EncoderModel(input_ids, attention_mask)}. {@code [B, Lmax, d_model]} F32 on the
     * encoder's device, owned by the caller; row s's first {@code ids[s].length} positions are its
     * tokens' states (the same as the row alone: T5's relative positions ignore the padding after
     * it), the rest are what HF gives at the padded positions.
     *
     * @param ids {@code [B][len_s]} token ids in {@code [0, vocab_size)}, {@code 1 <= len_s <= }{@link #maxTokens()}
     * @throws IllegalArgumentException naming the row and column of a bad id or length
     */
    public Tensor forward(int[][] ids) {
        ensureOpen();
        int[] cu = packedOffsets("forward", ids);
        int b = ids.length, n = 0;
        for (int[] row : ids) n = Math.max(n, row.length);
        int[][] grid = new int[b][n], mask = new int[b][n];
        boolean ragged = false;
        for (int s = 0; s < b; s++) {
            java.util.Arrays.fill(grid[s], config.padTokenId());
            System.arraycopy(ids[s], 0, grid[s], 0, ids[s].length);
            java.util.Arrays.fill(mask[s], 0, ids[s].length, 1);
            ragged |= ids[s].length != n;
        }
        return padded(grid, ragged ? mask : null, b, n);
    }

    /**
     * HF's {@code T5EncoderModel(input_ids, attention_mask).last_hidden_state}: {@code [B, N, d_model]}
     * F32 on the encoder's device, owned by the caller; every position gets an output (padded ones
     * included, as in HF).
     *
     * @param ids           {@code [B][N]} token ids, every row of one length {@code 1 <= N <= }{@link #maxTokens()}
     * @param attentionMask {@code [B][N]} of 0/1 (1: a key that may be attended), or null for all 1
     * @throws IllegalArgumentException naming the argument, row and column of a bad value or shape
     */
    public Tensor forward(int[][] ids, int[][] attentionMask) {
        ensureOpen();
        int[] dims = checkGrid("ids", ids, null, config.vocabSize());
        int cap = maxTokens();
        if (dims[1] > cap) throw new IllegalArgumentException("forward: ids has " + dims[1] + " columns; at most " + cap + tokenCapReason(cap));
        if (attentionMask != null) checkGrid("attentionMask", attentionMask, dims, 2);
        return padded(ids, attentionMask, dims[0], dims[1]);
    }

    private Tensor padded(int[][] ids, int[][] mask, int b, int n) {
        if ((long) b * n * Math.max(config.dModel(), config.dFf()) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("forward: " + b + " rows of " + n + " tokens are too many for one call; split the batch");
        }
        int[] flat = new int[b * n], cu = new int[b + 1];
        for (int s = 0; s < b; s++) {
            System.arraycopy(ids[s], 0, flat, s * n, n);
            cu[s + 1] = (s + 1) * n;
        }
        Tensor x = encode(flat, cu, mask);
        try {
            return x.reshape(b, n, config.dModel());
        } finally {
            x.close();
        }
    }

    /**
     * Each sequence on its own, packed back to back: {@code [Σ len_s, d_model]} F32 on the
     * encoder's device, owned by the caller (no padding computed).
     */
    @Override
    public Tensor forwardPacked(int[][] sequences) {
        ensureOpen();
        int[] cu = packedOffsets("forwardPacked", sequences);
        int[] flat = new int[cu[cu.length - 1]];
        for (int s = 0; s < sequences.length; s++) System.arraycopy(sequences[s], 0, flat, cu[s], sequences[s].length);
        return encode(flat, cu, null);
    }

    /** The encoder over rows {@code ids}: sequence s is rows {@code [cu[s], cu[s+1])}, its keys masked where {@code mask[s][j] == 0} (null: none). */
    private Tensor encode(int[] ids, int[] cu, int[][] mask) {
        int h = config.numHeads(), dkv = config.dKv();
        float eps = config.eps();
        Tensor x = Rows.gather(embed, ids);
        try (Scope fw = Scope.open()) {
            Tensor[] bias = sequenceBiases(fw, cu);
            Tensor[] masks = MaskedAttention.keyMasks(fw, device, cu, mask);
            MaskedAttention.Layout layout = MaskedAttention.Layout.of(fw, device, cu, h, dkv);
            for (Layer l : layers) {
                try (Scope s = Scope.open()) {
                    Tensor n = s.track(RmsNorm.rmsNorm(x, l.ln0, eps));
                    Tensor q = s.track(l.pq.linear(n, null));
                    Tensor k = s.track(l.pk.linear(n, null));
                    Tensor v = s.track(l.pv.linear(n, null));
                    Tensor a = s.track(MaskedAttention.attend(q, k, v, cu, layout, h, dkv, 1f, bias, masks));
                    RmsNorm.Added r = RmsNorm.addRmsNorm(s.track(l.po.linear(a, null)), x, l.ln1, eps); // x + attention, and its norm
                    s.track(r.normed());
                    Tensor x1 = r.sum();
                    try {
                        Tensor f = s.track(feedForward(s, l, r.normed()));
                        Tensor x2 = Elementwise.add(x1, f);
                        x.close();
                        x = x2;
                    } finally {
                        x1.close();
                    }
                }
            }
            Tensor out = RmsNorm.rmsNorm(x, finalLn, eps);
            x.close();
            x = null;
            return out;
        } finally {
            if (x != null) x.close();
        }
    }

    /** {@code wo(act(wi n))} or {@code wo(act(wi_0 n) ⊙ wi_1 n)}; temporaries tracked by {@code s}. */
    private Tensor feedForward(Scope s, Layer l, Tensor n) {
        Tensor hidden;
        if (config.gated()) {
            Tensor g = s.track(activate(s.track(l.pi0.linear(n, null))));
            hidden = s.track(Elementwise.mul(g, s.track(l.pi1.linear(n, null))));
        } else {
            hidden = s.track(activate(s.track(l.pi.linear(n, null))));
        }
        return l.pff.linear(hidden, null);
    }

    /** The feed-forward activation of {@code x} (a new tensor); the decoder's feed-forward uses it too. */
    Tensor activate(Tensor x) {
        return switch (config.act()) {
            case RELU -> relu(x);
            case GELU_ERF -> Activation.gelu(x, Activation.Gelu.ERF);
            case GELU_TANH -> Activation.gelu(x, Activation.Gelu.TANH);
            case SILU -> Activation.silu(x);
        };
    }

    /** {@code max(x, 0)} for an F32 x: on the CPU on the host, elsewhere by {@link #reluOnDevice}. */
    Tensor relu(Tensor x) {
        if (!x.device().isCpu()) return reluOnDevice(x);
        float[] v = x.toFloatArray();
        for (int i = 0; i < v.length; i++) if (v[i] < 0) v[i] = 0f; // NaN stays NaN, as torch.relu
        return x.device().upload(DType.F32, v, x.shape());
    }

    /**
     * {@code max(x, 0)} from device ops, exact for finite x and NaN: per element the pair
     * {@code [0·x, x]} (a matmul by {@code [0, 1]}), its argmax (1 only when x > 0), that index's
     * entry of {@code [0; 1]}, times x. Works on any device; the CPU takes {@link #relu}'s host loop.
     */
    Tensor reluOnDevice(Tensor x) {
        long n = x.numel();
        try (Scope s = Scope.open()) {
            Tensor col = s.track(x.reshape(n, 1));
            Tensor pairs = s.track(Gemm.matmul(col, reluSelect));
            Tensor step = s.track(Gather.rows(reluSteps, s.track(Argmax.rows(pairs))));
            Tensor y = s.track(Elementwise.mul(col, step));
            return y.reshape(x.shape());
        }
    }

    /**
     * T5's bucket of {@code relative = key index − query index}, bidirectional
     * ({@code T5Attention._relative_position_bucket(relative, True, buckets, maxDistance)}): half
     * the buckets per direction (the upper half for keys after the query); in each half, distances
     * below a quarter of the buckets are exact, longer ones log-spaced up to {@code maxDistance},
     * beyond it the last bucket. The logarithm and the scaling in float32, as torch computes them.
     */
    public static int relativeBucket(int relative, int buckets, int maxDistance) {
        int half = buckets / 2, exact = half / 2;
        int ret = relative > 0 ? half : 0;
        long n = Math.abs((long) relative); // long: |Integer.MIN_VALUE| too
        if (n < exact) return ret + (int) n;
        float lg = (float) Math.log((float) n / exact);
        float scaled = lg / (float) Math.log((double) maxDistance / exact) * (half - exact);
        return ret + Math.min(exact + (int) scaled, half - 1);
    }

    /** Each sequence's position bias {@code [heads, L, L]}, {@code [h, i, j] = rel[bucket(j − i), h]}: one tensor per distinct length, tracked by {@code scope}. */
    private Tensor[] sequenceBiases(Scope scope, int[] cu) {
        int b = cu.length - 1, h = config.numHeads();
        Tensor[] out = new Tensor[b];
        Map<Integer, Tensor> byLength = new HashMap<>();
        for (int s = 0; s < b; s++) {
            int len = cu[s + 1] - cu[s];
            Tensor t = byLength.get(len);
            if (t == null) {
                // the bucket depends only on j − i: one row per distance
                int[] bucketOf = new int[2 * len - 1];
                for (int r = -(len - 1); r < len; r++) bucketOf[r + len - 1] = relativeBucket(r, config.buckets(), config.maxDistance());
                float[] v = new float[h * len * len];
                for (int hh = 0; hh < h; hh++) {
                    for (int i = 0; i < len; i++) {
                        int base = (hh * len + i) * len;
                        for (int j = 0; j < len; j++) v[base + j] = relBias[bucketOf[j - i + len - 1] * h + hh];
                    }
                }
                t = scope.track(device.upload(DType.F32, v, h, len, len));
                byLength.put(len, t);
            }
            out[s] = t;
        }
        return out;
    }

    /** Offsets {@code cu [B + 1]} of the sequences back to back, after checking each has 1..maxTokens() ids in [0, vocab). */
    private int[] packedOffsets(String op, int[][] seqs) {
        if (seqs == null || seqs.length == 0) throw new IllegalArgumentException(op + ": ids is null or empty");
        int[] cu = new int[seqs.length + 1];
        int cap = maxTokens();
        long rows = 0;
        for (int s = 0; s < seqs.length; s++) {
            int[] row = seqs[s];
            if (row == null || row.length == 0 || row.length > cap) {
                throw new IllegalArgumentException(op + ": ids[" + s + "] has " + (row == null ? "no" : row.length) + " ids; expected 1.." + cap
                        + tokenCapReason(cap));
            }
            for (int t = 0; t < row.length; t++) {
                if (row[t] < 0 || row[t] >= config.vocabSize()) {
                    throw new IllegalArgumentException(op + ": ids[" + s + "][" + t + "] is " + row[t] + "; expected a value in [0, " + config.vocabSize() + ")");
                }
            }
            rows += row.length;
            if (rows * Math.max(config.dModel(), config.dFf()) > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(op + ": " + rows + "+ tokens in all are too many for one call; split the batch");
            }
            cu[s + 1] = (int) rows;
        }
        return cu;
    }

    /** Why the cap is below MAX_TOKENS, or nothing. */
    private String tokenCapReason(int cap) {
        return cap < MAX_TOKENS ? " (" + config.numHeads() + " heads × L² position-bias floats must fit one array)" : "";
    }

    /** Checks a rectangular int grid (shape {@code dims} if given) with values in {@code [0, hi)}; returns {B, N}. */
    private static int[] checkGrid(String name, int[][] g, int[] dims, int hi) {
        if (g == null || g.length == 0) throw new IllegalArgumentException("forward: " + name + " is null or empty");
        if (dims != null && g.length != dims[0]) throw new IllegalArgumentException("forward: " + name + " has " + g.length + " rows; ids has " + dims[0]);
        int n = dims != null ? dims[1] : (g[0] == null ? 0 : g[0].length);
        if (n == 0) throw new IllegalArgumentException("forward: " + name + "[0] is null or empty");
        for (int r = 0; r < g.length; r++) {
            if (g[r] == null || g[r].length != n) {
                throw new IllegalArgumentException("forward: " + name + "[" + r + "] has " + (g[r] == null ? "no" : g[r].length) + " columns; expected " + n
                        + " (every row one length; forward(int[][]) takes ragged rows)");
            }
            for (int c = 0; c < n; c++) {
                if (g[r][c] < 0 || g[r][c] >= hi) {
                    throw new IllegalArgumentException("forward: " + name + "[" + r + "][" + c + "] is " + g[r][c] + "; expected a value in [0, " + hi + ")");
                }
            }
        }
        return new int[] {g.length, n};
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("T5Encoder is closed");
    }

    /** Frees the weights; idempotent. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        for (Layer l : layers) for (Tensor t : l.all()) if (t != null) t.close();
        for (Tensor t : new Tensor[] {embed, finalLn, reluSelect, reluSteps}) t.close();
    }
}
