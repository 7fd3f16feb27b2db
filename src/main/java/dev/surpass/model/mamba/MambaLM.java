package dev.surpass.model.mamba;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.io.TensorInfo;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.RmsNorm;
import dev.surpass.scan.CausalConv1d;
import dev.surpass.scan.ConvOutput;
import dev.surpass.scan.ScanOutput;
import dev.surpass.scan.SelectiveScan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.IntConsumer;

/**
 * A Mamba-1 or Mamba-2 language model (mamba_ssm {@code MambaLMHeadModel} / HF
 * {@code MambaForCausalLM}, {@code Mamba2ForCausalLM}, {@code FalconMambaForCausalLM}).
 * <pre>
 * h = embedding[ids];  residual = 0
 * per layer:  residual = h + residual;  h = Mixer(RMSNorm(residual))          (Add → Norm → Mixer)
 * logits = lm_head(RMSNorm_f(h + residual))
 * Mamba-1 mixer(h): x, z = in_proj(h) rows [x | z];  x = silu(causal_conv1d(x))
 *           dt, B, C = x_proj(x) rows [dt | B | C]
 *           (FalconMamba: dt, B, C = each RMS-normalised over its own axis, no weight, mixer_rms_eps)
 *           dt = dt_proj.weight · dt
 *           y = selective_scan(x, dt, A = −exp(A_log), B, C, D, z, delta_bias = dt_proj.bias, softplus)
 *           out = out_proj(y)
 * Mamba-2 mixer(h): z, xBC, dt = in_proj(h) rows [z | x B C | dt (one per head)]
 *           x, B, C = silu(causal_conv1d(xBC));  per head h of P channels, B and C of its group:
 *           y = selective_scan(x, dt[h], A = −exp(A_log[h]), B, C, D[h], delta_bias = dt_bias[h], softplus)
 *           y = RMSNorm(y · silu(z)) · norm.weight        (per group of channels in mamba_ssm, over all in HF)
 *           out = out_proj(y)
 * </pre>
 * Mamba-2's scan (SSD) is Mamba-1's recurrence with A, Δ, its bias and D constant over a head's
 * channels, so both run through {@link SelectiveScan}: a head's Δ is gathered onto its P channels and
 * A, dt_bias and D are expanded once at load (the result is the SSD's, computed sequentially).
 *
 * <p>Weights are loaded as F32 on the model's device (bf16/fp16 checkpoints are widened), so the
 * residual stream and all arithmetic are fp32. Prefill runs the parallel scan over the prompt;
 * decoding carries a {@link MambaState} (conv + SSM state per layer, constant memory).
 *
 * <p>Logits have {@link #logitsWidth()} columns: the checkpoint's padded vocabulary, like
 * mamba_ssm; sampling only picks ids below {@code config().vocabSize()}.
 *
 * <p>Thread rules: a loaded model is read-only and may run from several threads, each with its own
 * {@link MambaState}; {@link #close} must not race with a forward pass.
 */
public final class MambaLM implements AutoCloseable {
    /** One block's weights (all F32 on the model's device). */
    static final class Layer {
        Tensor norm;      // [d_model]                 layers.i.norm.weight
        Tensor inProj;    // [2·d_inner, d_model]      in_proj.weight (rows [x | z]); inX and inZ are views of it
        Tensor xProj;     // [dt_rank + 2·d_state, d_inner]  x_proj.weight (rows [dt | B | C]); xpDt, xpB, xpC are views
        Tensor inX;       // [d_inner, d_model]        in_proj.weight rows [0, d_inner)
        Tensor inZ;       // [d_inner, d_model]        in_proj.weight rows [d_inner, 2·d_inner)
        Tensor convW;     // [d_inner, d_conv]         conv1d.weight [d_inner, 1, d_conv]
        Tensor convB;     // [d_inner] or null         conv1d.bias
        Tensor xpDt;      // [dt_rank, d_inner]        x_proj.weight rows [0, dt_rank)
        Tensor xpB;       // [d_state, d_inner]        x_proj.weight rows [dt_rank, dt_rank + d_state)
        Tensor xpC;       // [d_state, d_inner]        x_proj.weight rows [dt_rank + d_state, dt_rank + 2·d_state)
        Tensor dtW;       // [d_inner, dt_rank]        dt_proj.weight
        Tensor dtB;       // [d_inner]                 dt_proj.bias (the scan's delta_bias)
        Tensor a;         // [d_inner, d_state]        A = −exp(A_log)
        Tensor d;         // [d_inner]                 D
        Tensor outW;      // [d_model, d_inner]        out_proj.weight
        // Mamba-2 only (inProj rows [z | x | B | C | dt]; convW rows [x | B | C]; dtB, a, d expanded per channel)
        Tensor inB, inC;  // [G·N, d_model]            in_proj rows of B and C (views)
        Tensor inDt;      // [H, d_model]              in_proj rows of dt (view)
        Tensor cwX, cwB, cwC; // [d_inner | G·N, d_conv] conv1d.weight rows of x, B, C (views)
        Tensor cbX, cbB, cbC; // [d_inner | G·N] or null conv1d.bias parts (views)
        Tensor gnorm;     // [d_inner] or null         mixer.norm.weight (the gated RMSNorm)

