package dev.surpass.model.clip;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.LayerNorm;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.Rows;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CLIP's vision tower in fp32, as transformers' {@code CLIPVisionModel} /
 * {@code CLIPVisionModelWithProjection} compute it on {@code pixel_values [B, C, S, S]}:
 * <pre>
 * patches = the G×G non-overlapping p×p patches (G = S/p), each flattened (c, y, x)   [B·G², C·p·p]
 * x = [class_embedding ; patches · patch_embeddingᵀ] + position_embedding[0..G²]     (the conv as one GEMM)
 * x = pre_layrnorm(x); the encoder's layers (as the text tower's, without the causal mask)
 * last_hidden_state = x                                          [B, G²+1, D]   (no final norm, as HF)
 * pooled = post_layernorm(x[:, 0])                               [B, D]
 * image_embeds = pooled · visual_projectionᵀ (no bias)           [B, P], when the checkpoint has it
 * </pre>
 * The patch gather is one row gather of the image's cells (its ids are B·C·S² ints). The image
 * must have the config's size (no position interpolation). Loads a vision folder (config.json with
 * model_type "clip_vision_model") or a full {@code CLIPModel} checkpoint; names with or without
 * {@code vision_model.}.
 *
 * <p>Thread rules: as {@link ClipTextModel}.
 */
public final class ClipVisionModel implements AutoCloseable {
    private final Device device;
    private final ClipVisionConfig config;
    private final List<Tensor> owned = new ArrayList<>();
    private ClipEncoder encoder;
    private Tensor patchW;              // [D, C·p·p]: the conv weight [D, C, p, p] flattened
    private Tensor classEmb, position;  // [1, D], [G²+1, D]
    private Tensor preW, preB, postW, postB; // [D]
    private Tensor projection;          // visual_projection [P, D], or null
    private volatile boolean closed;

    private ClipVisionModel(Device device, ClipVisionConfig config) {
        this.device = device;
        this.config = config;
    }

