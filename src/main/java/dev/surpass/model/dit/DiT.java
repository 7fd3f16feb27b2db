package dev.surpass.model.dit;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.attention.Attention;
import dev.surpass.attention.AttentionOptions;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.io.TensorInfo;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * A Diffusion Transformer (Peebles &amp; Xie; facebookresearch/DiT {@code models.py}) that loads the
 * official state dict from safetensors and runs its forward pass on any {@link Device}:
 * <pre>
 * x = patchify(x) · x_embedder.proj + pos_embed                     [N, T, D]   (Conv2d k = s = p as a GEMM)
 * c = t_embedder(timestep_embedding(t)) + y_embedder[y]             [N, D]
 * per block:  shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = Linear(SiLU(c)).chunk(6)
 *             x = x + gate_msa · Attn(LN(x)·(1 + scale_msa) + shift_msa)      (LN: no affine, eps 1e-6)
 *             x = x + gate_mlp · MLP(LN(x)·(1 + scale_mlp) + shift_mlp)       (MLP: fc1, GELU tanh, fc2)
 * final:      shift, scale = Linear(SiLU(c)).chunk(2);  x = Linear(LN(x)·(1 + scale) + shift)
 * out = unpatchify(x)                                                 [N, outC, H, W]
 * </pre>
 * Attention is {@link Attention#prefill} over q, k, v {@code [N, T, heads, head_dim]} (timm's qkv
 * split: rows {@code [0, D)} q, {@code [D, 2D)} k, {@code [2D, 3D)} v), scale {@code 1/√head_dim}.
 * The fused ops are {@link DiTOps}; GEMMs are {@link Gemm#linear}.
 *
 * <p>Weights live on the model's device in its compute dtype (F32 by default; F16/BF16 on request),
 * converted from the checkpoint's F32/F16/BF16. The model owns them; {@link #close} frees them and
 * any later call throws {@link IllegalStateException}.
 *
 * <p>Thread rules: a loaded model is read-only; forward passes may run from several threads at
 * once; {@link #close} must not race with them.
 */
public final class DiT implements AutoCloseable {
    /** One DiTBlock's weights. */
    static final class Block {
        Tensor q, k, v;        // [D, D]       attn.qkv.weight rows [0, D), [D, 2D), [2D, 3D)
        Tensor qb, kb, vb;     // [D]          attn.qkv.bias, split the same way
        Tensor proj, projB;    // [D, D], [D]  attn.proj
        Tensor fc1, fc1B;      // [M, D], [M]  mlp.fc1 (M = mlp hidden)
        Tensor fc2, fc2B;      // [D, M], [D]  mlp.fc2
        Tensor ada, adaB;      // [6D, D], [6D] adaLN_modulation.1
        // diffusers: this block's own copy of the timestep and label embedders (norm1.emb), when it
        // differs from block 0's (the model's); null when the block shares the model's
        Tensor t0, t0B, t2, t2B, labels;

        List<Tensor> all() {
            return Arrays.asList(q, k, v, qb, kb, vb, proj, projB, fc1, fc1B, fc2, fc2B, ada, adaB, t0, t0B, t2, t2B, labels);
        }

        void close() {
            for (Tensor t : all()) if (t != null) t.close();
        }
    }

    private final Device device;
    private final DiTConfig config;
    private final DType dtype;
    private Tensor xEmb, xEmbB;    // [D, C·p·p], [D]      x_embedder.proj (weight [D, C, p, p] viewed as a GEMM weight)
    private Tensor pos;            // [T, D]               pos_embed [1, T, D] (or recomputed)
    private Tensor t0, t0B;        // [D, 256], [D]        t_embedder.mlp.0
    private Tensor t2, t2B;        // [D, D], [D]          t_embedder.mlp.2
    private Tensor labels;         // [labelRows, D]       y_embedder.embedding_table.weight
    private Tensor finAda, finAdaB; // [2D, D], [2D]       final_layer.adaLN_modulation.1
    private Tensor fin, finB;      // [p·p·outC, D], [p·p·outC]  final_layer.linear
    private final List<Block> blocks = new ArrayList<>();
    private final boolean posFromCheckpoint;
    private final boolean diffusers;   // diffusers' layout and numerics (DiffusersDiT)
    private final int freqShift;       // the timestep frequencies divide by 128 − freqShift
    private final float mlpNormEps;    // eps of the LayerNorm before the MLP
    private volatile boolean closed;

    private DiT(Device device, DiTConfig config, DType dtype, boolean posFromCheckpoint) {
        this(device, config, dtype, posFromCheckpoint, false, 0, DiTConfig.LN_EPS);
    }

    private DiT(Device device, DiTConfig config, DType dtype, boolean posFromCheckpoint, boolean diffusers, int freqShift, float mlpNormEps) {
        this.device = device;
        this.config = config;
        this.dtype = dtype;
        this.posFromCheckpoint = posFromCheckpoint;
        this.diffusers = diffusers;
        this.freqShift = freqShift;
        this.mlpNormEps = mlpNormEps;
    }

    public DiTConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    /** The compute dtype of weights and activations. */
    public DType dtype() {
        return dtype;
    }

    /** True when pos_embed came from the checkpoint, false when it was recomputed. */
    public boolean posEmbedFromCheckpoint() {
        return posFromCheckpoint;
    }

    /**
     * True when the model was loaded from a diffusers folder ({@code DiTTransformer2DModel}) and
     * runs as diffusers' module does: timestep frequencies over 127, its {@code norm_eps} before the
     * MLP, each block's own embedders (see {@link DiffusersDiT}).
     */
    public boolean diffusersLayout() {
        return diffusers;
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /** {@link #load(Device, Path, DiTConfig, DType)} with the config inferred and F32 compute. */
    public static DiT load(Device device, Path file) {
        return load(device, file, null, DType.F32);
    }

    /** {@link #load(Device, Path, DiTConfig, DType)} with the config inferred. */
    public static DiT load(Device device, Path file, DType dtype) {
        return load(device, file, null, dtype);
    }

    /**
     * Loads a DiT state dict from a safetensors file, or from the official PyTorch {@code .pt}
     * (converted on the fly: {@link dev.surpass.io.PyTorchCheckpoint#openAsSafeTensors}), or a
     * diffusers folder (a {@code DiTPipeline} root or its {@code transformer/} folder: config.json
     * and {@code diffusion_pytorch_model.safetensors} or {@code .bin}; then the config comes from
     * config.json and the model computes as diffusers' {@code DiTTransformer2DModel}), onto
     * {@code device}, weights converted to
     * {@code dtype}. Key names are the official ones ({@code x_embedder.proj.weight}, …), optionally
     * under an {@code ema.} or {@code module.} prefix (train.py checkpoints, DDP wrappers). The
     * config is inferred from the tensor shapes (see {@link DiTConfig}) unless {@code config} is
     * given, in which case every shape is checked against it.
     *
     * @throws IllegalArgumentException naming the file and tensor or setting for a missing tensor, a
     *                                  wrong shape or dtype, or a config that cannot be inferred
     */
    public static DiT load(Device device, Path file, DiTConfig config, DType dtype) {
        if (device == null) throw new IllegalArgumentException("DiT.load: device is null");
        if (device.isClosed()) throw new IllegalArgumentException("DiT.load: device " + device.name() + " is closed");
        if (dtype == null || !dtype.isFloating()) throw new IllegalArgumentException("DiT.load: dtype must be F32, F16 or BF16, got " + dtype);
        if (file != null && Files.isDirectory(file)) return loadDiffusers(device, file, config, dtype);
        if (file == null || !Files.isRegularFile(file)) throw new IllegalArgumentException("DiT.load: " + file + " is not a file");
        try (SafeTensorsFile st = dev.surpass.io.PyTorchCheckpoint.openAsSafeTensors(file)) { // the official .pt converted on the fly
            String prefix = prefixOf(st, file);
            Loader ld = new Loader(st, prefix, file, false);
            DiTConfig cfg = config == null ? infer(ld, DiTConfig.hints(file, st.metadata()), file) : config;
            checkAgainst(ld, cfg, file);
            return device.ready(new DiT(device, cfg, dtype, ld.has("pos_embed")).filled(ld));
        }
    }

    private static DiT loadDiffusers(Device device, Path dir, DiTConfig config, DType dtype) {
        DiffusersDiT.Folder f = DiffusersDiT.read(dir);
        try (SafeTensorsFile st = dev.surpass.io.PyTorchCheckpoint.openAsSafeTensors(f.weights())) {
            Loader ld = new Loader(st, "", f.weights(), true);
            DiTConfig cfg = f.config();
            // the label table decides whether the null class is there (diffusers adds it when trained with class dropout)
            long[] ys = ld.info("y_embedder.embedding_table.weight").shape();
            if (ys.length == 2 && ys[0] == cfg.numClasses()) {
                cfg = new DiTConfig(cfg.inputSize(), cfg.patchSize(), cfg.inChannels(), cfg.hiddenSize(), cfg.depth(), cfg.numHeads(),
                        cfg.mlpHidden(), cfg.numClasses(), cfg.numClasses(), cfg.learnSigma());
            }
            if (config != null && !config.equals(cfg)) {
                throw new IllegalArgumentException(f.dir() + ": config.json describes " + cfg + " but the caller passed " + config);
            }
            if (ld.has("blocks." + cfg.depth() + ".adaLN_modulation.1.weight")) {
                throw new IllegalArgumentException(f.weights() + ": the checkpoint has more than num_layers = " + cfg.depth() + " blocks");
            }
            return device.ready(new DiT(device, cfg, dtype, false, true, DiffusersDiT.FREQ_SHIFT, f.mlpNormEps()).filled(ld));
        }
    }

    /** This model with its weights read from {@code ld}; closed when that fails. */
    private DiT filled(Loader ld) {
        try {
            fill(ld);
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
        return this;
    }

    /** The prefix under which the state dict sits: "", "ema.", "module.", "ema.module.", "model.". */
    static String prefixOf(SafeTensorsFile st, Path file) {
        for (String p : new String[] {"ema.", "ema.module.", "", "module.", "model."}) {
            if (st.contains(p + "x_embedder.proj.weight")) return p;
        }
        throw new IllegalArgumentException(file + ": tensor 'x_embedder.proj.weight' is missing (also looked under 'ema.' and 'module.'); "
                + st.size() + " tensors found" + (st.size() > 0 ? ", e.g. '" + st.names().getFirst() + "'" : "")
                + ": not an official DiT state dict");
    }

    private static DiTConfig infer(Loader ld, Map<String, String> hints, Path file) {
        long[] xs = ld.info("x_embedder.proj.weight").shape();
        if (xs.length != 4 || xs[2] != xs[3]) {
            throw new IllegalArgumentException(file + ": tensor '" + ld.prefix + "x_embedder.proj.weight' has shape " + Shapes.toString(xs)
                    + "; expected [hidden, in_channels, p, p] (a Conv2d with a square kernel)");
        }
        int d = (int) xs[0], c = (int) xs[1], p = (int) xs[2];
        int depth = 0;
        while (ld.has("blocks." + depth + ".attn.qkv.weight")) depth++;
        if (depth == 0) throw new IllegalArgumentException(file + ": no 'blocks.0.attn.qkv.weight': a DiT needs at least one block");
        int mlp = (int) ld.info("blocks.0.mlp.fc1.weight").shape()[0];
        long[] ys = ld.info("y_embedder.embedding_table.weight").shape();
        if (ys.length != 2 || ys[1] != d) {
            throw new IllegalArgumentException(file + ": tensor '" + ld.prefix + "y_embedder.embedding_table.weight' has shape " + Shapes.toString(ys)
                    + "; expected [num_classes (+1), " + d + "]");
        }
        int rows = (int) ys[0];
        long[] fs = ld.info("final_layer.linear.weight").shape();
        long outC = fs.length == 2 ? fs[0] / ((long) p * p) : -1;
        if (fs.length != 2 || fs[0] % ((long) p * p) != 0 || (outC != c && outC != 2L * c)) {
            throw new IllegalArgumentException(file + ": tensor '" + ld.prefix + "final_layer.linear.weight' has shape " + Shapes.toString(fs)
                    + "; expected [p·p·C = " + p * p * c + " or p·p·2C = " + 2 * p * p * c + " (learn_sigma), " + d + "]");
        }
        String where = file.toString();
        int input;
        if (ld.has("pos_embed")) {
            long[] ps = ld.info("pos_embed").shape();
            long tokens = ps.length == 3 && ps[0] == 1 ? ps[1] : ps.length == 2 ? ps[0] : -1;
            int g = (int) Math.round(Math.sqrt(Math.max(tokens, 0)));
            if (tokens < 1 || (long) g * g != tokens || ps[ps.length - 1] != d) {
                throw new IllegalArgumentException(file + ": tensor '" + ld.prefix + "pos_embed' has shape " + Shapes.toString(ps)
                        + "; expected [1, T, " + d + "] with T a square number");
            }
            input = g * p;
            int hinted = DiTConfig.intHint(hints, "input_size", where);
            if (hinted != 0 && hinted != input) {
                throw new IllegalArgumentException(file + ": config input_size " + hinted + " disagrees with pos_embed's " + tokens + " tokens (input " + input + ")");
            }
        } else if (DiTConfig.intHint(hints, "input_size", where) != 0) {
            input = DiTConfig.intHint(hints, "input_size", where);
        } else if (DiTConfig.intHint(hints, "image_size", where) != 0 && c == 4) {
            input = DiTConfig.intHint(hints, "image_size", where) / 8;  // SD-VAE latents: image / 8
        } else {
            throw new IllegalArgumentException(file + ": no pos_embed, so the input size cannot be read from the tensors: add \"input_size\" to the "
                    + "safetensors metadata or to config.json beside the file (32 for DiT's 256 px models, 64 for 512 px), or pass a DiTConfig");
        }
        int heads = DiTConfig.intHint(hints, "num_heads", where);
        if (heads == 0) heads = DiTConfig.presetHeads(d);
        if (heads == 0) {
            throw new IllegalArgumentException(file + ": hidden size " + d + " is not an official preset, so num_heads cannot be inferred: add \"num_heads\" "
                    + "to the safetensors metadata or to config.json beside the file, or pass a DiTConfig");
        }
        int classes = DiTConfig.intHint(hints, "num_classes", where);
        if (classes == 0) classes = rows > 1 ? rows - 1 : rows;
        for (String[] kv : new String[][] {{"hidden_size", "" + d}, {"in_channels", "" + c}, {"patch_size", "" + p}, {"depth", "" + depth}}) {
            int h = DiTConfig.intHint(hints, kv[0], where);
            if (h != 0 && h != Integer.parseInt(kv[1])) {
                throw new IllegalArgumentException(file + ": config " + kv[0] + " = " + h + " but the tensors say " + kv[1]);
            }
        }
        String ls = hints.get("learn_sigma");
        if (ls != null && Boolean.parseBoolean(ls.trim()) != (outC == 2L * c)) {
            throw new IllegalArgumentException(file + ": config learn_sigma = " + ls + " but final_layer.linear has " + outC + " output channels for "
                    + c + " input channels");
        }
        return new DiTConfig(input, p, c, d, depth, heads, mlp, classes, rows, outC == 2L * c);
    }

    private static void checkAgainst(Loader ld, DiTConfig cfg, Path file) {
        if (ld.has("blocks." + cfg.depth() + ".attn.qkv.weight")) {
            throw new IllegalArgumentException(file + ": the checkpoint has more than depth = " + cfg.depth() + " blocks");
        }
        if (ld.has("pos_embed")) {
            long[] ps = ld.info("pos_embed").shape();
            if (Shapes.numel(ps) != (long) cfg.tokens() * cfg.hiddenSize()) {
                throw new IllegalArgumentException(file + ": tensor '" + ld.prefix + "pos_embed' has shape " + Shapes.toString(ps) + " but input_size "
                        + cfg.inputSize() + " / patch " + cfg.patchSize() + " needs [1, " + cfg.tokens() + ", " + cfg.hiddenSize() + "]");
            }
        }
    }

    private void fill(Loader ld) {
        DiTConfig c = config;
        int d = c.hiddenSize(), p = c.patchSize(), m = c.mlpHidden();
        xEmb = up(ld.read("x_embedder.proj.weight", d, c.inChannels(), p, p), d, c.patchDim());
        xEmbB = up(ld.read("x_embedder.proj.bias", d), d);
        float[] pe = ld.has("pos_embed") // never in a diffusers file (a non-persistent buffer)
                ? ld.readAs("pos_embed", (long) c.tokens() * d)
                : DiTEmbeddings.posEmbed(d, c.gridSize());
        pos = up(pe, c.tokens(), d);
        float[][] emb0 = embedders(ld, "");
        t0 = up(emb0[0], d, DiTConfig.FREQUENCY_DIM);
        t0B = up(emb0[1], d);
        t2 = up(emb0[2], d, d);
        t2B = up(emb0[3], d);
        labels = up(emb0[4], c.labelRows(), d);
        for (int i = 0; i < c.depth(); i++) {
            String b = "blocks." + i + ".";
            Block blk = new Block();
            blocks.add(blk);
            if (ld.diffusers()) {
                blk.q = up(ld.read(b + "attn.q.weight", d, d), d, d);
                blk.k = up(ld.read(b + "attn.k.weight", d, d), d, d);
                blk.v = up(ld.read(b + "attn.v.weight", d, d), d, d);
                blk.qb = up(ld.read(b + "attn.q.bias", d), d);
                blk.kb = up(ld.read(b + "attn.k.bias", d), d);
                blk.vb = up(ld.read(b + "attn.v.bias", d), d);
                if (i > 0) { // each block has its copy of the embedders; identical copies (a converted checkpoint) are shared
                    float[][] own = embedders(ld, b);
                    boolean same = true;
                    for (int j = 0; j < own.length; j++) same &= Arrays.equals(own[j], emb0[j]);
                    if (!same) {
                        blk.t0 = up(own[0], d, DiTConfig.FREQUENCY_DIM);
                        blk.t0B = up(own[1], d);
                        blk.t2 = up(own[2], d, d);
                        blk.t2B = up(own[3], d);
                        blk.labels = up(own[4], c.labelRows(), d);
                    }
                }
            } else {
                float[] qkv = ld.read(b + "attn.qkv.weight", 3L * d, d);
                float[] qkvB = ld.read(b + "attn.qkv.bias", 3L * d);
                blk.q = up(Arrays.copyOfRange(qkv, 0, d * d), d, d);
                blk.k = up(Arrays.copyOfRange(qkv, d * d, 2 * d * d), d, d);
                blk.v = up(Arrays.copyOfRange(qkv, 2 * d * d, 3 * d * d), d, d);
                blk.qb = up(Arrays.copyOfRange(qkvB, 0, d), d);
                blk.kb = up(Arrays.copyOfRange(qkvB, d, 2 * d), d);
                blk.vb = up(Arrays.copyOfRange(qkvB, 2 * d, 3 * d), d);
            }
            blk.proj = up(ld.read(b + "attn.proj.weight", d, d), d, d);
            blk.projB = up(ld.read(b + "attn.proj.bias", d), d);
            blk.fc1 = up(ld.read(b + "mlp.fc1.weight", m, d), m, d);
            blk.fc1B = up(ld.read(b + "mlp.fc1.bias", m), m);
            blk.fc2 = up(ld.read(b + "mlp.fc2.weight", d, m), d, m);
            blk.fc2B = up(ld.read(b + "mlp.fc2.bias", d), d);
            blk.ada = up(ld.read(b + "adaLN_modulation.1.weight", 6L * d, d), 6L * d, d);
            blk.adaB = up(ld.read(b + "adaLN_modulation.1.bias", 6L * d), 6L * d);
        }
        finAda = up(ld.read("final_layer.adaLN_modulation.1.weight", 2L * d, d), 2L * d, d);
        finAdaB = up(ld.read("final_layer.adaLN_modulation.1.bias", 2L * d), 2L * d);
        int fo = p * p * c.outChannels();
        fin = up(ld.read("final_layer.linear.weight", fo, d), fo, d);
        finB = up(ld.read("final_layer.linear.bias", fo), fo);
    }

    /** The timestep MLP's and label table's values under {@code block} ("" for the model's: block 0's in diffusers). */
    private float[][] embedders(Loader ld, String block) {
        int d = config.hiddenSize();
        return new float[][] {
            ld.read(block + "t_embedder.mlp.0.weight", d, DiTConfig.FREQUENCY_DIM), ld.read(block + "t_embedder.mlp.0.bias", d),
            ld.read(block + "t_embedder.mlp.2.weight", d, d), ld.read(block + "t_embedder.mlp.2.bias", d),
            ld.read(block + "y_embedder.embedding_table.weight", config.labelRows(), d)};
    }

    private Tensor up(float[] v, long... shape) {
        return device.upload(dtype, v, shape);
    }

    /**
     * Reads tensors by their official names as fp32 with shape and dtype checks that name the file
     * and tensor: under {@code prefix}, or renamed to diffusers' names ({@link DiffusersDiT#stored}).
     */
    private record Loader(SafeTensorsFile file, String prefix, Path path, boolean diffusers) {
        /** The stored name of an official one, or null when this layout does not store it. */
        String key(String name) {
            return diffusers ? DiffusersDiT.stored(name) : prefix + name;
        }

        boolean has(String name) {
            String k = key(name);
            return k != null && file.contains(k);
        }

        TensorInfo info(String name) {
            if (!has(name)) throw new IllegalArgumentException(path + ": tensor '" + key(name) + "' is missing from the checkpoint");
            return file.info(key(name));
        }

        float[] read(String name, long... shape) {
            TensorInfo i = info(name);
            if (!Arrays.equals(i.shape(), shape)) {
                throw new IllegalArgumentException(path + ": tensor '" + key(name) + "' has shape " + Shapes.toString(i.shape())
                        + " but the config expects " + Shapes.toString(shape));
            }
            return values(name, i);
        }

        /** Any shape with {@code numel} elements (pos_embed: [1, T, D] or [T, D]). */
        float[] readAs(String name, long numel) {
            TensorInfo i = info(name);
            if (i.numel() != numel) {
                throw new IllegalArgumentException(path + ": tensor '" + key(name) + "' has shape " + Shapes.toString(i.shape())
                        + " (" + i.numel() + " elements) but the config expects " + numel);
            }
            return values(name, i);
        }

        private float[] values(String name, TensorInfo i) {
            if (i.dtype() == null || !i.dtype().isFloating()) {
                throw new IllegalArgumentException(path + ": tensor '" + key(name) + "' has dtype " + i.dtypeName() + "; expected F32, F16 or BF16");
            }
            try (Device cpu = Device.cpu(); Tensor t = file.tensor(key(name), cpu)) {
                return t.toFloatArray();
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Forward

    /**
     * The model output {@code [N, outC, H, W]} (outC = 2C with learn_sigma: ε then the variance
     * values) for latents {@code x [N, C, H, W]} (H = W = input_size; the model's dtype and device),
     * timesteps {@code t} (N values in the original 0..999 units; fractional allowed) and labels
     * {@code y} (N values in [0, num_classes], num_classes being the null class).
     */
    public Tensor forward(Tensor x, float[] t, int[] y) {
        ensureOpen();
        checkInputs("forward", x, t, y);
        int n = (int) x.dim(0);
        DiTConfig c = config;
        int d = c.hiddenSize(), g = c.gridSize();
        try (Scope s = Scope.open()) {
            Tensor patches = s.track(DiTOps.patchify(x, c.patchSize()));                          // [N, T, C·p·p]
            Tensor emb = s.track(Gemm.linear(patches, xEmb, xEmbB));                              // [N, T, D]
            Tensor freq = s.track(device.upload(dtype, DiTEmbeddings.timestepFrequencies(t, DiTConfig.FREQUENCY_DIM, freqShift), n,
                    DiTConfig.FREQUENCY_DIM));
            Tensor cs = s.track(conditioning(freq, y, t0, t0B, t2, t2B, labels));                // SiLU(c) [N, D]
            Tensor h = Elementwise.add(emb, pos);                                                  // [N, T, D] + [T, D]
            try {
                for (Block b : blocks) {
                    Tensor next;
                    if (b.t0 == null) {
                        next = block(b, h, cs, n);
                    } else { // diffusers: a block with embedders of its own conditions on them
                        try (Tensor own = conditioning(freq, y, b.t0, b.t0B, b.t2, b.t2B, b.labels)) {
                            next = block(b, h, own, n);
                        }
                    }
                    h.close();
                    h = next;
                }
            } catch (RuntimeException | Error e) {
                h.close();
                throw e;
            }
            s.track(h);
            Tensor mod = s.track(Gemm.linear(cs, finAda, finAdaB));                              // [N, 2D]: shift, scale
            Tensor hn = s.track(DiTOps.modulate(h, mod, 0, 1, DiTConfig.LN_EPS));
            Tensor o = s.track(Gemm.linear(hn, fin, finB));                                       // [N, T, p·p·outC]
            return DiTOps.unpatchify(o, c.patchSize(), c.outChannels(), g * c.patchSize(), g * c.patchSize());
        }
    }

    /** {@code SiLU(t_embedder(freq) + y_embedder[y])} {@code [N, D]} through the given embedder weights. */
    private Tensor conditioning(Tensor freq, int[] y, Tensor w0, Tensor b0, Tensor w2, Tensor b2, Tensor table) {
        try (Scope s = Scope.open()) {
            Tensor th = s.track(Activation.silu(s.track(Gemm.linear(freq, w0, b0))));             // [N, D]
            Tensor temb = s.track(Gemm.linear(th, w2, b2));                                         // [N, D]
            Tensor yemb = s.track(gather(table, y));                                                // [N, D]
            return Activation.silu(s.track(Elementwise.add(temb, yemb)));
        }
    }

    /** One DiTBlock: a new residual stream from {@code h [N, T, D]} (not consumed). */
    private Tensor block(Block b, Tensor h, Tensor cs, int n) {
        DiTConfig c = config;
        int tks = c.tokens(), heads = c.numHeads(), hd = c.headDim(), d = c.hiddenSize();
        try (Scope s = Scope.open()) {
            Tensor mod = s.track(Gemm.linear(cs, b.ada, b.adaB));                                 // [N, 6D]
            Tensor a = s.track(DiTOps.modulate(h, mod, 0, 1, DiTConfig.LN_EPS));                  // shift_msa, scale_msa
            Tensor q = s.track(s.track(Gemm.linear(a, b.q, b.qb)).reshape(n, tks, heads, hd));
            Tensor k = s.track(s.track(Gemm.linear(a, b.k, b.kb)).reshape(n, tks, heads, hd));
            Tensor v = s.track(s.track(Gemm.linear(a, b.v, b.vb)).reshape(n, tks, heads, hd));
            Tensor att = s.track(s.track(Attention.prefill(q, k, v, AttentionOptions.defaults())).reshape(n, tks, d));
            Tensor pr = s.track(Gemm.linear(att, b.proj, b.projB));
            Tensor h1 = s.track(DiTOps.gateResidual(h, pr, mod, 2));                              // gate_msa
            Tensor m = s.track(DiTOps.modulate(h1, mod, 3, 4, mlpNormEps));                      // shift_mlp, scale_mlp
            Tensor f1 = s.track(Activation.gelu(s.track(Gemm.linear(m, b.fc1, b.fc1B)), Activation.Gelu.TANH));
            Tensor f2 = s.track(Gemm.linear(f1, b.fc2, b.fc2B));
            return DiTOps.gateResidual(h1, f2, mod, 5);                                            // gate_mlp
        }
    }

    /**
     * {@link #forward(Tensor, float[], int[])} with {@code t} and {@code y} as tensors (any device):
     * t F32/F16/BF16/I32/I64 [N], y I32/I64 [N].
     */
    public Tensor forward(Tensor x, Tensor t, Tensor y) {
        ensureOpen();
        return forward(x, timesteps("forward", t), labelsOf("forward", y));
    }

    /**
     * DiT's {@code forward_with_cfg}: the first half of {@code x [2B, C, H, W]} is run twice, as
     * {@code [half; half]}, with {@code t} and {@code y} (2B each: DiT's order is
     * {@code [cond labels; null labels]}); then on the first 3 output channels (ε, or all of them
     * when the model has fewer) both halves become {@code uncond + cfgScale·(cond − uncond)}; the other
     * channels (the learned-sigma values, and ε channels past the third) are each half's own
     * output. The result has x's shape with the model's output channels.
     */
    public Tensor forwardWithCfg(Tensor x, float[] t, int[] y, double cfgScale) {
        ensureOpen();
        checkTensor("forwardWithCfg", x);
        if (x.dim(0) % 2 != 0) {
            throw new IllegalArgumentException("forwardWithCfg: x's batch is " + x.dim(0) + "; guidance needs an even batch ([cond; uncond] halves)");
        }
        if (!Double.isFinite(cfgScale)) throw new IllegalArgumentException("forwardWithCfg: cfgScale must be finite, got " + cfgScale);
        long half = x.dim(0) / 2;
        try (Scope s = Scope.open()) {
            Tensor first = s.track(sliceBatch(x, 0, half));
            Tensor combined = s.track(concatBatch(first, first));
            Tensor out = forward(combined, t, y);
            try {
                applyGuidance(out, cfgScale);
            } catch (RuntimeException | Error e) {
                out.close();
                throw e;
            }
            return out;
        }
    }

    /** {@link #forwardWithCfg(Tensor, float[], int[], double)} with t and y as tensors. */
    public Tensor forwardWithCfg(Tensor x, Tensor t, Tensor y, double cfgScale) {
        ensureOpen();
        return forwardWithCfg(x, timesteps("forwardWithCfg", t), labelsOf("forwardWithCfg", y), cfgScale);
    }

    /**
     * In place on {@code out [2B, outC, H, W]}: channels {@code [0, min(3, outC))} of both halves ←
     * {@code uncond + s·(cond − uncond)}, evaluated in the model dtype as PyTorch does (difference,
     * product, sum, each rounded).
     */
    private void applyGuidance(Tensor out, double scale) {
        long b = out.dim(0) / 2, oc = out.dim(1), plane = out.dim(2) * out.dim(3);
        long guided = Math.min(3, oc) * plane;
        long es = out.dtype().byteSize();
        try (Scope s = Scope.open()) {
            Tensor cond = s.track(sliceBatch(out, 0, b));
            Tensor unc = s.track(sliceBatch(out, b, b));
            Tensor diff = s.track(Elementwise.add(cond, s.track(Elementwise.scale(unc, -1f))));
            Tensor g = s.track(Elementwise.add(unc, s.track(Elementwise.scale(diff, (float) scale))));
            for (long i = 0; i < 2 * b; i++) {
                long src = (i % b) * oc * plane, dst = i * oc * plane;
                device.backend().copy(g.storage(), g.byteOffset() + src * es, out.storage(), out.byteOffset() + dst * es, guided * es);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers

    private void checkTensor(String op, Tensor x) {
        if (x == null) throw new IllegalArgumentException(op + ": x is null");
        if (x.isClosed()) throw new IllegalArgumentException(op + ": x (" + x.describe() + ") is closed");
        if (!x.device().sameAs(device)) {
            throw new IllegalArgumentException(op + ": x is on " + x.device().name() + " but the model is on " + device.name() + "; move it with Tensor.to(Device)");
        }
        if (x.dtype() != dtype) {
            throw new IllegalArgumentException(op + ": x has dtype " + x.dtype() + " but the model computes in " + dtype + "; convert it with Tensor.to(DType)");
        }
        int in = config.inputSize();
        if (x.rank() != 4 || x.dim(0) < 1 || x.dim(1) != config.inChannels() || x.dim(2) != in || x.dim(3) != in) {
            throw new IllegalArgumentException(op + ": x has shape " + Shapes.toString(x.shape()) + "; expected [N >= 1, " + config.inChannels()
                    + ", " + in + ", " + in + "]");
        }
    }

    void checkInputs(String op, Tensor x, float[] t, int[] y) {
        checkTensor(op, x);
        long n = x.dim(0);
        if (t == null || t.length != n) {
            throw new IllegalArgumentException(op + ": t has " + (t == null ? "no" : t.length) + " values but x's batch is " + n);
        }
        if (y == null || y.length != n) {
            throw new IllegalArgumentException(op + ": y has " + (y == null ? "no" : y.length) + " values but x's batch is " + n);
        }
        for (int i = 0; i < t.length; i++) {
            if (!Float.isFinite(t[i])) throw new IllegalArgumentException(op + ": t[" + i + "] = " + t[i] + " is not finite");
        }
        checkLabels(op, y);
    }

    void checkLabels(String op, int[] y) {
        for (int i = 0; i < y.length; i++) {
            if (y[i] < 0 || y[i] >= config.labelRows()) {
                throw new IllegalArgumentException(op + ": label y[" + i + "] = " + y[i] + " is outside [0, " + config.labelRows() + ")"
                        + (config.hasNullClass() ? " (" + config.numClasses() + " classes; " + config.nullClass() + " is the null class)"
                                : " (" + config.numClasses() + " classes; this model has no null class)"));
            }
        }
    }

    private static float[] timesteps(String op, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": t is null");
        if (t.rank() != 1) throw new IllegalArgumentException(op + ": t is " + t.describe() + "; expected [N]");
        try (Device cpu = Device.cpu(); Tensor h = t.to(cpu)) {
            return switch (h.dtype()) {
                case I32 -> {
                    int[] v = h.toIntArray();
                    float[] f = new float[v.length];
                    for (int i = 0; i < v.length; i++) f[i] = v[i];
                    yield f;
                }
                case I64 -> {
                    long[] v = h.toLongArray();
                    float[] f = new float[v.length];
                    for (int i = 0; i < v.length; i++) f[i] = v[i];
                    yield f;
                }
                default -> h.toFloatArray();
            };
        }
    }

    private static int[] labelsOf(String op, Tensor y) {
        if (y == null) throw new IllegalArgumentException(op + ": y is null");
        if (y.rank() != 1 || (y.dtype() != DType.I32 && y.dtype() != DType.I64)) {
            throw new IllegalArgumentException(op + ": y is " + y.describe() + "; expected I32 or I64 [N]");
        }
        try (Device cpu = Device.cpu(); Tensor h = y.to(cpu)) {
            if (h.dtype() == DType.I32) return h.toIntArray();
            long[] v = h.toLongArray();
            int[] r = new int[v.length];
            for (int i = 0; i < v.length; i++) {
                if (v[i] < Integer.MIN_VALUE || v[i] > Integer.MAX_VALUE) throw new IllegalArgumentException(op + ": y[" + i + "] = " + v[i] + " is not a label");
                r[i] = (int) v[i];
            }
            return r;
        }
    }

    /** Rows {@code ids} of {@code table [rows, D]} as {@code [ids.length, D]}. */
    private Tensor gather(Tensor table, int[] ids) {
        long d = table.dim(1), rowBytes = d * table.dtype().byteSize();
        Tensor out = device.allocate(table.dtype(), ids.length, d);
        for (int i = 0; i < ids.length; i++) {
            device.backend().copy(table.storage(), table.byteOffset() + ids[i] * rowBytes, out.storage(), out.byteOffset() + i * rowBytes, rowBytes);
        }
        return out;
    }

    /** A copy of batch items {@code [start, start + count)} of {@code x}. */
    static Tensor sliceBatch(Tensor x, long start, long count) {
        long[] shape = x.shape();
        long item = Shapes.numel(shape) / shape[0], es = x.dtype().byteSize();
        shape[0] = count;
        Tensor out = x.device().allocate(x.dtype(), shape);
        x.device().backend().copy(x.storage(), x.byteOffset() + start * item * es, out.storage(), out.byteOffset(), count * item * es);
        return out;
    }

    /** {@code [a; b]} along dim 0 (same dtype, device and trailing shape). */
    static Tensor concatBatch(Tensor a, Tensor b) {
        long[] shape = a.shape();
        shape[0] = a.dim(0) + b.dim(0);
        Tensor out = a.device().allocate(a.dtype(), shape);
        a.device().backend().copy(a.storage(), a.byteOffset(), out.storage(), out.byteOffset(), a.byteSize());
        a.device().backend().copy(b.storage(), b.byteOffset(), out.storage(), out.byteOffset() + a.byteSize(), b.byteSize());
        return out;
    }

    /** Every weight tensor (for tests and memory accounting). */
    List<Tensor> weightTensors() {
        List<Tensor> all = new ArrayList<>(Arrays.asList(xEmb, xEmbB, pos, t0, t0B, t2, t2B, labels, finAda, finAdaB, fin, finB));
        for (Block b : blocks) all.addAll(b.all());
        return all;
    }

    void ensureOpen() {
        if (closed) throw new IllegalStateException("DiT is closed");
    }

    /** Frees the weights; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Tensor t : new Tensor[] {xEmb, xEmbB, pos, t0, t0B, t2, t2B, labels, finAda, finAdaB, fin, finB}) {
            if (t != null) t.close();
        }
        for (Block b : blocks) b.close();
    }
}