        void close() {
            for (Tensor t : new Tensor[] {norm, inX, inZ, inB, inC, inDt, inProj, cwX, cwB, cwC, cbX, cbB, cbC, convW, convB, xpDt, xpB,
                    xpC, xProj, dtW, dtB, a, d, gnorm, outW}) {
                if (t != null) t.close();
            }
        }
    }

    /** Which state-dict naming the checkpoint uses. */
    public enum Naming { MAMBA_SSM, HF }

    private final Device device;
    private final MambaConfig config;
    private final Naming naming;
    private final Tensor embedding; // [vocab_rows, d_model]  backbone.embedding(s).weight
    private final Tensor normF;     // [d_model]              backbone.norm_f.weight
    private final Tensor lmHead;    // [vocab_rows, d_model]  lm_head.weight, or the embedding when tied
    private final boolean tied;
    private final List<Layer> layers;
    private final Tensor headOfChannel; // Mamba-2: I32 [d_inner], channel d → its head d / P (gathers Δ per channel); else null
    private boolean closed;

    private MambaLM(Device device, MambaConfig config, Naming naming, Tensor embedding, Tensor normF, Tensor lmHead,
                    boolean tied, List<Layer> layers, Tensor headOfChannel) {
        this.device = device;
        this.config = config;
        this.naming = naming;
        this.embedding = embedding;
        this.normF = normF;
        this.lmHead = lmHead;
        this.tied = tied;
        this.layers = layers;
        this.headOfChannel = headOfChannel;
    }

    public MambaConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    public Naming naming() {
        return naming;
    }

    /** True when lm_head is the embedding matrix. */
    public boolean tiedHead() {
        return tied;
    }

    /** The embedding matrix {@code [vocab_rows, d_model]} (owned by the model). */
    Tensor embedding() {
        return embedding;
    }

