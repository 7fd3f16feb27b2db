package dev.surpass.model.decoder;

import dev.surpass.Tensor;
import java.util.function.Function;

/**
 * Held-out evaluation of a causal language model: bits per token (per character for a character
 * model) over a token stream, by the protocol the training scripts under {@code tools/train} use,
 * so the figure can be compared with theirs.
 */
public final class HeldOut {
    private HeldOut() {}

    /**
     * Windows of {@code ctx + 1} ids start at 0, ctx, 2·ctx, …; the model reads each window's first
     * {@code ctx} ids and is scored on the next {@code ctx}; the log-softmax is taken in double over
     * all {@code width} logits. {@code forward} maps {@code [windows][ctx]} ids to logits
     * {@code [windows, ctx, width]} (any tensor of that many elements).
     *
     * @return the mean negative log2-likelihood per scored token
     * @throws IllegalArgumentException when {@code ids} is shorter than one window or the logits have
     *     another size
     */
    public static double bitsPerToken(int[] ids, int ctx, int width, Function<int[][], Tensor> forward) {
        if (ids == null || forward == null) throw new IllegalArgumentException("bitsPerToken: ids or forward is null");
        if (ctx < 1 || width < 1) throw new IllegalArgumentException("bitsPerToken: ctx " + ctx + " and width " + width + " must be >= 1");
        int windows = (ids.length - 1) / ctx;
        if (windows < 1) {
            throw new IllegalArgumentException("bitsPerToken: " + ids.length + " ids are shorter than one window of " + (ctx + 1));
        }
        int[][] rows = new int[windows][ctx];
        for (int w = 0; w < windows; w++) System.arraycopy(ids, w * ctx, rows[w], 0, ctx);
        float[] lg;
        try (Tensor t = forward.apply(rows)) {
            lg = t.toFloatArray();
        }
        if (lg.length != (long) windows * ctx * width) {
            throw new IllegalArgumentException("bitsPerToken: the model gave " + lg.length + " logits; expected " + windows + " × " + ctx
                    + " × " + width);
        }
        double nats = 0;
        for (int w = 0; w < windows; w++) {
            for (int i = 0; i < ctx; i++) {
                int off = (w * ctx + i) * width;
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < width; v++) max = Math.max(max, lg[off + v]);
                double sum = 0;
                for (int v = 0; v < width; v++) sum += Math.exp(lg[off + v] - max);
                nats -= lg[off + ids[w * ctx + i + 1]] - max - Math.log(sum);
            }
        }
        return nats / ((double) windows * ctx) / Math.log(2);
    }
}
