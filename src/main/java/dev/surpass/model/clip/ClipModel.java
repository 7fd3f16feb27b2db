package dev.surpass.model.clip;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.Checkpoint;
import dev.surpass.model.decoder.ConfigJson;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A full HF {@code CLIPModel}: both towers, their projections and {@code logit_scale}, for
 * image–text similarity as transformers computes it:
 * <pre>
 * t = text_embeds / ‖text_embeds‖,  v = image_embeds / ‖image_embeds‖      (per row, L2)
 * logits_per_text = exp(logit_scale) · t · vᵀ   [Bt, Bi];   logits_per_image = its transpose
 * </pre>
 * The normalisation and the small products run on the host in float64 (the embeddings are [B, P]).
 * {@link #processor} reads the folder's preprocessor_config.json for {@link ClipImageProcessor#pixelValues}.
 *
 * <p>Thread rules: as {@link ClipTextModel}; the towers belong to this object (close it, not them).
 */
public final class ClipModel implements AutoCloseable {
    private final ClipTextModel text;
    private final ClipVisionModel vision;
    private final ClipImageProcessor processor;
    private final double logitScale; // the stored parameter; logits use its exp

    private ClipModel(ClipTextModel text, ClipVisionModel vision, ClipImageProcessor processor, double logitScale) {
        this.text = text;
        this.vision = vision;
        this.processor = processor;
        this.logitScale = logitScale;
    }

    /** Image–text logits: {@code perImage [Bi][Bt]} and {@code perText [Bt][Bi]}, as CLIPModel's output. */
    public record Logits(float[][] perImage, float[][] perText) {}

    /**
     * Loads {@code dir}: config.json with model_type "clip" (text_config, vision_config,
     * projection_dim), weights with {@code text_model.}, {@code vision_model.},
     * {@code text_projection.weight}, {@code visual_projection.weight} and {@code logit_scale}.
     *
     * @throws IllegalArgumentException naming the file and field or tensor that is missing or wrong
     */
    public static ClipModel load(Device device, Path dir) {
        if (device == null) throw new IllegalArgumentException("ClipModel.load: device is null");
        if (device.isClosed()) throw new IllegalArgumentException("ClipModel.load: device " + device.name() + " is closed");
        if (dir == null || !Files.isDirectory(dir)) throw new IllegalArgumentException("ClipModel.load: " + dir + " is not a folder with config.json");
        ConfigJson cfg = ConfigJson.load(dir, "CLIP");
        if (!cfg.text("model_type", "").equals("clip")) {
            throw new IllegalArgumentException(cfg.where() + ": field \"model_type\" is \"" + cfg.text("model_type", "")
                    + "\"; a full CLIPModel has \"clip\" (use ClipTextModel / ClipVisionModel for one tower)");
        }
        ClipTextConfig tc = ClipTextConfig.of(cfg);
        ClipVisionConfig vc = ClipVisionConfig.of(cfg);
        ClipImageProcessor proc = ClipImageProcessor.load(dir);
        try (Checkpoint ck = Checkpoint.open(dir)) {
            for (String need : new String[] {"text_projection.weight", "visual_projection.weight", "logit_scale"}) {
                if (!ck.has(need)) throw new IllegalArgumentException(dir + ": tensor '" + need + "' is missing; a CLIPModel checkpoint has it");
            }
            double scale = ck.read("logit_scale")[0];
            ClipTextModel t = ClipTextModel.fromCheckpoint(device, tc, ck);
            try {
                return device.ready(new ClipModel(t, ClipVisionModel.fromCheckpoint(device, vc, ck), proc, scale));
            } catch (RuntimeException | Error e) {
                t.close();
                throw e;
            }
        }
    }

    public ClipTextModel text() {
        return text;
    }

    public ClipVisionModel vision() {
        return vision;
    }

    public ClipImageProcessor processor() {
        return processor;
    }

    /** {@code exp(logit_scale)}: the temperature the cosine similarities are multiplied by. */
    public double logitScale() {
        return Math.exp(logitScale);
    }

    /**
     * The logits of every (image, text) pair.
     *
     * @param ids         token rows as {@link ClipTextModel#forward} takes them (padded to one length)
     * @param pixelValues as {@link ClipVisionModel#forward} takes it
     */
    public Logits logits(int[][] ids, Tensor pixelValues) {
        float[] te, ie;
        int p = text.config().projectionDim();
        try (ClipTextOutput t = text.forward(ids)) {
            te = t.textEmbeds().toFloatArray();
        }
        try (ClipVisionOutput v = vision.forward(pixelValues)) {
            ie = v.imageEmbeds().toFloatArray();
        }
        int bt = te.length / p, bi = ie.length / p;
        double[] nt = norms(te, p), ni = norms(ie, p);
        double s = logitScale();
        float[][] perText = new float[bt][bi], perImage = new float[bi][bt];
        for (int a = 0; a < bt; a++) {
            for (int b = 0; b < bi; b++) {
                double dot = 0;
                for (int j = 0; j < p; j++) dot += (double) te[a * p + j] * ie[b * p + j];
                float v = (float) (s * dot / (nt[a] * ni[b]));
                perText[a][b] = v;
                perImage[b][a] = v;
            }
        }
        return new Logits(perImage, perText);
    }

    private static double[] norms(float[] x, int p) {
        double[] n = new double[x.length / p];
        for (int r = 0; r < n.length; r++) {
            double s = 0;
            for (int j = 0; j < p; j++) s += (double) x[r * p + j] * x[r * p + j];
            n[r] = Math.sqrt(s);
        }
        return n;
    }

    /** Frees both towers; idempotent. */
    @Override
    public void close() {
        text.close();
        vision.close();
    }
}