    /** Columns of the logits: the embedding's rows (the padded vocabulary). */
    public int logitsWidth() {
        return (int) embedding.dim(0);
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Loads {@code dir/config.json} and every {@code dir/*.safetensors} onto {@code device}, in the
     * mamba_ssm or the HF naming (detected from the embedding's key).
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *                                  missing tensor or a tensor of the wrong shape
     */
    public static MambaLM load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("device is null");
        if (dir == null || !Files.isDirectory(dir)) throw new IllegalArgumentException(dir + ": not a folder with config.json and *.safetensors");
        MambaConfig cfg = MambaConfig.load(dir);
        if (cfg.projBias()) {
            throw new IllegalArgumentException(dir.resolve("config.json") + ": in_proj/out_proj biases (bias/use_bias = true) are not supported");
        }
        List<Path> files = dev.surpass.io.PyTorchCheckpoint.weightFiles(dir); // PyTorch *.bin converted as opened when no safetensors
        List<SafeTensorsFile> opened = new ArrayList<>();
        List<Layer> layers = new ArrayList<>();
        Tensor emb = null, normF = null, head = null, headOfChannel = null;
        try {
            Map<String, SafeTensorsFile> byName = new LinkedHashMap<>();
            for (Path f : files) {
                SafeTensorsFile st = dev.surpass.io.PyTorchCheckpoint.openAsSafeTensors(f);
                opened.add(st);
                for (String n : st.names()) byName.put(n, st);
            }
            Loader ld = new Loader(device, dir, byName);
            String prefix = null;
            Naming naming = null;
            for (String p : new String[] {"backbone.", ""}) {
                if (byName.containsKey(p + "embedding.weight")) {
                    prefix = p;
                    naming = Naming.MAMBA_SSM;
                    break;
                }
                if (byName.containsKey(p + "embeddings.weight")) {
                    prefix = p;
                    naming = Naming.HF;
                    break;
                }
            }
            if (prefix == null) {
                throw new IllegalArgumentException(dir + ": tensor 'backbone.embedding.weight' (mamba_ssm) or 'backbone.embeddings.weight' (HF) is missing; "
                        + byName.size() + " tensors found");
            }
            String embName = prefix + (naming == Naming.HF ? "embeddings.weight" : "embedding.weight");
            long rows = ld.info(embName).rank() == 2 ? ld.info(embName).shape()[0] : -1;
            if (rows < cfg.vocabSize()) {
                throw new IllegalArgumentException(ld.where(embName) + ": tensor '" + embName + "' has shape "
                        + Arrays.toString(ld.info(embName).shape()) + " but config vocab_size " + cfg.vocabSize() + " needs [>= "
                        + cfg.vocabSize() + " (padded to " + cfg.paddedVocab() + "), " + cfg.dModel() + "]");
            }
            int dm = cfg.dModel(), di = cfg.dInner(), n = cfg.dState(), r = cfg.dtRank(), w = cfg.dConv();
            emb = ld.upload(embName, rows, dm);
            boolean tied = !byName.containsKey("lm_head.weight");
            if (tied && !cfg.tieEmbeddings()) {
                throw new IllegalArgumentException(dir + ": tensor 'lm_head.weight' is missing and the config says the head is untied "
                        + "(tie_embeddings/tie_word_embeddings = false)");
            }
            head = tied ? emb : ld.upload("lm_head.weight", rows, dm);
            normF = ld.upload(prefix + "norm_f.weight", dm);
            for (int i = 0; i < cfg.nLayer(); i++) {
                String lp = prefix + "layers." + i + ".";
                String mp = lp + "mixer.";
                Layer l = new Layer();
                layers.add(l);
                l.norm = ld.upload(lp + "norm.weight", dm);
                if (cfg.isMamba2()) {
                    loadMamba2(ld, mp, l, cfg);
                    continue;
                }
                l.inProj = ld.upload(mp + "in_proj.weight", 2L * di, dm);
                l.inX = l.inProj.view(0, di, dm);
                l.inZ = l.inProj.view((long) di * dm, di, dm);
                l.convW = device.upload(DType.F32, ld.read(mp + "conv1d.weight", di, 1, w), di, w);
                if (cfg.convBias()) l.convB = ld.upload(mp + "conv1d.bias", di);
                l.xProj = ld.upload(mp + "x_proj.weight", (long) r + 2L * n, di);
                l.xpDt = l.xProj.view(0, r, di);
                l.xpB = l.xProj.view((long) r * di, n, di);
                l.xpC = l.xProj.view((long) (r + n) * di, n, di);
                l.dtW = ld.upload(mp + "dt_proj.weight", di, r);
                l.dtB = ld.upload(mp + "dt_proj.bias", di);
                float[] aLog = ld.read(mp + "A_log", di, n);
                float[] a = new float[aLog.length];
                for (int k = 0; k < a.length; k++) a[k] = (float) -Math.exp(aLog[k]);
                l.a = device.upload(DType.F32, a, di, n);
                l.d = ld.upload(mp + "D", di);
                l.outW = ld.upload(mp + "out_proj.weight", dm, di);
            }
            if (cfg.isMamba2()) {
                int p = cfg.mamba2().headDim();
                int[] hoc = new int[di];
                for (int c = 0; c < di; c++) hoc[c] = c / p;
                headOfChannel = device.upload(hoc, di);
            }
            return device.ready(new MambaLM(device, cfg, naming, emb, normF, head, tied, layers, headOfChannel));
        } catch (RuntimeException | Error e) {
            if (headOfChannel != null) headOfChannel.close();
            for (Layer l : layers) l.close();
            if (head != null && head != emb) head.close();
            if (emb != null) emb.close();
            if (normF != null) normF.close();
            throw e;
        } finally {
            for (SafeTensorsFile f : opened) f.close();
        }
    }

    /**
     * One Mamba-2 mixer's weights: in_proj and conv1d as stored, with row views of their parts; A,
     * dt_bias and D (one per head) expanded to one entry per channel, A to {@code [d_inner, N]} as the
     * scan takes it.
     */
    private static void loadMamba2(Loader ld, String mp, Layer l, MambaConfig cfg) {
        MambaConfig.Mamba2 m = cfg.mamba2();
        Device device = ld.device();
        int dm = cfg.dModel(), di = cfg.dInner(), n = cfg.dState(), w = cfg.dConv(), h = m.nHeads(), p = m.headDim();
        int gn = m.nGroups() * n, cd = cfg.convChannels();
        l.inProj = ld.upload(mp + "in_proj.weight", 2L * di + 2L * gn + h, dm);
        l.inZ = l.inProj.view(0, di, dm);
        l.inX = l.inProj.view((long) di * dm, di, dm);
        l.inB = l.inProj.view(2L * di * dm, gn, dm);
        l.inC = l.inProj.view((2L * di + gn) * dm, gn, dm);
        l.inDt = l.inProj.view((2L * di + 2L * gn) * dm, h, dm);
        l.convW = device.upload(DType.F32, ld.read(mp + "conv1d.weight", cd, 1, w), cd, w);
        l.cwX = l.convW.view(0, di, w);
        l.cwB = l.convW.view((long) di * w, gn, w);
        l.cwC = l.convW.view((long) (di + gn) * w, gn, w);
        if (cfg.convBias()) {
            l.convB = ld.upload(mp + "conv1d.bias", cd);
            l.cbX = l.convB.view(0, di);
            l.cbB = l.convB.view(di, gn);
            l.cbC = l.convB.view(di + gn, gn);
        }
        float[] aLog = ld.read(mp + "A_log", h);
        float[] dtBias = ld.read(mp + "dt_bias", h);
        float[] dSkip = m.dPerChannel() ? ld.read(mp + "D", di) : ld.read(mp + "D", h);
        float[] a = new float[di * n], bias = new float[di], dd = new float[di];
        for (int c = 0; c < di; c++) {
            float ah = (float) -Math.exp(aLog[c / p]);
            Arrays.fill(a, c * n, (c + 1) * n, ah);
            bias[c] = dtBias[c / p];
            dd[c] = m.dPerChannel() ? dSkip[c] : dSkip[c / p];
        }
        l.a = device.upload(DType.F32, a, di, n);
        l.dtB = device.upload(DType.F32, bias, di);
        l.d = device.upload(DType.F32, dd, di);
        if (m.gatedNorm()) l.gnorm = ld.upload(mp + "norm.weight", di);
        l.outW = ld.upload(mp + "out_proj.weight", dm, di);
    }

    /** Reads named tensors with shape checks that name the file and tensor. */
    private record Loader(Device device, Path dir, Map<String, SafeTensorsFile> files) {
        TensorInfo info(String name) {
            SafeTensorsFile f = files.get(name);
            if (f == null) throw new IllegalArgumentException(dir + ": tensor '" + name + "' is missing from the checkpoint");
            return f.info(name);
        }

        String where(String name) {
            return files.get(name).path().toString();
        }

        float[] read(String name, long... shape) {
            TensorInfo i = info(name);
            if (!Arrays.equals(i.shape(), shape)) {
                throw new IllegalArgumentException(where(name) + ": tensor '" + name + "' has shape " + Arrays.toString(i.shape())
                        + " but the config expects " + Arrays.toString(shape));
            }
            if (i.dtype() == null || !i.dtype().isFloating()) {
                throw new IllegalArgumentException(where(name) + ": tensor '" + name + "' has dtype " + i.dtypeName()
                        + "; expected F32, F16 or BF16");
            }
            try (Device cpu = Device.cpu(); Tensor t = files.get(name).tensor(name, cpu)) {
                return t.toFloatArray();
            }
        }

        Tensor upload(String name, long... shape) {
            return device.upload(DType.F32, read(name, shape), shape);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Forward

    /** A fresh (zero) decode state for {@code batch} sequences. */
    public MambaState newState(int batch) {
        ensureOpen();
        return new MambaState(this, batch);
    }

    /** Logits {@code [B, L, logitsWidth]} F32 for equal-length sequences {@code inputIds[B][L]}. */
    public Tensor forward(int[][] inputIds) {
        ensureOpen();
        if (inputIds == null || inputIds.length == 0) throw new IllegalArgumentException("forward: inputIds is null or empty");
        try (MambaState st = newState(inputIds.length)) {
            return st.prefill(inputIds);
        }
    }

    /** Receives each generated token as soon as it is picked. */
    @FunctionalInterface
    public interface TokenSink {
        /** {@code token} is the next token of prompt {@code sequence} (its index in the batch). */
        void accept(int sequence, int token);
    }

    /**
     * Generates up to {@code maxNewTokens} tokens after {@code prompt}: one prefill, then one decode
     * step per token; each token goes to {@code onToken} (may be null) as soon as it is picked.
     *
     * @return the new tokens
     */
    public int[] generate(int[] prompt, int maxNewTokens, Sampling sampling, IntConsumer onToken) {
        if (prompt == null || prompt.length == 0) throw new IllegalArgumentException("generate: prompt is null or empty");
        return generate(new int[][] {prompt}, maxNewTokens, sampling, null, onToken == null ? null : (b, t) -> onToken.accept(t))[0];
    }

    /**
     * Batched generation for prompts of any lengths: each prompt is prefilled on its own (the
     * parallel scan over its tokens) into its row of one batched {@link MambaState}, then every
     * decode step advances all unfinished sequences together. A sequence stops after
     * {@code maxNewTokens} tokens or after emitting one of {@code stopIds} (which is returned and
     * streamed); finished rows keep stepping with their last token until all are done, their output
     * ignored. Sequence {@code b} samples from its own stream ({@link Sampling#newRandom(int)}), so
     * its tokens do not depend on its batch-mates.
     *
     * @param prompts      {@code [B][L_b]} token ids, each {@code L_b >= 1}
     * @param stopIds      ids that end a sequence (EOS), or null
     * @param onToken      gets {@code (b, token)} as soon as each token is picked; may be null
     * @return the new tokens of each sequence ({@code <= maxNewTokens} each)
     */
    public int[][] generate(int[][] prompts, int maxNewTokens, Sampling sampling, int[] stopIds, TokenSink onToken) {
        return generate(prompts, maxNewTokens, sampling, LogitsRules.NONE, stopIds, onToken);
    }

    /**
     * {@link #generate(int[][], int, Sampling, int[], TokenSink)} with HF's logits processors that look at the sequence
     * (its prompt and its tokens so far; {@link LogitsRules}: repetition penalty, no-repeat n-grams, min new tokens),
     * applied before each pick. With any rule on, greedy picks run on the host.
     */
    public int[][] generate(int[][] prompts, int maxNewTokens, Sampling sampling, LogitsRules rules, int[] stopIds, TokenSink onToken) {
        ensureOpen();
        if (rules == null) throw new IllegalArgumentException("generate: rules is null (LogitsRules.NONE for none)");
        if (prompts == null || prompts.length == 0) throw new IllegalArgumentException("generate: prompts is null or empty");
        for (int b = 0; b < prompts.length; b++) {
            if (prompts[b] == null || prompts[b].length == 0) throw new IllegalArgumentException("generate: prompts[" + b + "] is null or empty");
            checkIds("generate", prompts[b], "prompts[" + b + "]");
        }
        if (maxNewTokens < 0) throw new IllegalArgumentException("generate: maxNewTokens is " + maxNewTokens);
        if (sampling == null) throw new IllegalArgumentException("generate: sampling is null");
        int batch = prompts.length, w = logitsWidth(), v = config.vocabSize();
        int[][] out = new int[batch][];
        if (maxNewTokens == 0) {
            for (int b = 0; b < batch; b++) out[b] = new int[0];
            return out;
        }
        java.util.Set<Integer> stops = new java.util.HashSet<>();
        if (stopIds != null) for (int id : stopIds) stops.add(id);
        int[][] buf = new int[batch][Math.min(maxNewTokens, 64)]; // grown as tokens come: maxNewTokens may be huge (no context limit)
        int[] count = new int[batch];
        boolean[] done = new boolean[batch];
        Random[] rng = new Random[batch];
        for (int b = 0; b < batch; b++) rng[b] = sampling.newRandom(b);
        float[] last = new float[batch * w]; // [B, w] logits of each sequence's latest position
        try (MambaState st = newState(batch)) {
            for (int b = 0; b < batch; b++) {
                int len = prompts[b].length;
                if (batch == 1) {
                    try (Tensor lg = st.prefill(new int[][] {prompts[b]}); Tensor row = slice(lg, (long) (len - 1) * w, w)) {
                        System.arraycopy(row.toFloatArray(), 0, last, 0, w);
                    }
                } else {
                    try (MambaState one = newState(1); Tensor lg = one.prefill(new int[][] {prompts[b]});
                         Tensor row = slice(lg, (long) (len - 1) * w, w)) {
                        System.arraycopy(row.toFloatArray(), 0, last, b * w, w);
                        st.copySequence(one, 0, b);
                    }
                }
            }
            int[] tok = new int[batch];
            boolean greedy = sampling.temperature() == 0 && rules.isNone();
            int[] stopList = stopIds == null ? new int[0] : stopIds;
            int[] next = null; // greedy next tokens from the device, once decoding has started
            for (int i = 0; i < maxNewTokens; i++) {
                int live = 0;
                for (int b = 0; b < batch; b++) {
                    if (done[b]) continue; // keeps feeding its last token
                    if (next == null) rules.apply(last, b * w, v, prompts[b], buf[b], count[b], stopList);
                    tok[b] = next != null ? next[b] : sampling.pick(last, b * w, v, rng[b]);
                    if (count[b] == buf[b].length) buf[b] = Arrays.copyOf(buf[b], (int) Math.min(maxNewTokens, 2L * buf[b].length));
                    buf[b][count[b]++] = tok[b];
                    if (onToken != null) onToken.accept(b, tok[b]);
                    if (stops.contains(tok[b]) || count[b] == maxNewTokens) done[b] = true;
                    else live++;
                }
                if (live == 0) break;
                if (greedy) {
                    next = st.stepGreedy(tok); // argmax on the device: B ints come back, not B·w logits
                } else {
                    try (Tensor lg = st.step(tok)) {
                        last = lg.toFloatArray();
                    }
                }
            }
        }
        for (int b = 0; b < batch; b++) out[b] = Arrays.copyOf(buf[b], count[b]);
        return out;
    }

    /** Rows {@code [B·L, d_model]} of the embedding for the flattened (checked) ids. */
    Tensor embed(int[] ids) {
        try (Tensor idt = device.upload(ids, ids.length)) {
            return Gather.rows(embedding, idt);
        }
    }

    void checkIds(String op, int[] ids, String where) {
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= logitsWidth()) {
                throw new IllegalArgumentException(op + ": token id " + ids[t] + " at " + where + "[" + t + "] is outside [0, "
                        + logitsWidth() + ")");
            }
        }
    }

    /**
     * Runs the blocks over {@code hidden [rows, d_model]} (consumed) and returns logits
     * {@code [rows, logitsWidth]}; {@code mixer} runs one layer's mixer on the normed input.
     */
    Tensor blocks(Tensor hidden, MixerFn mixer) {
        Tensor residual = null;
        try {
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                Tensor normed;
                if (residual == null) {
                    residual = hidden;
                    hidden = null;
                    normed = RmsNorm.rmsNorm(residual, l.norm, config.normEps());
                } else {
                    // residual += mixer output, then the next block's norm: one pass on CUDA
                    RmsNorm.Added a = RmsNorm.addRmsNorm(hidden, residual, l.norm, config.normEps());
                    hidden.close();
                    hidden = null;
                    residual.close();
                    residual = a.sum();
                    normed = a.normed();
                }
                try (normed) {
                    hidden = mixer.apply(i, l, normed);
                }
            }
            try (RmsNorm.Added a = RmsNorm.addRmsNorm(hidden, residual, normF, config.normEps())) {
                return Gemm.linear(a.normed(), lmHead, null);
            }
        } finally {
            if (hidden != null && hidden != residual) hidden.close();
            if (residual != null) residual.close();
        }
    }

