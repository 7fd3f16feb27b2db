package dev.surpass.model.t5;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LinearWeight;
import dev.surpass.layers.RmsNorm;
import dev.surpass.layers.Scatter;
import dev.surpass.layers.Softmax;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.decoder.Rows;
import dev.surpass.model.mamba.Sampling;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * T5 text-to-text ({@code transformers.T5ForConditionalGeneration}: t5, mt5, flan-t5, t5-v1_1) in
 * fp32: the {@link T5Encoder}, then the decoder stack and the LM head, as HF computes them:
 * <pre>
 * y = shared[decoder ids]                                               (no scaling)
 * bias[h, i, j] = rel_dec[bucket↓(j − i), h]   for keys j ≤ i             (decoder block 0's table, every block;
 *                 + float32 min                 for keys j > i            the causal mask)
 * per block (pre-norm, no biases):
 *   n = T5LayerNorm(y);  y = y + Wo·softmax(q·kᵀ + bias)·v                 (q, k, v from n; no 1/√d_kv)
 *   n = T5LayerNorm(y);  y = y + Wo'·softmax(q'·k'ᵀ + encMask)·v'          (q' from n; k', v' from the encoder output)
 *   n = T5LayerNorm(y);  y = y + wo(act(wi n))  or  wo(act(wi_0 n) ⊙ wi_1 n)
 * h = T5LayerNorm_final(y)
 * logits = (tie_word_embeddings ? h·d_model^−½ · sharedᵀ : h · lm_headᵀ)
 * </pre>
 * {@code bucket↓}: {@code _relative_position_bucket(bidirectional=False)} ({@link #causalBucket}):
 * only keys at or before the query, all buckets on that side. {@code encMask[j]} is the float32
 * minimum at the encoder's padded positions (a ragged batch), 0 elsewhere; cross-attention has no
 * position bias. The tied head's scaling is T5's (flan-t5 and t5-v1_1 have untied heads and none).
 *
 * <p>Decoding keeps an incremental cache per call: each block's self-attention keys (transposed)
 * and values are written at their position as tokens arrive and read back for the prefix (and
 * reordered with the beams in beam search), and the cross-attention keys and values are computed
 * once per input. Teacher forcing ({@link #forward})
 * runs the same code with all decoder positions in one step. The attention is unfused (batched
 * matmuls and softmax over {@code [B·heads, Tq, L]} scores).
 *
 * <p>Weights: the encoder's ({@link T5Encoder}), and
 * {@code decoder.block.{i}.layer.0.SelfAttention.{q,k,v,o}.weight},
 * {@code decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight [buckets, heads]},
 * {@code decoder.block.{i}.layer.1.EncDecAttention.{q,k,v,o}.weight},
 * {@code decoder.block.{i}.layer.{0,1,2}.layer_norm.weight},
 * {@code decoder.block.{i}.layer.2.DenseReluDense.{wi | wi_0, wi_1, wo}.weight},
 * {@code decoder.final_layer_norm.weight}, and {@code lm_head.weight} when
 * {@code tie_word_embeddings} is false; config.json's {@code num_decoder_layers} (default
 * num_layers), {@code tie_word_embeddings} (default true), {@code decoder_start_token_id} (default
 * pad_token_id) and {@code eos_token_id}.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads (each call has its
 * own cache); {@link #close} must not race with a call.
 */
public final class T5ForConditionalGeneration implements AutoCloseable {
    /** The most decoder positions one call takes (generated tokens, or teacher-forced decoder ids). */
    public static final int MAX_NEW_TOKENS = 4096;

    private static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private static final class Layer {
        Tensor ln0, sq, sk, sv, so, ln1, cq, ck, cv, co, ln2, wi, wi0, wi1, wff;
        LinearWeight psq, psk, psv, pso, pcq, pck, pcv, pco, pi, pi0, pi1, pff;

        Tensor[] all() {
            return new Tensor[] {ln0, sq, sk, sv, so, ln1, cq, ck, cv, co, ln2, wi, wi0, wi1, wff};
        }
    }

    private final Device device;
    private final T5Encoder encoder;
    private final T5Config config;
    private final List<Layer> layers;
    /** Decoder block 0's relative attention bias {@code [buckets, heads]} on the host. */
    private final float[] relBias;
    private final Tensor finalLn, lmHead;
    private final LinearWeight head;
    private final boolean tied;
    private final int startId;
    private final int[] eosIds;
    private volatile boolean closed;

    private T5ForConditionalGeneration(Device device, T5Encoder encoder, List<Layer> layers, float[] relBias, Tensor finalLn, Tensor lmHead,
                                       boolean tied, int startId, int[] eosIds) {
        this.device = device;
        this.encoder = encoder;
        this.config = encoder.config();
        this.layers = layers;
        this.relBias = relBias;
        this.finalLn = finalLn;
        this.lmHead = lmHead;
        this.head = LinearWeight.of(tied ? encoder.embedding() : lmHead);
        this.tied = tied;
        this.startId = startId;
        this.eosIds = eosIds;
    }

    /**
     * Loads {@code dir/config.json}, the encoder and the decoder onto {@code device}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor: a bad config, an
     *     encoder-only checkpoint (no decoder tensors), a missing tensor or one of the wrong shape,
     *     a per-layer relative attention bias (UMT5), a start or eos id outside the vocabulary
     */
    public static T5ForConditionalGeneration load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null) throw new IllegalArgumentException("dir is null");
        ConfigJson cj = ConfigJson.load(dir, "T5");
        T5Config c = T5Config.parse(cj);
        int nDec = cj.optPositive("num_decoder_layers", c.numLayers());
        boolean tied = cj.bool("tie_word_embeddings", true);
        int start = cj.optPositiveOrZero("decoder_start_token_id", c.padTokenId());
        if (start >= c.vocabSize()) {
            throw new IllegalArgumentException(cj.where() + ": field \"decoder_start_token_id\" is " + start + "; vocab_size is " + c.vocabSize());
        }
        int[] eos = ConfigJson.generationEosIds(dir, cj.eosIds());
        for (int e : eos) {
            if (e < 0 || e >= c.vocabSize()) {
                throw new IllegalArgumentException(dir + ": eos_token_id " + e + " is outside the vocabulary [0, " + c.vocabSize() + ")");
            }
        }
        T5Encoder enc = T5Encoder.load(device, dir);
        List<Tensor> owned = new ArrayList<>();
        try (Checkpoint ck = Checkpoint.open(dir)) {
            int d = c.dModel(), inner = c.innerDim(), ff = c.dFf();
            String relName = "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
            if (!ck.has(relName) && !ck.has("decoder.final_layer_norm.weight")) {
                throw new IllegalArgumentException(dir + ": the checkpoint has no decoder (tensor '" + relName + "' is missing): an encoder-only"
                        + " T5EncoderModel cannot generate; use a T5ForConditionalGeneration checkpoint");
            }
            float[] rel = ck.read(relName, c.buckets(), c.numHeads());
            List<Layer> layers = new ArrayList<>();
            for (int i = 0; i < nDec; i++) {
                String p = "decoder.block." + i + ".layer.";
                if (i > 0 && ck.has(p + "0.SelfAttention.relative_attention_bias.weight")) {
                    throw new IllegalArgumentException(dir + ": tensor '" + p + "0.SelfAttention.relative_attention_bias.weight' is present: a relative"
                            + " attention bias per layer (UMT5) is not supported; T5 computes it once from block 0's");
                }
                Layer l = new Layer();
                l.ln0 = track(owned, ck.upload(device, p + "0.layer_norm.weight", d));
                l.sq = track(owned, ck.uploadLinear(device, p + "0.SelfAttention.q.weight", inner, d));
                l.sk = track(owned, ck.uploadLinear(device, p + "0.SelfAttention.k.weight", inner, d));
                l.sv = track(owned, ck.uploadLinear(device, p + "0.SelfAttention.v.weight", inner, d));
                l.so = track(owned, ck.uploadLinear(device, p + "0.SelfAttention.o.weight", d, inner));
                l.ln1 = track(owned, ck.upload(device, p + "1.layer_norm.weight", d));
                l.cq = track(owned, ck.uploadLinear(device, p + "1.EncDecAttention.q.weight", inner, d));
                l.ck = track(owned, ck.uploadLinear(device, p + "1.EncDecAttention.k.weight", inner, d));
                l.cv = track(owned, ck.uploadLinear(device, p + "1.EncDecAttention.v.weight", inner, d));
                l.co = track(owned, ck.uploadLinear(device, p + "1.EncDecAttention.o.weight", d, inner));
                l.ln2 = track(owned, ck.upload(device, p + "2.layer_norm.weight", d));
                String ffp = p + "2.DenseReluDense.";
                if (c.gated()) {
                    if (!ck.has(ffp + "wi_0.weight") && ck.has(ffp + "wi.weight")) {
                        throw new IllegalArgumentException(dir + ": feed_forward_proj is gated but tensor '" + ffp + "wi_0.weight' is missing (the checkpoint"
                                + " has '" + ffp + "wi.weight', a non-gated layer): check config.json's feed_forward_proj");
                    }
                    l.wi0 = track(owned, ck.uploadLinear(device, ffp + "wi_0.weight", ff, d));
                    l.wi1 = track(owned, ck.uploadLinear(device, ffp + "wi_1.weight", ff, d));
                    l.pi0 = LinearWeight.of(l.wi0);
                    l.pi1 = LinearWeight.of(l.wi1);
                } else {
                    if (!ck.has(ffp + "wi.weight") && ck.has(ffp + "wi_0.weight")) {
                        throw new IllegalArgumentException(dir + ": feed_forward_proj is not gated but tensor '" + ffp + "wi.weight' is missing (the checkpoint"
                                + " has '" + ffp + "wi_0.weight', a gated layer): check config.json's feed_forward_proj");
                    }
                    l.wi = track(owned, ck.uploadLinear(device, ffp + "wi.weight", ff, d));
                    l.pi = LinearWeight.of(l.wi);
                }
                l.wff = track(owned, ck.uploadLinear(device, ffp + "wo.weight", d, ff));
                l.psq = LinearWeight.of(l.sq);
                l.psk = LinearWeight.of(l.sk);
                l.psv = LinearWeight.of(l.sv);
                l.pso = LinearWeight.of(l.so);
                l.pcq = LinearWeight.of(l.cq);
                l.pck = LinearWeight.of(l.ck);
                l.pcv = LinearWeight.of(l.cv);
                l.pco = LinearWeight.of(l.co);
                l.pff = LinearWeight.of(l.wff);
                layers.add(l);
            }
            String extra = "decoder.block." + nDec + ".layer.0.layer_norm.weight";
            if (ck.has(extra)) {
                throw new IllegalArgumentException(dir + ": tensor '" + extra + "' is present but config.json's num_decoder_layers is " + nDec);
            }
            Tensor fin = track(owned, ck.upload(device, "decoder.final_layer_norm.weight", d));
            Tensor lm = null;
            if (!tied) {
                if (!ck.has("lm_head.weight")) {
                    throw new IllegalArgumentException(dir + ": tie_word_embeddings is false but tensor 'lm_head.weight' is missing from the checkpoint");
                }
                lm = track(owned, ck.uploadLinear(device, "lm_head.weight", c.vocabSize(), d));
            }
            return device.ready(new T5ForConditionalGeneration(device, enc, layers, rel, fin, lm, tied, start, eos));
        } catch (RuntimeException | Error e) {
            for (Tensor t : owned) t.close();
            enc.close();
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

    public Device device() {
        return device;
    }

    /** The encoder half (owned by this model: do not close it). */
    public T5Encoder encoder() {
        ensureOpen();
        return encoder;
    }

    public int decoderLayers() {
        return layers.size();
    }

    /** Whether the LM head is the shared embedding (with T5's {@code d_model^−½} scaling of its input). */
    public boolean tiedHead() {
        return tied;
    }

    /** The id the decoder starts from ({@code decoder_start_token_id}). */
    public int decoderStartTokenId() {
        return startId;
    }

    /** The ids generation stops at by default (generation_config.json's eos_token_id, else config.json's). */
    public int[] eosTokenIds() {
        return eosIds.clone();
    }

    public String describe() {
        return "t5 seq2seq: " + config.numLayers() + "+" + layers.size() + " layers, d_model " + config.dModel() + ", " + config.numHeads()
                + " heads of " + config.dKv() + ", d_ff " + config.dFf() + " (" + (config.gated() ? "gated-" : "")
                + config.act().name().toLowerCase(java.util.Locale.ROOT) + "), vocab " + config.vocabSize() + ", "
                + (tied ? "tied head" : "untied head");
    }

    /**
     * The most decoder positions a call takes: {@link #MAX_NEW_TOKENS}, or fewer where the
     * self-attention's host-built bias {@code heads·T²} would not fit one array.
     */
    public int maxDecoderTokens() {
        return Math.min(MAX_NEW_TOKENS, T5Encoder.maxTokens(config.numHeads()));
    }

    /**
     * HF's {@code encoder_outputs.last_hidden_state} of ragged rows (padded on the right with
     * pad_token_id and masked there): {@code [B, Lmax, d_model]} F32, owned by the caller
     * ({@link T5Encoder#forward(int[][])}).
     */
    public Tensor encode(int[][] ids) {
        ensureOpen();
        checkInputs("encode", ids);
        return encoder.forward(ids);
    }

    /**
     * Teacher-forced logits, HF's {@code T5ForConditionalGeneration(input_ids, attention_mask,
     * decoder_input_ids).logits}: {@code [B, T, vocab]} F32, owned by the caller. The input rows may
     * differ in length (padded and masked as a tokenizer pads them); the decoder rows are one length
     * T (HF's decoder_input_ids tensor, no decoder mask).
     *
     * @param inputIds        {@code [B][len_s]} ids in {@code [0, vocab)}, {@code 1 <= len_s <= } the encoder's maxTokens()
     * @param decoderInputIds {@code [B][T]} ids in {@code [0, vocab)}, {@code 1 <= T <= }{@link #maxDecoderTokens()}
     * @throws IllegalArgumentException naming the argument, row and column of a bad id or length
     */
    public Tensor forward(int[][] inputIds, int[][] decoderInputIds) {
        ensureOpen();
        int b = checkInputs("forward", inputIds);
        if (decoderInputIds == null || decoderInputIds.length != b) {
            throw new IllegalArgumentException("forward: decoderInputIds has " + (decoderInputIds == null ? "no" : decoderInputIds.length)
                    + " rows; inputIds has " + b);
        }
        int t = decoderInputIds[0] == null ? 0 : decoderInputIds[0].length, cap = maxDecoderTokens();
        for (int s = 0; s < b; s++) {
            int[] row = decoderInputIds[s];
            if (row == null || row.length != t || t == 0 || t > cap) {
                throw new IllegalArgumentException("forward: decoderInputIds[" + s + "] has " + (row == null ? "no" : row.length) + " ids; expected "
                        + (t == 0 || t > cap ? "1.." + cap : t + " (every decoder row one length)"));
            }
            checkRow("forward", "decoderInputIds", s, row);
        }
        if ((long) b * t * Math.max(config.vocabSize(), Math.max(config.dModel(), config.dFf())) > MAX_ARRAY) {
            throw new IllegalArgumentException("forward: " + b + " rows of " + t + " decoder tokens are too many for one call; split the batch");
        }
        int[] flat = new int[b * t];
        for (int s = 0; s < b; s++) System.arraycopy(decoderInputIds[s], 0, flat, s * t, t);
        try (Session s = new Session(inputIds, t); Tensor h = s.step(flat, t); Tensor lg = logitsOf(h)) {
            return lg.reshape(b, t, config.vocabSize());
        }
    }

    /**
     * {@link #forward}'s logits computed as generation computes them: one decoder position per step
     * through the incremental cache (for tests: it must equal the one-step forward).
     */
    Tensor forwardIncremental(int[][] inputIds, int[][] decoderInputIds) {
        ensureOpen();
        int b = checkInputs("forwardIncremental", inputIds), t = decoderInputIds[0].length, vocab = config.vocabSize();
        for (int s = 0; s < b; s++) checkRow("forwardIncremental", "decoderInputIds", s, decoderInputIds[s]);
        float[] all = new float[b * t * vocab];
        try (Session session = new Session(inputIds, t)) {
            int[] tok = new int[b];
            for (int p = 0; p < t; p++) {
                for (int s = 0; s < b; s++) tok[s] = decoderInputIds[s][p];
                try (Tensor h = session.step(tok, 1); Tensor l = logitsOf(h)) {
                    float[] v = l.toFloatArray();
                    for (int s = 0; s < b; s++) System.arraycopy(v, s * vocab, all, (s * t + p) * vocab, vocab);
                }
            }
        }
        return device.upload(DType.F32, all, b, t, vocab);
    }

    /** {@link #generate(int[][], GenerationOptions, Decoding.TokenSink)} without streaming. */
    public int[][] generate(int[][] inputIds, GenerationOptions options) {
        return generate(inputIds, options, null);
    }

    /**
     * Generates after each input (lengths may differ; padded and masked) as HF's
     * {@code generate(input_ids, attention_mask, max_new_tokens=N)} does for an encoder-decoder with
     * one beam: the decoder starts from {@code decoder_start_token_id}; each step takes the last
     * position's logits and picks greedily ({@code argmax}, the first maximum) or samples; a sequence
     * ends at a stop id (returned as its last token) or after {@code maxNewTokens} tokens; a
     * finished sequence is fed pad_token_id while the others go on (as HF), which changes nothing
     * for the others. Tokens reach {@code sink} as they are picked. With {@code numBeams > 1}:
     * HF's beam search ({@code num_beams}, {@code length_penalty}, {@code early_stopping}; see
     * {@link #beamSearch}), each input's best finished beam returned, its tokens given to
     * {@code sink} once the search ends.
     *
     * @return each input's new tokens (without the start token)
     * @throws IllegalArgumentException naming the argument for a bad id, an empty input, a null
     *     option or too many tokens
     */
    public int[][] generate(int[][] inputIds, GenerationOptions options, Decoding.TokenSink sink) {
        ensureOpen();
        int b = checkInputs("generate", inputIds);
        if (options == null) throw new IllegalArgumentException("generate: options is null");
        int max = options.maxNewTokens(), cap = maxDecoderTokens();
        if (max > cap) throw new IllegalArgumentException("generate: maxNewTokens is " + max + "; at most " + cap + " for this model");
        int[] stops = options.stopIds() == null ? eosIds : options.stopIds();
        int vocab = config.vocabSize();
        if ((long) b * Math.max(vocab, Math.max(config.dModel(), config.dFf())) > MAX_ARRAY) {
            throw new IllegalArgumentException("generate: " + b + " inputs are too many for one call; split the batch");
        }
        int[][] out = new int[b][];
        int[] count = new int[b];
        for (int s = 0; s < b; s++) out[s] = new int[Math.max(max, 1)];
        if (max == 0) {
            for (int s = 0; s < b; s++) out[s] = new int[0];
            return out;
        }
        if (options.numBeams() > 1) {
            if ((long) b * options.numBeams() * Math.max(vocab, Math.max(config.dModel(), config.dFf())) > MAX_ARRAY) {
                throw new IllegalArgumentException("generate: " + b + " inputs × " + options.numBeams() + " beams are too many for one call; split the batch");
            }
            int keep = Math.max(2, 1 + stops.length) * options.numBeams();
            if (keep > options.numBeams() * vocab) {
                throw new IllegalArgumentException("generate: " + options.numBeams() + " beams keep " + keep + " candidates per step, more than the "
                        + options.numBeams() * vocab + " the vocabulary offers");
            }
            int[][] best = beamSearch(inputIds, options, stops);
            if (sink != null) for (int s = 0; s < b; s++) for (int t : best[s]) sink.accept(s, t);
            return best;
        }
        Sampling sampling = options.greedyPick() ? Sampling.greedy() : options.sampling();
        Random[] rngs = new Random[b];
        for (int s = 0; s < b; s++) rngs[s] = sampling.newRandom(s);
        boolean[] done = new boolean[b];
        int[] next = new int[b];
        Arrays.fill(next, startId);
        int[] start = {startId}; // HF's input_ids of the decoder begin with the start token
        try (Session session = new Session(inputIds, max)) {
            for (int step = 0; step < max; step++) {
                float[] lg;
                try (Tensor h = session.step(next, 1); Tensor l = logitsOf(h)) {
                    lg = l.toFloatArray();
                }
                boolean all = true;
                for (int s = 0; s < b; s++) {
                    if (done[s]) {
                        next[s] = config.padTokenId();
                        continue;
                    }
                    options.rules().apply(lg, s * vocab, vocab, start, out[s], count[s], stops);
                    int tok = sampling.pick(lg, s * vocab, vocab, rngs[s]);
                    out[s][count[s]++] = tok;
                    next[s] = tok;
                    if (sink != null) sink.accept(s, tok);
                    for (int e : stops) if (e == tok) done[s] = true;
                    all &= done[s];
                }
                if (all) break;
            }
        }
        for (int s = 0; s < b; s++) out[s] = Arrays.copyOf(out[s], count[s]);
        return out;
    }

    /** -1e9 in float32: what HF adds to a beam score to rule it out. */
    private static final float OUT = -1.0e9f;

    /**
     * HF's beam search ({@code generate(num_beams=k)} without sampling; transformers' vectorised
     * {@code _beam_search}), per input over its k running beams and its k finished ones, with
     * {@code max_length = 1 + maxNewTokens} (the start token counts):
     * <pre>
     * running scores start [0, −1e9, ..]; finished scores all −1e9
     * each step (cur_len = decoded length, start token included):
     *   cand = top max(2, 1 + #eos)·k of (running score + log_softmax(logits)) over k·vocab (sorted)
     *   hit  = the candidate's token is an eos, or cur_len + 1 ≥ max_length
     *   running ← top k of (cand score − 1e9·hit)
     *   finished ← top k of finished ∪ cand scored cand / (cur_len + 1 − 1)^length_penalty,
     *              −1e9 unless (hit and among the first k), −1e9 when the heuristic is satisfied,
     *              −1e9 when every slot is finished and early_stopping is True
     *   cur_len += 1
     *   unsatisfied &= any over slots of best running / L^length_penalty > (slot finished ? worst finished : −1e9),
     *                  L = max_length − 1 for "never" with a positive penalty, else cur_len − 1
     *   stop unless (any unsatisfied) and not (all finished and early_stopping True) and not (every candidate hit)
     * </pre>
     * The answer is finished slot 0 (its eos included). Scores are float32 as HF's; log_softmax on
     * the host. The self-attention cache follows each running beam's source row.
     */
    private int[][] beamSearch(int[][] inputIds, GenerationOptions o, int[] stops) {
        int b = inputIds.length, nb = o.numBeams(), vocab = config.vocabSize(), max = o.maxNewTokens(), maxLength = 1 + max;
        int keep = Math.max(2, 1 + stops.length) * nb;
        double lp = o.lengthPenalty();
        GenerationOptions.EarlyStopping early = o.earlyStopping();
        float[][] run = new float[b][nb], fin = new float[b][nb];
        int[][][] runSeq = new int[b][nb][0], finSeq = new int[b][nb][0];
        boolean[][] finDone = new boolean[b][nb];
        boolean[] unsat = new boolean[b];
        for (int s = 0; s < b; s++) {
            Arrays.fill(run[s], 1, nb, OUT);
            Arrays.fill(fin[s], OUT);
            unsat[s] = true;
        }
        int[] next = new int[b * nb], src = new int[b * nb];
        Arrays.fill(next, startId);
        try (Session session = new Session(inputIds, max, nb)) {
            for (int step = 0; step < max; step++) {
                int curLen = 1 + step;
                float[] lg;
                try (Tensor h = session.step(next, 1); Tensor l = logitsOf(h)) {
                    lg = l.toFloatArray();
                }
                for (int r = 0; r < b * nb; r++) logSoftmax(lg, r * vocab, vocab);
                if (!o.rules().isNone()) {
                    // HF applies its logits processors to the log-probabilities here, each beam's over its own tokens
                    int[] start = {startId};
                    for (int s = 0; s < b; s++) {
                        for (int j = 0; j < nb; j++) o.rules().apply(lg, (s * nb + j) * vocab, vocab, start, runSeq[s][j], runSeq[s][j].length, stops);
                    }
                }
                boolean anyOpen = false;
                boolean earlyTrue = early == GenerationOptions.EarlyStopping.TRUE;
                for (int s = 0; s < b; s++) {
                    // the top `keep` of running score + log-probability over (beam, token), sorted, lower index first on ties
                    int[] cand = topK(lg, s * nb * vocab, nb * vocab, keep, run[s], vocab);
                    float[] score = new float[keep];
                    boolean[] hit = new boolean[keep];
                    for (int i = 0; i < keep; i++) {
                        int beam = cand[i] / vocab, tok = cand[i] % vocab;
                        score[i] = run[s][beam] + lg[(s * nb + beam) * vocab + tok];
                        hit[i] = curLen + 1 >= maxLength || contains(stops, tok);
                        anyOpen |= !hit[i];
                    }
                    // finished: merge the old slots with the candidates that just finished among the first nb
                    float denom = (float) Math.pow(curLen, lp);
                    boolean full = earlyTrue;
                    for (boolean f : finDone[s]) full &= f;
                    float[] merged = new float[nb + keep];
                    System.arraycopy(fin[s], 0, merged, 0, nb);
                    for (int i = 0; i < keep; i++) {
                        float sc = score[i] / denom;
                        if (full) sc += OUT;
                        if (!unsat[s]) sc += OUT;
                        if (!(hit[i] && i < nb)) sc += OUT;
                        merged[nb + i] = sc;
                    }
                    int[] pick = order(merged, nb);
                    float[] nf = new float[nb];
                    int[][] ns = new int[nb][];
                    boolean[] nd = new boolean[nb];
                    for (int j = 0; j < nb; j++) {
                        int m = pick[j];
                        nf[j] = merged[m];
                        if (m < nb) {
                            ns[j] = finSeq[s][m];
                            nd[j] = finDone[s][m];
                        } else {
                            int i = m - nb;
                            ns[j] = append(runSeq[s][cand[i] / vocab], cand[i] % vocab);
                            nd[j] = hit[i] && i < nb;
                        }
                    }
                    fin[s] = nf;
                    finSeq[s] = ns;
                    finDone[s] = nd;
                    // running: the best nb candidates that did not finish
                    float[] masked = new float[keep];
                    for (int i = 0; i < keep; i++) masked[i] = hit[i] ? score[i] + OUT : score[i];
                    int[] go = order(masked, nb);
                    int[][] rs = new int[nb][];
                    for (int j = 0; j < nb; j++) {
                        int i = go[j], beam = cand[i] / vocab, tok = cand[i] % vocab;
                        rs[j] = append(runSeq[s][beam], tok);
                        run[s][j] = masked[i];
                        src[s * nb + j] = s * nb + beam;
                        next[s * nb + j] = tok;
                    }
                    runSeq[s] = rs;
                }
                int len = curLen + 1;
                boolean improvable = false, allFinished = true;
                for (int s = 0; s < b; s++) {
                    int hypo = early == GenerationOptions.EarlyStopping.NEVER && lp > 0 ? maxLength - 1 : len - 1;
                    float best = run[s][0] / (float) Math.pow(hypo, lp);
                    float worst = Float.POSITIVE_INFINITY;
                    for (float f : fin[s]) worst = Math.min(worst, f);
                    boolean any = false;
                    for (int k = 0; k < nb; k++) {
                        any |= best > (finDone[s][k] ? worst : OUT);
                        allFinished &= finDone[s][k];
                    }
                    unsat[s] &= any;
                    improvable |= unsat[s];
                }
                if (!improvable || (allFinished && earlyTrue) || !anyOpen) break;
                session.reorder(src);
            }
        }
        int[][] out = new int[b][];
        for (int s = 0; s < b; s++) out[s] = finSeq[s][0];
        return out;
    }

    /** In place: {@code v[off..off+n) − max − log Σ exp(v − max)}, float32 results as torch's log_softmax. */
    private static void logSoftmax(float[] v, int off, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) m = Math.max(m, v[off + i]);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.exp((double) v[off + i] - m);
        float lse = (float) Math.log(sum);
        for (int i = 0; i < n; i++) v[off + i] = (v[off + i] - m) - lse;
    }

    /** Indices of the {@code k} best of {@code run[i / vocab] + v[off + i]} for i in [0, n), best first, the lower index first on ties. */
    private static int[] topK(float[] v, int off, int n, int k, float[] run, int vocab) {
        // a min-heap of the best k: worst at the root (lower score, or on equal scores the higher index)
        int[] heap = new int[k];
        float[] hs = new float[k];
        int size = 0;
        for (int i = 0; i < n; i++) {
            float sc = run[i / vocab] + v[off + i];
            if (size < k) {
                int c = size++;
                while (c > 0) {
                    int p = (c - 1) / 2;
                    if (!worse(sc, i, hs[p], heap[p])) break;
                    heap[c] = heap[p];
                    hs[c] = hs[p];
                    c = p;
                }
                heap[c] = i;
                hs[c] = sc;
            } else if (worse(hs[0], heap[0], sc, i)) {
                int c = 0;
                while (true) {
                    int l = 2 * c + 1, r = l + 1, w = c;
                    float ws = sc;
                    int wi = i;
                    if (l < k && worse(hs[l], heap[l], ws, wi)) {
                        w = l;
                        ws = hs[l];
                        wi = heap[l];
                    }
                    if (r < k && worse(hs[r], heap[r], ws, wi)) {
                        w = r;
                        ws = hs[r];
                        wi = heap[r];
                    }
                    if (w == c) break;
                    heap[c] = heap[w];
                    hs[c] = hs[w];
                    c = w;
                }
                heap[c] = i;
                hs[c] = sc;
            }
        }
        Integer[] idx = new Integer[size];
        for (int j = 0; j < size; j++) idx[j] = j;
        Arrays.sort(idx, (x, y) -> worse(hs[x], heap[x], hs[y], heap[y]) ? 1 : worse(hs[y], heap[y], hs[x], heap[x]) ? -1 : 0);
        int[] out = new int[size];
        for (int j = 0; j < size; j++) out[j] = heap[idx[j]];
        return out;
    }

    /** Whether (score a, index ia) ranks below (score b, index ib): a lower score, or an equal one at a higher index. */
    private static boolean worse(float a, int ia, float b, int ib) {
        return a < b || (a == b && ia > ib);
    }

    /** The positions of the {@code k} largest of {@code v}, largest first, the lower position first on ties. */
    private static int[] order(float[] v, int k) {
        Integer[] idx = new Integer[v.length];
        for (int i = 0; i < v.length; i++) idx[i] = i;
        Arrays.sort(idx, (x, y) -> v[x] != v[y] ? Float.compare(v[y], v[x]) : Integer.compare(x, y));
        int[] out = new int[k];
        for (int i = 0; i < k; i++) out[i] = idx[i];
        return out;
    }

    private static int[] append(int[] a, int t) {
        int[] r = Arrays.copyOf(a, a.length + 1);
        r[a.length] = t;
        return r;
    }

    private static boolean contains(int[] a, int v) {
        for (int x : a) if (x == v) return true;
        return false;
    }

    /** Logits {@code [rows, vocab]} of final hidden states {@code [rows, d_model]}: T5's scaling before a tied head. */
    private Tensor logitsOf(Tensor hidden) {
        if (!tied) return head.linear(hidden, null);
        try (Tensor scaled = Elementwise.scale(hidden, (float) Math.pow(config.dModel(), -0.5))) {
            return head.linear(scaled, null);
        }
    }

    /**
     * One call's decoder state: the encoder output's cross-attention keys (transposed,
     * {@code [B·H, d_kv, S]}) and values ({@code [B·H, S, d_kv]}) per block, the encoder mask, and
     * the self-attention cache per block: key cells {@code [B·H·d_kv·Tmax, 1]} (cell
     * {@code ((b·H + h)·d_kv + c)·Tmax + pos}) and value rows {@code [B·H·Tmax, d_kv]} (row
     * {@code (b·H + h)·Tmax + pos}).
     */
    private final class Session implements AutoCloseable {
        private final int b, tMax, sMax, h = config.numHeads(), dkv = config.dKv();
        private final int[] lens;
        private final Tensor[] crossKT, crossV, selfK, selfV;
        private final List<Tensor> owned = new ArrayList<>();
        private int past;

        Session(int[][] inputIds, int tMax) {
            this(inputIds, tMax, 1);
        }

        /** Decoder rows {@code r} over input {@code r / repeat} (the beams of an input share its encoder pass). */
        Session(int[][] inputIds, int tMax, int repeat) {
            this.b = inputIds.length * repeat;
            this.tMax = tMax;
            this.lens = new int[b];
            int n = 0, total = 0;
            int[] from = new int[b];
            for (int i = 0, at = 0; i < inputIds.length; at += inputIds[i].length, i++) {
                for (int k = 0; k < repeat; k++) {
                    lens[i * repeat + k] = inputIds[i].length;
                    from[i * repeat + k] = at;
                }
                n = Math.max(n, inputIds[i].length);
                total += inputIds[i].length;
            }
            this.sMax = n;
            int nl = layers.size(), inner = h * dkv;
            if ((long) b * inner * Math.max(sMax, tMax) > MAX_ARRAY) {
                throw new IllegalArgumentException("T5 decoder: " + b + " rows of up to " + sMax + " input and " + tMax
                        + " decoder tokens are too many for one call; split the batch");
            }
            crossKT = new Tensor[nl];
            crossV = new Tensor[nl];
            selfK = new Tensor[nl];
            selfV = new Tensor[nl];
            try (Scope sc = Scope.open()) {
                Tensor enc = sc.track(encoder.forwardPacked(inputIds));
                // padded slots repeat the row's last real position: finite values that the mask zeroes
                int[] kIds = new int[b * inner * sMax], vIds = new int[b * h * sMax];
                for (int s = 0; s < b; s++) {
                    for (int hh = 0; hh < h; hh++) {
                        for (int j = 0; j < sMax; j++) {
                            int row = from[s] + Math.min(j, lens[s] - 1);
                            vIds[(s * h + hh) * sMax + j] = row * h + hh;
                            for (int c = 0; c < dkv; c++) kIds[((s * h + hh) * dkv + c) * sMax + j] = row * inner + hh * dkv + c;
                        }
                    }
                }
                Tensor kI = sc.track(device.upload(kIds, kIds.length)), vI = sc.track(device.upload(vIds, vIds.length));
                for (int l = 0; l < nl; l++) {
                    Layer ly = layers.get(l);
                    Tensor k = sc.track(ly.pck.linear(enc, null)), v = sc.track(ly.pcv.linear(enc, null));
                    Tensor kc = sc.track(Gather.rows(sc.track(k.reshape((long) total * inner, 1)), kI));
                    crossKT[l] = own(kc.reshape(b * h, dkv, sMax));
                    Tensor vr = sc.track(Gather.rows(sc.track(v.reshape((long) total * h, dkv)), vI));
                    crossV[l] = own(vr.reshape(b * h, sMax, dkv));
                    selfK[l] = own(device.zeros(DType.F32, (long) b * inner * tMax, 1));
                    selfV[l] = own(device.zeros(DType.F32, (long) b * h * tMax, dkv));
                }
            } catch (RuntimeException | Error e) {
                close();
                throw e;
            }
        }

        private Tensor own(Tensor t) {
            owned.add(t);
            return t;
        }

        /**
         * Feeds {@code tq} decoder tokens per row ({@code tokens [B·tq]}, row-major) at positions
         * {@code past..past+tq−1}, writing their keys and values to the cache; returns the final
         * hidden states {@code [B·tq, d_model]}, owned by the caller.
         */
        Tensor step(int[] tokens, int tq) {
            int len = past + tq, inner = h * dkv;
            if (len > tMax) throw new IllegalStateException("T5 decoder: position " + len + " past the cache's " + tMax);
            if ((long) h * tq * len > MAX_ARRAY || (long) b * h * tq * Math.max(len, sMax) > MAX_ARRAY) {
                throw new IllegalArgumentException("T5 decoder: " + b + " rows of " + tq + " x " + len + " scores are too many for one call");
            }
            Tensor x = Rows.gather(encoder.embedding(), tokens);
            try (Scope sc = Scope.open()) {
                int[] wk = new int[b * tq * inner], wv = new int[b * tq * h], rk = new int[b * inner * len], rv = new int[b * h * len];
                int[] heads = new int[b * h * tq], back = new int[b * tq * h];
                for (int s = 0; s < b; s++) {
                    for (int hh = 0; hh < h; hh++) {
                        int bh = s * h + hh;
                        for (int t = 0; t < tq; t++) {
                            int r = s * tq + t, pos = past + t;
                            wv[r * h + hh] = bh * tMax + pos;
                            for (int c = 0; c < dkv; c++) wk[r * inner + hh * dkv + c] = (bh * dkv + c) * tMax + pos;
                            heads[bh * tq + t] = r * h + hh;
                            back[r * h + hh] = bh * tq + t;
                        }
                        for (int j = 0; j < len; j++) {
                            rv[bh * len + j] = bh * tMax + j;
                            for (int c = 0; c < dkv; c++) rk[(bh * dkv + c) * len + j] = (bh * dkv + c) * tMax + j;
                        }
                    }
                }
                Tensor wkI = sc.track(device.upload(wk, wk.length)), wvI = sc.track(device.upload(wv, wv.length));
                Tensor rkI = sc.track(device.upload(rk, rk.length)), rvI = sc.track(device.upload(rv, rv.length));
                Tensor headI = sc.track(device.upload(heads, heads.length)), backI = sc.track(device.upload(back, back.length));
                Tensor bias = sc.track(device.upload(DType.F32, selfBias(tq, len), h, tq, len));
                float[] m = crossMask(tq);
                Tensor mask = m == null ? null : sc.track(device.upload(DType.F32, m, (long) b * h, tq, sMax));
                float eps = config.eps();
                for (int l = 0; l < layers.size(); l++) {
                    Layer ly = layers.get(l);
                    try (Scope s = Scope.open()) {
                        Tensor n = s.track(RmsNorm.rmsNorm(x, ly.ln0, eps));
                        Tensor q = s.track(ly.psq.linear(n, null));
                        Tensor k = s.track(ly.psk.linear(n, null));
                        Tensor v = s.track(ly.psv.linear(n, null));
                        Scatter.rows(s.track(k.reshape((long) b * tq * inner, 1)), wkI, selfK[l]);
                        Scatter.rows(s.track(v.reshape((long) b * tq * h, dkv)), wvI, selfV[l]);
                        Tensor kT = s.track(s.track(Gather.rows(selfK[l], rkI)).reshape(b * h, dkv, len));
                        Tensor vs = s.track(s.track(Gather.rows(selfV[l], rvI)).reshape(b * h, len, dkv));
                        Tensor a = s.track(attend(q, kT, vs, tq, len, headI, backI, bias, null));
                        RmsNorm.Added r1 = RmsNorm.addRmsNorm(s.track(ly.pso.linear(a, null)), x, ly.ln1, eps);
                        s.track(r1.sum());
                        s.track(r1.normed());
                        Tensor qc = s.track(ly.pcq.linear(r1.normed(), null));
                        Tensor c = s.track(attend(qc, crossKT[l], crossV[l], tq, sMax, headI, backI, null, mask));
                        RmsNorm.Added r2 = RmsNorm.addRmsNorm(s.track(ly.pco.linear(c, null)), r1.sum(), ly.ln2, eps);
                        s.track(r2.sum());
                        s.track(r2.normed());
                        Tensor f = s.track(feedForward(s, ly, r2.normed()));
                        Tensor x2 = Elementwise.add(r2.sum(), f);
                        x.close();
                        x = x2;
                    }
                }
                Tensor out = RmsNorm.rmsNorm(x, finalLn, eps);
                past = len;
                return out;
            } finally {
                x.close();
            }
        }

        /**
         * {@code softmax(q·kᵀ + terms)·v} per (row, head): {@code q [B·tq, H·d_kv]}, {@code kT [B·H, d_kv, L]},
         * {@code v [B·H, L, d_kv]}; {@code bias [H, tq, L]} and {@code mask [B·H, tq, L]} added when not null.
         * Returns {@code [B·tq, H·d_kv]}, owned by the caller.
         */
        private Tensor attend(Tensor q, Tensor kT, Tensor v, int tq, int len, Tensor headI, Tensor backI, Tensor bias, Tensor mask) {
            try (Scope s = Scope.open()) {
                Tensor qh = s.track(s.track(Gather.rows(s.track(q.reshape((long) b * tq * h, dkv)), headI)).reshape(b * h, tq, dkv));
                Tensor scores = s.track(Gemm.matmul(qh, kT));
                if (bias != null) scores = s.track(Elementwise.add(s.track(scores.reshape(b, h, tq, len)), bias));
                if (mask != null) scores = s.track(Elementwise.add(scores, mask));
                Tensor p = s.track(s.track(Softmax.softmax(scores)).reshape(b * h, tq, len));
                Tensor ctx = s.track(Gemm.matmul(p, v));
                Tensor rows = s.track(Gather.rows(s.track(ctx.reshape((long) b * h * tq, dkv)), backI));
                return rows.reshape(b * tq, h * dkv);
            }
        }

        /** {@code [H, tq, len]}: rel[causalBucket(j − i)] for key j ≤ query i (at past + t), plus the float32 minimum after it. */
        private float[] selfBias(int tq, int len) {
            int[] bucketOf = new int[len];
            for (int dist = 0; dist < len; dist++) bucketOf[dist] = causalBucket(-dist, config.buckets(), config.maxDistance());
            float[] v = new float[h * tq * len];
            for (int hh = 0; hh < h; hh++) {
                for (int t = 0; t < tq; t++) {
                    int i = past + t, base = (hh * tq + t) * len;
                    // a key after the query has bucket 0 (the bias HF adds the causal mask to)
                    for (int j = 0; j < len; j++) v[base + j] = j <= i ? relBias[bucketOf[i - j] * h + hh] : relBias[hh] + -Float.MAX_VALUE;
                }
            }
            return v;
        }

        /** {@code [B·H, tq, S]}: the float32 minimum at each row's padded encoder positions; null when no row is padded. */
        private float[] crossMask(int tq) {
            boolean any = false;
            for (int len : lens) any |= len != sMax;
            if (!any) return null;
            float[] v = new float[b * h * tq * sMax];
            for (int s = 0; s < b; s++) {
                for (int r = 0; r < h * tq; r++) {
                    int base = (s * h * tq + r) * sMax;
                    Arrays.fill(v, base + lens[s], base + sMax, -Float.MAX_VALUE);
                }
            }
            return v;
        }

        /**
         * Row r of the self-attention cache becomes row {@code from[r]}'s (the beams' reordering):
         * each block's key cells and value rows gathered into new tensors that replace the old.
         */
        void reorder(int[] from) {
            int inner = h * dkv;
            int[] kIds = new int[b * inner * tMax], vIds = new int[b * h * tMax];
            for (int r = 0; r < b; r++) {
                for (int hh = 0; hh < h; hh++) {
                    int dst = r * h + hh, srcRow = from[r] * h + hh;
                    for (int p = 0; p < tMax; p++) vIds[dst * tMax + p] = srcRow * tMax + p;
                    for (int c = 0; c < dkv; c++) {
                        for (int p = 0; p < tMax; p++) kIds[(dst * dkv + c) * tMax + p] = (srcRow * dkv + c) * tMax + p;
                    }
                }
            }
            try (Tensor kI = device.upload(kIds, kIds.length); Tensor vI = device.upload(vIds, vIds.length)) {
                for (int l = 0; l < layers.size(); l++) {
                    selfK[l] = replace(selfK[l], Gather.rows(selfK[l], kI));
                    selfV[l] = replace(selfV[l], Gather.rows(selfV[l], vI));
                }
            }
        }

        private Tensor replace(Tensor old, Tensor now) {
            owned.set(owned.indexOf(old), now);
            old.close();
            return now;
        }

        @Override
        public void close() {
            for (Tensor t : owned) t.close();
            owned.clear();
        }
    }

    /** {@code wo(act(wi n))} or {@code wo(act(wi_0 n) ⊙ wi_1 n)}; temporaries tracked by {@code s}. */
    private Tensor feedForward(Scope s, Layer l, Tensor n) {
        Tensor hidden;
        if (config.gated()) {
            Tensor g = s.track(encoder.activate(s.track(l.pi0.linear(n, null))));
            hidden = s.track(Elementwise.mul(g, s.track(l.pi1.linear(n, null))));
        } else {
            hidden = s.track(encoder.activate(s.track(l.pi.linear(n, null))));
        }
        return l.pff.linear(hidden, null);
    }

    /**
     * T5's decoder bucket of {@code relative = key index − query index}, unidirectional
     * ({@code _relative_position_bucket(relative, bidirectional=False, buckets, maxDistance)}): keys
     * after the query all fall in bucket 0 (the causal mask hides them); for a key {@code n} before
     * the query, distances below half the buckets are exact, longer ones log-spaced up to
     * {@code maxDistance}, beyond it the last bucket. The logarithm and scaling in float32, as torch.
     */
    public static int causalBucket(int relative, int buckets, int maxDistance) {
        long n = relative >= 0 ? 0 : -(long) relative;
        int exact = buckets / 2;
        if (n < exact) return (int) n;
        float lg = (float) Math.log((float) n / exact);
        float scaled = lg / (float) Math.log((double) maxDistance / exact) * (buckets - exact);
        return Math.min(exact + (int) scaled, buckets - 1);
    }

    /** Checks ragged input rows (1..the encoder's maxTokens() ids in [0, vocab)); returns B. */
    private int checkInputs(String op, int[][] ids) {
        if (ids == null || ids.length == 0) throw new IllegalArgumentException(op + ": inputIds is null or empty");
        int cap = encoder.maxTokens();
        for (int s = 0; s < ids.length; s++) {
            if (ids[s] == null || ids[s].length == 0 || ids[s].length > cap) {
                throw new IllegalArgumentException(op + ": inputIds[" + s + "] has " + (ids[s] == null ? "no" : ids[s].length) + " ids; expected 1.." + cap);
            }
            checkRow(op, "inputIds", s, ids[s]);
        }
        return ids.length;
    }

    private void checkRow(String op, String name, int s, int[] row) {
        for (int t = 0; t < row.length; t++) {
            if (row[t] < 0 || row[t] >= config.vocabSize()) {
                throw new IllegalArgumentException(op + ": " + name + "[" + s + "][" + t + "] is " + row[t] + "; expected a value in [0, "
                        + config.vocabSize() + ")");
            }
        }
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("T5ForConditionalGeneration is closed");
    }

    /** Frees the weights (the encoder's too); idempotent. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        for (Layer l : layers) for (Tensor t : l.all()) if (t != null) t.close();
        finalLn.close();
        if (lmHead != null) lmHead.close();
        encoder.close();
    }
}
