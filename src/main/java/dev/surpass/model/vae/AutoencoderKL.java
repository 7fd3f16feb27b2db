package dev.surpass.model.vae;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.vae.VaeOps.Attn;
import dev.surpass.model.conv.ConvOps;
import dev.surpass.model.conv.ConvOps.Conv;
import dev.surpass.model.conv.ConvOps.Norm;
import dev.surpass.model.conv.ConvTables;
import dev.surpass.model.vae.VaeOps.Resnet;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The decoder of diffusers' {@code AutoencoderKL} (the Stable Diffusion VAE that DiT's latents
 * belong to: {@code stabilityai/sd-vae-ft-mse} / {@code sd-vae-ft-ema}), loaded from a diffusers
 * folder and run on the model's {@link Device} through the layers ops ({@link VaeOps}).
 *
 * <p>Structure, as diffusers' {@code Decoder}: {@code post_quant_conv} (1×1, when the config uses
 * it), {@code conv_in} (3×3), the mid block (resnet, single-head self-attention over all positions
 * when {@code mid_block_add_attention}, resnet), one {@code UpDecoderBlock2D} per level in reversed
 * {@code block_out_channels} order (layers_per_block + 1 resnets, then nearest ×2 and a 3×3 conv on
 * all but the last), {@code conv_norm_out} (GroupNorm), SiLU, {@code conv_out} (3×3). Every
 * GroupNorm has {@code norm_num_groups} groups and eps 1e-6.
 *
 * <p>Two entry points, because diffusers' and its pipelines' conventions differ: {@link #decode}
 * is {@code vae.decode(z).sample} exactly (no scaling); {@link #decodeScaled} first undoes the
 * scaling a diffusion model's latents carry, {@code z = latents · (1 / scaling_factor)} as
 * {@code DiTPipeline} writes it (plus {@code shift_factor} when the config has one, as SD3's
 * pipeline adds it). {@link #toImages} then makes 8-bit pictures as the pipelines'
 * {@code numpy_to_pil} does.
 *
 * <p>The encoder (diffusers' {@code Encoder} and {@code quant_conv}: {@link #encode},
 * {@link #encodeMean}, {@link #encodeScaled}) loads lazily, on the first encode, from the folder
 * the model was loaded from: a text-to-image pipeline never pays for it, and decoder-only
 * checkpoints still load (their encode throws {@link IllegalStateException} naming the missing
 * tensor). Weights stored in F16/BF16 are widened to fp32 on load, and the decoder always computes
 * in fp32 (what diffusers' {@code force_upcast} asks of a 16-bit pipeline anyway).
 *
 * <p>Threads: a loaded model is read-only; {@link #decode} may run from several threads at once.
 * {@link #close} frees the weights; use after close throws {@link IllegalStateException}.
 */
public final class AutoencoderKL implements AutoCloseable {
    private final Device device;
    private final AutoencoderKLConfig config;
    private final List<Tensor> owned = new ArrayList<>();
    private Conv postQuant;         // 1×1, [latent, latent], or null
    private Conv convIn;            // 3×3, latent → C_top
    private Resnet[] mid;           // 2 resnets at C_top
    private Attn midAttn;           // or null (mid_block_add_attention false)
    private Resnet[][] up;          // up[i][j]: level i (reversed channels), layers_per_block + 1 resnets
    private Conv[] upsample;        // up[i]'s 3×3 conv after the ×2 (null for the last level)
    private Norm normOut;           // [C_bottom]
    private Conv convOut;           // 3×3, C_bottom → out_channels
    private volatile boolean closed;
    private final Path dir;          // the VAE folder, for the lazily loaded encoder
    private volatile Encoder encoder; // loaded on the first encode

    /** Philox stream of {@link #encodeScaled}'s sample of the latent distribution. */
    public static final long SAMPLE_STREAM = 1L << 41;

    /** The encoder's weights: diffusers' Encoder (conv_in, down blocks, mid block, conv_norm_out, conv_out) and quant_conv. */
    private record Encoder(Conv convIn, Resnet[][] down, Conv[] downsample, Resnet[] mid, Attn midAttn, Norm normOut, Conv convOut,
                           Conv quant) {}

    private AutoencoderKL(Device device, AutoencoderKLConfig config, Path dir) {
        this.device = device;
        this.config = config;
        this.dir = dir;
    }

    public AutoencoderKLConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Loads a diffusers AutoencoderKL folder onto {@code device}: {@code config.json} and
     * {@code diffusion_pytorch_model.safetensors} (else {@code diffusion_pytorch_model.bin}, read
     * without running its pickle). {@code dir} may also be a
     * pipeline folder with the VAE in {@code vae/}. Attention weights load under today's names
     * ({@code to_q}, {@code to_k}, {@code to_v}, {@code to_out.0}) or the ones older diffusers saved
     * and still renames on load ({@code query}, {@code key}, {@code value}, {@code proj_attn}),
     * stored as linear {@code [C, C]} or as 1×1 conv {@code [C, C, 1, 1]} weights.
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *                                  missing tensor or one of another shape or a non-float dtype
     */
    public static AutoencoderKL load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("AutoencoderKL.load: device is null");
        if (device.isClosed()) throw new IllegalArgumentException("AutoencoderKL.load: device " + device.name() + " is closed");
        dir = Checkpoint.componentFolder("AutoencoderKL.load", dir, "vae", "a diffusers VAE with config.json");
        AutoencoderKLConfig cfg = AutoencoderKLConfig.load(dir);
        // Every weight file of the folder, a .bin converted on the fly; where a folder holds variants
        // (diffusion_pytorch_model.fp16.safetensors beside the plain one) the plain file, last in
        // name order, gives each tensor.
        try (Checkpoint wt = Checkpoint.open(dir)) {
            AutoencoderKL m = new AutoencoderKL(device, cfg, dir);
            try {
                m.fill(wt);
            } catch (RuntimeException | Error e) {
                m.close();
                throw e;
            }
            return device.ready(m);
        }
    }

    private void fill(Checkpoint wt) {
        AutoencoderKLConfig c = config;
        int[] boc = c.blockOutChannels();
        int top = boc[boc.length - 1], lat = c.latentChannels();
        if (c.usePostQuantConv()) postQuant = conv(wt, "post_quant_conv", 1, lat, lat);
        convIn = conv(wt, "decoder.conv_in", 3, lat, top);
        mid = new Resnet[] {resnet(wt, "decoder.mid_block.resnets.0", top, top), resnet(wt, "decoder.mid_block.resnets.1", top, top)};
        if (c.midBlockAddAttention()) midAttn = attention(wt, "decoder.mid_block.attentions.0", top);
        int levels = boc.length;
        up = new Resnet[levels][];
        upsample = new Conv[levels];
        int prev = top;
        for (int i = 0; i < levels; i++) {
            int ch = boc[levels - 1 - i];
            up[i] = new Resnet[c.layersPerBlock() + 1];
            for (int j = 0; j < up[i].length; j++) {
                up[i][j] = resnet(wt, "decoder.up_blocks." + i + ".resnets." + j, j == 0 ? prev : ch, ch);
            }
            if (i < levels - 1) upsample[i] = conv(wt, "decoder.up_blocks." + i + ".upsamplers.0.conv", 3, ch, ch);
            prev = ch;
        }
        normOut = norm(wt, "decoder.conv_norm_out", boc[0]);
        convOut = conv(wt, "decoder.conv_out", 3, boc[0], c.outChannels());
    }

    private Tensor keep(float[] v, long... shape) {
        Tensor t = device.upload(DType.F32, v, shape);
        synchronized (owned) {
            owned.add(t);
        }
        return t;
    }

    /** A Conv2d {@code [cout, cin, k, k]} re-laid out to {@code [cout, k·k·cin]} in (ky, kx, cin) order. */
    private Conv conv(Checkpoint wt, String p, int k, int cin, int cout) {
        float[] r = ConvOps.relayout(wt.read(p + ".weight", cout, cin, k, k), cout, cin, k);
        return new Conv(keep(r, cout, (long) k * k * cin), keep(wt.read(p + ".bias", cout), cout), k, cin, cout);
    }

    private Norm norm(Checkpoint wt, String p, int c) {
        return new Norm(keep(wt.read(p + ".weight", c), c), keep(wt.read(p + ".bias", c), c));
    }

    private Resnet resnet(Checkpoint wt, String p, int cin, int cout) {
        Norm n1 = norm(wt, p + ".norm1", cin);
        Conv c1 = conv(wt, p + ".conv1", 3, cin, cout);
        Norm n2 = norm(wt, p + ".norm2", cout);
        Conv c2 = conv(wt, p + ".conv2", 3, cout, cout);
        Conv sc = cin != cout ? conv(wt, p + ".conv_shortcut", 1, cin, cout) : null; // diffusers: use_in_shortcut = in != out
        return new Resnet(n1, c1, n2, c2, sc);
    }

    private Attn attention(Checkpoint wt, String p, int c) {
        Norm gn = norm(wt, p + ".group_norm", c);
        Tensor[] q = linear(wt, p, "to_q", "query", c), k = linear(wt, p, "to_k", "key", c);
        Tensor[] v = linear(wt, p, "to_v", "value", c), o = linear(wt, p, "to_out.0", "proj_attn", c);
        return new Attn(gn, q[0], q[1], k[0], k[1], v[0], v[1], o[0], o[1]);
    }

    /**
     * An attention projection's weight {@code [c, c]} and bias {@code [c]} under {@code p.name},
     * else under the legacy {@code p.legacy}; the weight may be stored as a 1×1 conv
     * {@code [c, c, 1, 1]}.
     */
    private Tensor[] linear(Checkpoint wt, String p, String name, String legacy, int c) {
        String base = wt.has(p + "." + name + ".weight") ? p + "." + name : wt.has(p + "." + legacy + ".weight") ? p + "." + legacy : null;
        if (base == null) {
            throw new IllegalArgumentException(wt.dir() + ": tensor '" + p + "." + name + ".weight' (or the legacy '" + p + "." + legacy
                    + ".weight') is missing from the checkpoint");
        }
        long[] s = wt.info(base + ".weight").shape();
        float[] w = s.length == 4 ? wt.read(base + ".weight", c, c, 1, 1) : wt.read(base + ".weight", c, c);
        return new Tensor[] {keep(w, c, c), keep(wt.read(base + ".bias", c), c)};
    }

    // ---------------------------------------------------------------------------------------------
    // Decoding

    /**
     * Decodes latents as diffusers' {@code vae.decode(z).sample}: {@code z [N, latent_channels, h, w]}
     * (floating, on the model's device; not divided by anything) → images
     * {@code [N, out_channels, h·f, w·f]} F32 (f = {@link AutoencoderKLConfig#upscale()}, 8 for the SD
     * VAE), nominally in [-1, 1] (not clamped). Samples are decoded one at a time.
     *
     * @throws IllegalArgumentException for a null or closed z, one on another device, of a non-floating
     *                                  dtype or not shaped {@code [N, latent_channels, h, w]} with N, h, w ≥ 1
     */
    public Tensor decode(Tensor z) {
        ensureOpen();
        check("decode", z);
        int n = (int) z.dim(0), lat = config.latentChannels(), h = (int) z.dim(2), w = (int) z.dim(3), f = config.upscale();
        int oc = config.outChannels();
        long ho = (long) h * f, wo = (long) w * f;
        try (Tensor zf = z.dtype() == DType.F32 ? null : z.to(DType.F32)) {
            Tensor in = zf == null ? z : zf;
            Tensor out = device.allocate(DType.F32, n, oc, ho, wo);
            // the index tables of this call: each size's made once, for the several convs at that size and every sample
            try (ConvTables tables = new ConvTables(device)) {
                for (int s = 0; s < n; s++) {
                    try (Tensor one = in.view((long) s * lat * h * w, lat, (long) h * w); Tensor img = decodeOne(one, h, w, tables)) {
                        device.backend().copy(img.storage(), img.byteOffset(), out.storage(), out.byteOffset() + s * img.byteSize(), img.byteSize());
                    }
                }
                return out;
            } catch (RuntimeException | Error e) {
                out.close();
                throw e;
            }
        }
    }

    /**
     * Decodes a diffusion model's latents: {@link #decode} of {@code latents · (1 / scaling_factor)}
     * ({@code + shift_factor} when the config has one), as {@code DiTPipeline} does before its
     * {@code vae.decode}.
     */
    public Tensor decodeScaled(Tensor latents) {
        ensureOpen();
        check("decodeScaled", latents);
        try (Scope s = Scope.open()) {
            Tensor f = latents.dtype() == DType.F32 ? latents : s.track(latents.to(DType.F32));
            Tensor z = s.track(Elementwise.scale(f, (float) (1 / config.scalingFactor())));
            if (config.shiftFactor() != 0) {
                float[] shift = new float[(int) z.dim(3)];
                Arrays.fill(shift, (float) config.shiftFactor());
                z = s.track(Elementwise.add(z, s.track(device.upload(DType.F32, shift, shift.length))));
            }
            return decode(z);
        }
    }

    /** One latent {@code [lat, h·w]} (channels-first) → its image {@code [out_channels, H·W]}. */
    private Tensor decodeOne(Tensor latent, int h, int w, ConvTables tables) {
        int groups = config.normNumGroups(), lat = config.latentChannels();
        Tensor x = VaeOps.transpose(latent, lat, h * w, tables); // [h·w, lat]
        try {
            if (postQuant != null) x = replace(x, VaeOps.conv1x1(x, postQuant));
            x = replace(x, VaeOps.conv3x3(x, h, w, convIn, false, tables));
            x = replace(x, VaeOps.resnet(x, h, w, mid[0], groups, tables));
            if (midAttn != null) x = replace(x, VaeOps.attention(x, midAttn, groups));
            x = replace(x, VaeOps.resnet(x, h, w, mid[1], groups, tables));
            for (int i = 0; i < up.length; i++) {
                for (Resnet r : up[i]) x = replace(x, VaeOps.resnet(x, h, w, r, groups, tables));
                if (upsample[i] != null) {
                    x = replace(x, VaeOps.conv3x3(x, h, w, upsample[i], true, tables));
                    h *= 2;
                    w *= 2;
                }
            }
            x = replace(x, VaeOps.norm(x, normOut, groups, true));
            x = replace(x, VaeOps.conv3x3(x, h, w, convOut, false, tables)); // [H·W, out]
            return VaeOps.transpose(x, h * w, config.outChannels(), tables);
        } finally {
            x.close();
        }
    }

    private static Tensor replace(Tensor old, Tensor next) {
        old.close();
        return next;
    }

    private void check(String op, Tensor z) {
        String where = "AutoencoderKL." + op;
        if (z == null) throw new IllegalArgumentException(where + ": latents are null");
        if (z.isClosed()) throw new IllegalArgumentException(where + ": latents (" + z.describe() + ") are closed");
        if (!z.dtype().isFloating()) throw new IllegalArgumentException(where + ": latents are " + z.describe() + "; expected F32, F16 or BF16");
        if (!z.device().sameAs(device)) {
            throw new IllegalArgumentException(where + ": latents are on " + z.device().name() + " but the model is on " + device.name());
        }
        long[] s = z.shape();
        if (s.length != 4 || s[1] != config.latentChannels() || s[0] < 1 || s[2] < 1 || s[3] < 1) {
            throw new IllegalArgumentException(where + ": latents are " + z.describe() + "; expected [N, " + config.latentChannels()
                    + ", h, w] with N, h, w >= 1");
        }
        long pixels = s[2] * s[3] * (long) config.upscale() * config.upscale();
        if (s[0] > Integer.MAX_VALUE || pixels * 9 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": latents are " + z.describe() + "; an image of " + pixels
                    + " pixels is too large (at most " + Integer.MAX_VALUE / 9 + ")");
        }
    }


    // ---------------------------------------------------------------------------------------------
    // Encoding

    /**
     * The encoder, loaded on first use from the folder (one thread loads; the others wait).
     *
     * @throws IllegalStateException naming the folder and the missing or misshapen tensor (or the
     *                               unsupported down block type) when the checkpoint has no usable encoder
     */
    private Encoder encoder() {
        Encoder e = encoder;
        if (e != null) return e;
        synchronized (this) {
            ensureOpen();
            if (encoder != null) return encoder;
            JsonNode types = ConfigJson.load(dir, "AutoencoderKL").node().get("down_block_types");
            if (types != null && !types.isNull()) {
                for (JsonNode t : types) {
                    if (!t.isTextual() || !t.asText().equals("DownEncoderBlock2D")) {
                        throw new IllegalStateException("AutoencoderKL.encode: " + dir.resolve("config.json") + " field \"down_block_types\" has " + t
                                + "; surpass encodes with DownEncoderBlock2D blocks only");
                    }
                }
                if (types.size() != config.blockOutChannels().length) {
                    throw new IllegalStateException("AutoencoderKL.encode: " + dir.resolve("config.json") + " field \"down_block_types\" has "
                            + types.size() + " entries but block_out_channels has " + config.blockOutChannels().length);
                }
            }
            int before;
            synchronized (owned) {
                before = owned.size();
            }
            try (Checkpoint wt = Checkpoint.open(dir)) {
                Encoder loaded = loadEncoder(wt);
                device.synchronize(); // its uploads finish before another thread can see the encoder
                encoder = loaded;
                return loaded;
            } catch (IllegalArgumentException ex) {
                synchronized (owned) { // free what the failed load uploaded
                    while (owned.size() > before) owned.removeLast().close();
                }
                throw new IllegalStateException("AutoencoderKL.encode: the checkpoint in " + dir + " has no usable encoder: " + ex.getMessage(), ex);
            }
        }
    }

    private Encoder loadEncoder(Checkpoint wt) {
        AutoencoderKLConfig c = config;
        int[] boc = c.blockOutChannels();
        int levels = boc.length, top = boc[levels - 1], lat2 = 2 * c.latentChannels();
        Conv in = conv(wt, "encoder.conv_in", 3, c.inChannels(), boc[0]);
        Resnet[][] down = new Resnet[levels][];
        Conv[] ds = new Conv[levels];
        int prev = boc[0];
        for (int i = 0; i < levels; i++) {
            int ch = boc[i];
            down[i] = new Resnet[c.layersPerBlock()];
            for (int j = 0; j < down[i].length; j++) {
                down[i][j] = resnet(wt, "encoder.down_blocks." + i + ".resnets." + j, j == 0 ? prev : ch, ch);
            }
            if (i < levels - 1) ds[i] = conv(wt, "encoder.down_blocks." + i + ".downsamplers.0.conv", 3, ch, ch);
            prev = ch;
        }
        Resnet[] mid = {resnet(wt, "encoder.mid_block.resnets.0", top, top), resnet(wt, "encoder.mid_block.resnets.1", top, top)};
        Attn attn = c.midBlockAddAttention() ? attention(wt, "encoder.mid_block.attentions.0", top) : null;
        Norm norm = norm(wt, "encoder.conv_norm_out", top);
        Conv out = conv(wt, "encoder.conv_out", 3, top, lat2); // double_z: mean and logvar
        Conv quant = c.useQuantConv() ? conv(wt, "quant_conv", 1, lat2, lat2) : null;
        return new Encoder(in, down, ds, mid, attn, norm, out, quant);
    }

    /**
     * Encodes images as diffusers' {@code vae.encode(x).latent_dist.parameters}: {@code images
     * [N, in_channels, H, W]} (floating, nominally in [-1, 1], on the model's device; H and W
     * multiples of {@link AutoencoderKLConfig#upscale()}) → {@code [N, 2·latent_channels, H/f, W/f]}
     * F32, the latent distribution's mean (channels {@code [0, latent)}) then its log-variance
     * (unclamped), as {@code DiagonalGaussianDistribution} splits them. Samples run one at a time.
     *
     * @throws IllegalArgumentException for null, closed, non-floating images, images on another
     *                                  device or of another shape
     * @throws IllegalStateException    when the checkpoint has no (complete) encoder
     */
    public Tensor encode(Tensor images) {
        ensureOpen();
        checkImages("encode", images);
        Encoder e = encoder();
        int n = (int) images.dim(0), cin = config.inChannels(), h = (int) images.dim(2), w = (int) images.dim(3), f = config.upscale();
        int lat2 = 2 * config.latentChannels(), ho = h / f, wo = w / f;
        try (Tensor xf = images.dtype() == DType.F32 ? null : images.to(DType.F32)) {
            Tensor in = xf == null ? images : xf;
            Tensor out = device.allocate(DType.F32, n, lat2, ho, wo);
            try (ConvTables tables = new ConvTables(device)) { // this call's index tables, as decode's
                for (int s = 0; s < n; s++) {
                    try (Tensor one = in.view((long) s * cin * h * w, cin, (long) h * w); Tensor m = encodeOne(e, one, h, w, tables)) {
                        device.backend().copy(m.storage(), m.byteOffset(), out.storage(), out.byteOffset() + s * m.byteSize(), m.byteSize());
                    }
                }
                return out;
            } catch (RuntimeException | Error ex) {
                out.close();
                throw ex;
            }
        }
    }

    /** One image {@code [cin, h·w]} (channels-first) → its moments {@code [2·latent, (h/f)·(w/f)]}. */
    private Tensor encodeOne(Encoder e, Tensor image, int h, int w, ConvTables tables) {
        int groups = config.normNumGroups(), lat2 = 2 * config.latentChannels();
        Tensor x = VaeOps.transpose(image, config.inChannels(), h * w, tables); // [h·w, cin]
        try {
            x = replace(x, VaeOps.conv3x3(x, h, w, e.convIn(), false, tables));
            for (int i = 0; i < e.down().length; i++) {
                for (Resnet r : e.down()[i]) x = replace(x, VaeOps.resnet(x, h, w, r, groups, tables));
                if (e.downsample()[i] != null) {
                    x = replace(x, ConvOps.conv3x3(x, 1, h, w, e.downsample()[i], ConvOps.Sampling.DOWN2_PAD_END, tables));
                    h /= 2;
                    w /= 2;
                }
            }
            x = replace(x, VaeOps.resnet(x, h, w, e.mid()[0], groups, tables));
            if (e.midAttn() != null) x = replace(x, VaeOps.attention(x, e.midAttn(), groups));
            x = replace(x, VaeOps.resnet(x, h, w, e.mid()[1], groups, tables));
            x = replace(x, VaeOps.norm(x, e.normOut(), groups, true));
            x = replace(x, VaeOps.conv3x3(x, h, w, e.convOut(), false, tables)); // [h·w, 2·latent]
            if (e.quant() != null) x = replace(x, VaeOps.conv1x1(x, e.quant()));
            return VaeOps.transpose(x, h * w, lat2, tables);
        } finally {
            x.close();
        }
    }

    /**
     * The latent distribution's mode (its mean, {@code latent_dist.mode()}): {@code [N, latent, H/f, W/f]}
     * F32, not scaled.
     */
    public Tensor encodeMean(Tensor images) {
        try (Tensor moments = encode(images)) {
            return half(moments, 0);
        }
    }

    /**
     * Latents for a diffusion model from images, as the image-to-image pipelines make them with
     * {@code retrieve_latents(vae.encode(x), sample_mode="sample")}: a sample of the latent
     * distribution, {@code mean + exp(0.5·clamp(logvar, −30, 20))·z} with z Philox Gaussian noise
     * ({@code seed}, stream {@link #SAMPLE_STREAM}), then {@code (sample − shift_factor) · scaling_factor}
     * (no shift when the config has none). The sampling arithmetic runs on the host in double (the
     * latents are small; there is no exp op on the device): {@code [N, latent, H/f, W/f]} F32.
     */
    public Tensor encodeScaled(Tensor images, long seed) {
        int lat = config.latentChannels();
        float[] m;
        long[] shape;
        try (Tensor moments = encode(images)) {
            m = moments.toFloatArray();
            shape = moments.shape();
        }
        shape[1] = lat;
        float[] z;
        try (Tensor noise = dev.surpass.diffusion.Noise.gaussian(device, DType.F32, seed, SAMPLE_STREAM, shape)) {
            z = noise.toFloatArray();
        }
        int per = (int) (shape[2] * shape[3]) * lat;
        float[] out = new float[z.length];
        double sf = config.scalingFactor(), shift = config.shiftFactor();
        for (int s = 0; s < shape[0]; s++) {
            for (int i = 0; i < per; i++) {
                double mean = m[2 * s * per + i], logvar = Math.min(Math.max(m[2 * s * per + per + i], -30.0), 20.0);
                double sample = mean + Math.exp(0.5 * logvar) * z[s * per + i];
                out[s * per + i] = (float) ((sample - shift) * sf);
            }
        }
        return device.upload(DType.F32, out, shape);
    }

    /** Channels {@code [from, from + latent)} of moments {@code [N, 2·latent, h, w]}: a new {@code [N, latent, h, w]}. */
    private Tensor half(Tensor moments, int from) {
        long n = moments.dim(0), lat = config.latentChannels(), hw = moments.dim(2) * moments.dim(3);
        Tensor out = device.allocate(DType.F32, n, lat, moments.dim(2), moments.dim(3));
        long bytes = lat * hw * 4;
        for (long s = 0; s < n; s++) {
            device.backend().copy(moments.storage(), moments.byteOffset() + (s * 2 * lat + from) * hw * 4, out.storage(), out.byteOffset() + s * bytes, bytes);
        }
        return out;
    }

    private void checkImages(String op, Tensor x) {
        String where = "AutoencoderKL." + op;
        if (x == null) throw new IllegalArgumentException(where + ": images are null");
        if (x.isClosed()) throw new IllegalArgumentException(where + ": images (" + x.describe() + ") are closed");
        if (!x.dtype().isFloating()) throw new IllegalArgumentException(where + ": images are " + x.describe() + "; expected F32, F16 or BF16");
        if (!x.device().sameAs(device)) {
            throw new IllegalArgumentException(where + ": images are on " + x.device().name() + " but the model is on " + device.name());
        }
        long[] s = x.shape();
        int f = config.upscale();
        if (s.length != 4 || s[1] != config.inChannels() || s[0] < 1 || s[2] < f || s[3] < f || s[2] % f != 0 || s[3] % f != 0) {
            throw new IllegalArgumentException(where + ": images are " + x.describe() + "; expected [N, " + config.inChannels()
                    + ", H, W] with N >= 1 and H, W positive multiples of " + f + " (the VAE's scale factor)");
        }
        if (s[0] > Integer.MAX_VALUE || s[2] * s[3] * 9 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(where + ": images are " + x.describe() + "; an image of " + s[2] * s[3]
                    + " pixels is too large (at most " + Integer.MAX_VALUE / 9 + ")");
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Images

    /**
     * Pictures → {@code [N, 3, H, W]} F32 in [-1, 1] on {@code device}, as diffusers'
     * {@code VaeImageProcessor.preprocess} makes them from PIL RGB images: each 8-bit channel
     * value v becomes {@code v / 255 · 2 − 1} (computed in fp32, as numpy's /255 then torch's
     * {@code 2·x − 1}); alpha is dropped. No resizing: every image must have the first one's size.
     *
     * @throws IllegalArgumentException for a null device, no images, a null image or images of different sizes
     */
    public static Tensor fromImages(Device device, BufferedImage... images) {
        if (device == null) throw new IllegalArgumentException("fromImages: device is null");
        if (images == null || images.length == 0) throw new IllegalArgumentException("fromImages: no images");
        for (int i = 0; i < images.length; i++) if (images[i] == null) throw new IllegalArgumentException("fromImages: image " + i + " is null");
        int w = images[0].getWidth(), h = images[0].getHeight();
        for (int i = 1; i < images.length; i++) {
            if (images[i].getWidth() != w || images[i].getHeight() != h) {
                throw new IllegalArgumentException("fromImages: image " + i + " is " + images[i].getWidth() + "×" + images[i].getHeight()
                        + " but image 0 is " + w + "×" + h + " (all must have one size)");
            }
        }
        if ((long) images.length * 3 * w * h > Integer.MAX_VALUE) throw new IllegalArgumentException("fromImages: too many pixels");
        float[] v = new float[images.length * 3 * w * h];
        for (int k = 0; k < images.length; k++) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = images[k].getRGB(x, y);
                    for (int ch = 0; ch < 3; ch++) {
                        int b = (rgb >> (16 - 8 * ch)) & 0xFF;
                        v[((k * 3 + ch) * h + y) * w + x] = (b / 255f) * 2f - 1f;
                    }
                }
            }
        }
        return device.upload(DType.F32, v, images.length, 3, h, w);
    }

    /**
     * 8-bit pictures of decoded images {@code [N, C, H, W]} (C = 3, or 1 for grey) as diffusers'
     * pipelines make them: {@code (x / 2 + 0.5).clamp(0, 1)}, then {@code numpy_to_pil}'s
     * {@code (v · 255).round()} (round half to even, in fp32).
     *
     * @throws IllegalArgumentException for a null or closed tensor or one not shaped [N, 1 or 3, H, W]
     */
    public static BufferedImage[] toImages(Tensor images) {
        if (images == null || images.isClosed()) throw new IllegalArgumentException("toImages: images are null or closed");
        long[] s = images.shape();
        if (s.length != 4 || (s[1] != 1 && s[1] != 3) || !images.dtype().isFloating() || s[2] * s[3] > Integer.MAX_VALUE / 4) {
            throw new IllegalArgumentException("toImages: images are " + images.describe() + "; expected floating [N, 3 (or 1), H, W]");
        }
        int n = (int) s[0], c = (int) s[1], h = (int) s[2], w = (int) s[3];
        float[] v = images.toFloatArray();
        BufferedImage[] out = new BufferedImage[n];
        for (int k = 0; k < n; k++) {
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = 0;
                    for (int ch = 0; ch < 3; ch++) {
                        float p = v[((k * c + (c == 1 ? 0 : ch)) * h + y) * w + x];
                        rgb = (rgb << 8) | toByte(p);
                    }
                    img.setRGB(x, y, rgb);
                }
            }
            out[k] = img;
        }
        return out;
    }

    /** One value in [-1, 1] to 0..255 as the pipelines do (NaN clamps to 0, as torch.clamp keeps NaN and uint8 casts it to 0). */
    static int toByte(float x) {
        float v = Math.min(Math.max(x / 2 + 0.5f, 0f), 1f);
        if (Float.isNaN(v)) return 0;
        return (int) Math.rint(v * 255f);
    }

    // ---------------------------------------------------------------------------------------------

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("AutoencoderKL is closed");
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        encoder = null;
        synchronized (owned) {
            for (Tensor t : owned) t.close();
            owned.clear();
        }
    }
}