    @FunctionalInterface
    interface MixerFn {
        Tensor apply(int index, Layer layer, Tensor normed);
    }

    /**
     * The mixer over a prompt: {@code normed [B·L, d_model]} → {@code [B·L, d_model]}, one sequence at
     * a time in the channel-major layout the conv and scan use; the conv and SSM states of
     * {@code state} seed the sequence and receive its final states.
     */
    Tensor mixerPrefill(int index, Layer l, Tensor normed, int batch, int len, MambaState state) {
        if (config.isMamba2()) return mixer2Prefill(index, l, normed, batch, len, state);
        int dm = config.dModel(), di = config.dInner(), n = config.dState();
        Tensor out = device.allocate(DType.F32, (long) batch * len, dm);
        try {
            for (int b = 0; b < batch; b++) {
                try (Scope s = Scope.open()) {
                    Tensor hb = s.track(rows(normed, (long) b * len, len));                       // [L, d_model]
                    Tensor xT = s.track(Gemm.linear(l.inX, hb, null));                                  // [d_inner, L]
                    Tensor zT = s.track(Gemm.linear(l.inZ, hb, null));                                  // [d_inner, L]
                    Tensor x3 = s.track(xT.reshape(1, di, len));
                    Tensor z3 = s.track(zT.reshape(1, di, len));
                    int w1 = config.dConv() - 1;
                    Tensor conv0 = s.track(slice(state.conv(index), (long) b * di * w1, 1, di, w1));
                    ConvOutput conv = s.track(CausalConv1d.causalConv1d(x3, l.convW, l.convB, true, conv0));
                    Tensor xc = s.track(conv.out().reshape(di, len));                             // [d_inner, L]
                    Tensor dtLow = s.track(Gemm.matmul(l.xpDt, xc));                              // [dt_rank, L]
                    Tensor bT = s.track(Gemm.matmul(l.xpB, xc));                                  // [N, L]
                    Tensor cT = s.track(Gemm.matmul(l.xpC, xc));                                  // [N, L]
                    Tensor delta;
                    if (config.normsDtBC()) {
                        // FalconMamba: each token's dt, B and C are RMS-normalised over their own axis, so
                        // they go token-major for the norm; dt_proj takes the token-major dt as it is.
                        Tensor dtTok = s.track(mixerNorm(s.track(transpose(dtLow))));             // [L, dt_rank]
                        delta = s.track(Gemm.linear(l.dtW, dtTok, null));                        // [d_inner, L]
                        bT = s.track(transpose(s.track(mixerNorm(s.track(transpose(bT))))));       // [N, L]
                        cT = s.track(transpose(s.track(mixerNorm(s.track(transpose(cT))))));       // [N, L]
                    } else {
                        delta = s.track(Gemm.matmul(l.dtW, dtLow));                               // [d_inner, L]
                    }
                    Tensor b3 = s.track(bT.reshape(1, n, len));
                    Tensor c3 = s.track(cT.reshape(1, n, len));
                    Tensor d3 = s.track(delta.reshape(1, di, len));
                    Tensor h0 = s.track(slice(state.ssm(index), (long) b * di * n, 1, di, n));
                    ScanOutput so = s.track(SelectiveScan.selectiveScan(conv.out(), d3, l.a, b3, c3, l.d, z3, l.dtB, true, h0));
                    Tensor yT = s.track(so.y().reshape(di, len));                                 // [d_inner, L]
                    Tensor outT = s.track(Gemm.matmul(l.outW, yT));                               // [d_model, L]
                    Tensor ob = s.track(transpose(outT));                                          // [L, d_model]
                    copyInto(ob, out, (long) b * len * dm);
                    copyInto(conv.finalState(), state.conv(index), (long) b * di * w1);
                    copyInto(so.lastState(), state.ssm(index), (long) b * di * n);
                }
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /**
     * The mixer for one token per sequence: {@code normed [B, d_model]} → {@code [B, d_model]}. At
     * batch 1 the merged in_proj and x_proj run as one GEMM each and their column blocks are used in
     * place (a row of [x | z] or [dt | B | C] is contiguous): a decode step's GEMMs are latency-bound
     * and x_proj's three thin ones cost two kernels each in cuBLAS. At larger batches the blocks are
     * not contiguous, so the projections run per block.
     */
    Tensor mixerStep(int index, Layer l, Tensor normed, MambaState state) {
        if (config.isMamba2()) return mixer2Step(index, l, normed, state);
        int di = config.dInner(), r = config.dtRank(), n = config.dState();
        boolean one = normed.dim(0) == 1;
        try (Scope s = Scope.open()) {
            Tensor xz = one ? s.track(Gemm.linear(normed, l.inProj, null)) : null;                    // [1, 2·d_inner]
            Tensor x = s.track(one ? xz.view(0, 1, di) : Gemm.linear(normed, l.inX, null));               // [B, d_inner]
            Tensor z = s.track(one ? xz.view(di, 1, di) : Gemm.linear(normed, l.inZ, null));              // [B, d_inner]
            Tensor xc = s.track(CausalConv1d.update(state.conv(index), x, l.convW, l.convB, true));
            Tensor dbc = one ? s.track(Gemm.linear(xc, l.xProj, null)) : null;                        // [1, dt_rank + 2·N]
            Tensor dtLow = s.track(one ? dbc.view(0, 1, r) : Gemm.linear(xc, l.xpDt, null));             // [B, dt_rank]
            Tensor bm = s.track(one ? dbc.view(r, 1, n) : Gemm.linear(xc, l.xpB, null));                 // [B, N]
            Tensor cm = s.track(one ? dbc.view(r + n, 1, n) : Gemm.linear(xc, l.xpC, null));             // [B, N]
            if (config.normsDtBC()) { // FalconMamba: RMS-normalise each row of dt, B and C (weight-free)
                dtLow = s.track(mixerNorm(dtLow));
                bm = s.track(mixerNorm(bm));
                cm = s.track(mixerNorm(cm));
            }
            Tensor dt = s.track(Gemm.linear(dtLow, l.dtW, null));                                       // [B, d_inner]
            Tensor y = s.track(SelectiveScan.selectiveStateUpdate(state.ssm(index), xc, dt, l.a, bm, cm, l.d, z, l.dtB, true));
            return Gemm.linear(y, l.outW, null);                                                  // [B, d_model]
        }
    }

    /**
     * FalconMamba's weight-free RMSNorm of token-major dt, B or C ({@code [rows, width]}, each row over
     * its own width) with {@code mixer_rms_eps}: HF's {@code rms_forward}, in fp32 as everything here.
     */
    private Tensor mixerNorm(Tensor rowsByWidth) {
        return RmsNorm.rmsNorm(rowsByWidth, null, config.mixerRmsEps());
    }

    /**
     * The Mamba-2 mixer over a prompt, one sequence at a time: the projections of x, B, C and dt come
     * out channel-major ({@code [channels, L]}, as the conv and scan take them) and z token-major
     * ({@code [L, d_inner]}, as the gated norm and out_proj take it); a head's Δ row is gathered onto
     * its P channels.
     */
    private Tensor mixer2Prefill(int index, Layer l, Tensor normed, int batch, int len, MambaState state) {
        MambaConfig.Mamba2 m = config.mamba2();
        int dm = config.dModel(), di = config.dInner(), n = config.dState(), g = m.nGroups(), gn = g * n;
        Tensor out = device.allocate(DType.F32, (long) batch * len, dm);
        try {
            for (int b = 0; b < batch; b++) {
                try (Scope s = Scope.open()) {
                    Tensor hb = s.track(rows(normed, (long) b * len, len));                       // [L, d_model]
                    ConvOutput x = s.track(conv2Prefill(l.inX, l.cwX, l.cbX, hb, state, index, 0, b));   // [1, d_inner, L]
                    ConvOutput bc = s.track(conv2Prefill(l.inB, l.cwB, l.cbB, hb, state, index, 1, b));  // [1, G·N, L]
                    ConvOutput cc = s.track(conv2Prefill(l.inC, l.cwC, l.cbC, hb, state, index, 2, b));  // [1, G·N, L]
                    Tensor dtT = s.track(Gemm.linear(l.inDt, hb, null));                              // [H, L]
                    Tensor delta = s.track(s.track(Gather.rows(dtT, headOfChannel)).reshape(1, di, len));
                    Tensor b4 = s.track(bc.out().reshape(1, g, n, len));
                    Tensor c4 = s.track(cc.out().reshape(1, g, n, len));
                    Tensor z3 = m.gatedNorm() ? null : s.track(s.track(Gemm.linear(l.inZ, hb, null)).reshape(1, di, len));
                    Tensor h0 = s.track(slice(state.ssm(index), (long) b * di * n, 1, di, n));
                    ScanOutput so = s.track(SelectiveScan.selectiveScan(x.out(), delta, l.a, b4, c4, l.d, z3, l.dtB, true, h0));
                    Tensor y = s.track(transpose(s.track(so.y().reshape(di, len))));               // [L, d_inner]
                    Tensor z = m.gatedNorm() ? s.track(Gemm.linear(hb, l.inZ, null)) : null;        // [L, d_inner]
                    Tensor ob = s.track(mixer2Out(l, y, z));                                        // [L, d_model]
                    copyInto(ob, out, (long) b * len * dm);
                    copyInto(so.lastState(), state.ssm(index), (long) b * di * n);
                }
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /**
     * One part of Mamba-2's conv over sequence {@code b} of a prompt: {@code silu(conv1d(W_part · hbᵀ))}
     * from conv state part {@code part} of {@code state}, which receives the final conv state.
     */
    private ConvOutput conv2Prefill(Tensor inW, Tensor convW, Tensor convB, Tensor hb, MambaState state, int index, int part, int b) {
        int ch = (int) inW.dim(0), len = (int) hb.dim(0), w1 = config.dConv() - 1;
        Tensor st = state.conv(index, part);
        try (Tensor pT = Gemm.linear(inW, hb, null); Tensor p3 = pT.reshape(1, ch, len);         // [1, channels, L]
             Tensor conv0 = slice(st, (long) b * ch * w1, 1, ch, w1)) {
            ConvOutput c = CausalConv1d.causalConv1d(p3, convW, convB, true, conv0);
            try {
                copyInto(c.finalState(), st, (long) b * ch * w1);
                return c;
            } catch (RuntimeException | Error e) {
                c.close();
                throw e;
            }
        }
    }

    /**
     * Mamba-2's output projection of token-major {@code y [R, d_inner]}: with the gated norm,
     * {@code out_proj(RMSNorm(y · silu(z)) · weight)}, normalising each group's d_inner / G channels
     * apart (mamba_ssm) or all d_inner together (HF); without it (the scan already gated y),
     * {@code out_proj(y)}.
     */
    private Tensor mixer2Out(Layer l, Tensor y, Tensor z) {
        MambaConfig.Mamba2 m = config.mamba2();
        if (!m.gatedNorm()) return Gemm.linear(y, l.outW, null);
        long rows = y.dim(0);
        int di = config.dInner(), parts = m.normPerGroup() ? m.nGroups() : 1;
        try (Scope s = Scope.open()) {
            Tensor gated = s.track(Elementwise.mul(y, s.track(Activation.silu(z))));
            Tensor normed = s.track(RmsNorm.rmsNorm(s.track(gated.reshape(rows * parts, di / parts)), null, m.gatedNormEps()));
            Tensor scaled = s.track(Elementwise.mul(s.track(normed.reshape(rows, di)), l.gnorm));
            return Gemm.linear(scaled, l.outW, null);
        }
    }

    /**
     * The Mamba-2 mixer for one token per sequence: at batch 1 in_proj is one GEMM whose column
     * blocks are used in place; at larger batches each block is its own GEMM (a block of a
     * multi-row product is not contiguous). x, B and C each step their own part of the conv state;
     * a head's Δ is gathered onto its channels.
     */
    private Tensor mixer2Step(int index, Layer l, Tensor normed, MambaState state) {
        MambaConfig.Mamba2 m = config.mamba2();
        int di = config.dInner(), n = config.dState(), g = m.nGroups(), gn = g * n, h = m.nHeads();
        int batch = (int) normed.dim(0);
        boolean one = batch == 1;
        try (Scope s = Scope.open()) {
            Tensor all = one ? s.track(Gemm.linear(normed, l.inProj, null)) : null;                     // [1, 2·d_inner + 2·G·N + H]
            Tensor z = s.track(one ? all.view(0, 1, di) : Gemm.linear(normed, l.inZ, null));             // [B, d_inner]
            Tensor x = s.track(one ? all.view(di, 1, di) : Gemm.linear(normed, l.inX, null));            // [B, d_inner]
            Tensor bm = s.track(one ? all.view(2L * di, 1, gn) : Gemm.linear(normed, l.inB, null));      // [B, G·N]
            Tensor cm = s.track(one ? all.view(2L * di + gn, 1, gn) : Gemm.linear(normed, l.inC, null)); // [B, G·N]
            Tensor dt = s.track(one ? all.view(2L * di + 2L * gn, h, 1)
                    : s.track(Gemm.linear(normed, l.inDt, null)).reshape((long) batch * h, 1));           // [B·H, 1]
            Tensor xc = s.track(CausalConv1d.update(state.conv(index, 0), x, l.cwX, l.cbX, true));
            Tensor bc = s.track(s.track(CausalConv1d.update(state.conv(index, 1), bm, l.cwB, l.cbB, true)).reshape(batch, g, n));
            Tensor cc = s.track(s.track(CausalConv1d.update(state.conv(index, 2), cm, l.cwC, l.cbC, true)).reshape(batch, g, n));
            Tensor delta = s.track(s.track(Gather.rows(dt, state.headOfChannel())).reshape(batch, di));  // [B, d_inner]
            Tensor y = s.track(SelectiveScan.selectiveStateUpdate(state.ssm(index), xc, delta, l.a, bc, cc, l.d,
                    m.gatedNorm() ? null : z, l.dtB, true));
            return mixer2Out(l, y, m.gatedNorm() ? z : null);
        }
    }

    /** Mamba-2: I32 {@code [d_inner]}, channel → head ({@code d / P}); null for Mamba-1. */
    Tensor headOfChannel() {
        return headOfChannel;
    }

    // ---------------------------------------------------------------------------------------------
    // Layout helpers (contiguous tensors, through the device's copy and GEMM)
    // (public: the Jamba hybrid runs its Mamba layers with them)

    /** Rows {@code [start, start + count)} of a contiguous {@code [rows, cols]} tensor, as a copy. */
    public static Tensor rows(Tensor t, long start, long count) {
        long cols = t.numel() / t.dim(0);
        return slice(t, start * cols, count, cols);
    }

    /** A copy of the elements of contiguous {@code t} from flat index {@code elemOffset}, shaped {@code shape}. */
    public static Tensor slice(Tensor t, long elemOffset, long... shape) {
        long es = t.dtype().byteSize();
        Tensor out = t.device().allocate(t.dtype(), shape);
        t.device().backend().copy(t.storage(), t.byteOffset() + elemOffset * es, out.storage(), out.byteOffset(), out.byteSize());
        return out;
    }

    /** Copies all of {@code src} into {@code dst} from flat index {@code elemOffset}. */
    public static void copyInto(Tensor src, Tensor dst, long elemOffset) {
        long es = dst.dtype().byteSize();
        dst.device().backend().copy(src.storage(), src.byteOffset(), dst.storage(), dst.byteOffset() + elemOffset * es, src.byteSize());
    }

    /**
     * {@code [R, C]} → {@code [C, R]}: on the CPU by a host loop; elsewhere as {@code I_C · tᵀ}
     * with {@link Gemm#linear} (exact in fp32 unless TF32 is allowed).
     */
    public static Tensor transpose(Tensor t) {
        int r = (int) t.dim(0), c = (int) t.dim(1);
        if (t.device().isCpu()) {
            float[] v = t.toFloatArray();
            float[] o = new float[v.length];
            for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) o[j * r + i] = v[i * c + j];
            return t.device().upload(DType.F32, o, c, r);
        }
        float[] eye = new float[c * c];
        for (int i = 0; i < c; i++) eye[i * c + i] = 1f;
        try (Tensor id = t.device().upload(t.dtype(), eye, c, c)) {
            return Gemm.linear(id, t, null);
        }
    }

    /** Every weight tensor in a fixed order (embedding, head, norm_f, then per layer); for tests. */
    List<Tensor> weightTensors() {
        List<Tensor> all = new ArrayList<>(List.of(embedding, lmHead, normF));
        for (Layer l : layers) {
            if (config.isMamba2()) {
                all.addAll(Arrays.asList(l.norm, l.inProj, l.convW, l.convB, l.dtB, l.a, l.d, l.gnorm, l.outW));
            } else {
                all.addAll(Arrays.asList(l.norm, l.inX, l.inZ, l.convW, l.convB, l.xpDt, l.xpB, l.xpC, l.dtW, l.dtB, l.a, l.d, l.outW));
            }
        }
        return all;
    }

    void ensureOpen() {
        if (closed) throw new IllegalStateException("MambaLM is closed");
    }

    /** Frees the weights; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Layer l : layers) l.close();
        if (headOfChannel != null) headOfChannel.close();
        if (lmHead != embedding) lmHead.close();
        embedding.close();
        normF.close();
    }
}