    /**
     * Loads a CLIP vision tower onto {@code device} from {@code dir} (config.json + weights).
     *
     * @throws IllegalArgumentException naming the file and field or tensor for a bad config, a
     *                                  missing tensor or one of another shape
     */
    public static ClipVisionModel load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("ClipVisionModel.load: device is null");
        if (device.isClosed()) throw new IllegalArgumentException("ClipVisionModel.load: device " + device.name() + " is closed");
        if (dir == null || !Files.isDirectory(dir)) throw new IllegalArgumentException("ClipVisionModel.load: " + dir + " is not a folder with config.json");
        ClipVisionConfig c = ClipVisionConfig.load(dir);
        try (Checkpoint ck = Checkpoint.open(dir)) {
            return device.ready(fromCheckpoint(device, c, ck));
        }
    }

    /** The vision tower of an open checkpoint. */
    static ClipVisionModel fromCheckpoint(Device device, ClipVisionConfig c, Checkpoint ck) {
        ClipVisionModel m = new ClipVisionModel(device, c);
        try {
            m.fill(ck, ck.has("vision_model.embeddings.class_embedding") ? "vision_model." : "");
        } catch (RuntimeException | Error e) {
            m.close();
            throw e;
        }
        return m;
    }

    private void fill(Checkpoint ck, String p) {
        ClipVisionConfig c = config;
        int d = c.hiddenSize(), ps = c.patchSize(), ch = c.numChannels();
        float[] w = ck.read(p + "embeddings.patch_embedding.weight", d, ch, ps, ps);
        patchW = own(device.upload(DType.F32, w, d, (long) ch * ps * ps));
        classEmb = own(device.upload(DType.F32, ck.read(p + "embeddings.class_embedding", d), 1, d));
        position = up(ck, p + "embeddings.position_embedding.weight", c.tokens(), d);
        preW = up(ck, p + "pre_layrnorm.weight", d);
        preB = up(ck, p + "pre_layrnorm.bias", d);
        encoder = new ClipEncoder(ck, device, p, d, c.intermediateSize(), c.numLayers(), c.numHeads(), c.activation(), c.layerNormEps(), owned);
        postW = up(ck, p + "post_layernorm.weight", d);
        postB = up(ck, p + "post_layernorm.bias", d);
        if (ck.has("visual_projection.weight")) projection = up(ck, "visual_projection.weight", c.projectionDim(), d);
    }

    private Tensor own(Tensor t) {
        owned.add(t);
        return t;
    }

    private Tensor up(Checkpoint ck, String name, long... shape) {
        return ClipEncoder.up(ck, device, owned, name, shape);
    }

    public ClipVisionConfig config() {
        return config;
    }

    public Device device() {
        return device;
    }

    public boolean hasProjection() {
        return projection != null;
    }

    /**
     * The tower on {@code pixelValues} (normalised as the processor does: see {@link ClipImageProcessor}).
     *
     * @param pixelValues F32 {@code [B, num_channels, image_size, image_size]} on the model's device
     * @throws IllegalArgumentException naming the dimension when the tensor does not fit
     */
    public ClipVisionOutput forward(Tensor pixelValues) {
        ensureOpen();
        ClipVisionConfig c = config;
        int s = c.imageSize(), ch = c.numChannels();
        if (pixelValues == null || pixelValues.isClosed() || pixelValues.dtype() != DType.F32 || pixelValues.rank() != 4 || pixelValues.dim(0) < 1
                || pixelValues.dim(1) != ch || pixelValues.dim(2) != s || pixelValues.dim(3) != s || !pixelValues.device().sameAs(device)) {
            throw new IllegalArgumentException("ClipVisionModel.forward: pixelValues is " + (pixelValues == null ? "null" : pixelValues.describe())
                    + "; expected F32 [B, " + ch + ", " + s + ", " + s + "] (num_channels, image_size) on " + device.name());
        }
        if (pixelValues.numel() > Integer.MAX_VALUE) throw new IllegalArgumentException("ClipVisionModel.forward: pixelValues has too many values");
        int b = (int) pixelValues.dim(0), g = c.grid(), p = c.patchSize(), n = g * g, l = n + 1, d = c.hiddenSize();
        Tensor last = null, pooled = null, embeds = null;
        try {
            try (Scope sc = Scope.open()) {
                Tensor x = sc.track(embed(sc, pixelValues, b));
                Tensor h = sc.track(encoder.run(sc.track(LayerNorm.layerNorm(x, preW, preB, c.layerNormEps())), b, l, c.numLayers(), false));
                last = h.reshape(b, l, d);
                int[] cls = new int[b];
                for (int i = 0; i < b; i++) cls[i] = i * l;
                pooled = LayerNorm.layerNorm(sc.track(Rows.gather(h, cls)), postW, postB, c.layerNormEps());
            }
            if (projection != null) embeds = Gemm.linear(pooled, projection, null);
            return new ClipVisionOutput(last, pooled, embeds);
        } catch (RuntimeException | Error ex) {
            for (Tensor t : new Tensor[] {last, pooled, embeds}) if (t != null) t.close();
            throw ex;
        }
    }

    /** Class and patch embeddings plus positions, {@code [B·(G²+1), D]}. */
    private Tensor embed(Scope sc, Tensor px, int b) {
        ClipVisionConfig c = config;
        int s = c.imageSize(), ch = c.numChannels(), g = c.grid(), p = c.patchSize(), n = g * g, l = n + 1, d = c.hiddenSize(), k = ch * p * p;
        int[] cells = new int[b * n * k];
        int at = 0;
        for (int i = 0; i < b; i++) {
            for (int gy = 0; gy < g; gy++) {
                for (int gx = 0; gx < g; gx++) {
                    for (int cc = 0; cc < ch; cc++) {
                        for (int ky = 0; ky < p; ky++) {
                            int row = ((i * ch + cc) * s + gy * p + ky) * s + gx * p;
                            for (int kx = 0; kx < p; kx++) cells[at++] = row + kx;
                        }
                    }
                }
            }
        }
        Tensor ids = sc.track(device.upload(cells, cells.length));
        Tensor patches = sc.track(sc.track(Gather.rows(sc.track(px.reshape(px.numel(), 1)), ids)).reshape((long) b * n, k));
        Tensor pe = sc.track(Gemm.linear(patches, patchW, null)); // the stride-p conv, no bias
        // rows 0..B·G²−1: the patches; row B·G²: the class embedding; then each image's rows picked in order
        Tensor stack = sc.track(device.allocate(DType.F32, (long) b * n + 1, d));
        long bytes = (long) b * n * d * 4;
        device.backend().copy(pe.storage(), pe.byteOffset(), stack.storage(), stack.byteOffset(), bytes);
        device.backend().copy(classEmb.storage(), classEmb.byteOffset(), stack.storage(), stack.byteOffset() + bytes, (long) d * 4);
        int[] order = new int[b * l], pos = new int[b * l];
        for (int i = 0; i < b; i++) {
            for (int t = 0; t < l; t++) {
                order[i * l + t] = t == 0 ? b * n : i * n + t - 1;
                pos[i * l + t] = t;
            }
        }
        return Elementwise.add(sc.track(Rows.gather(stack, order)), sc.track(Rows.gather(position, pos)));
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("ClipVisionModel is closed");
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
