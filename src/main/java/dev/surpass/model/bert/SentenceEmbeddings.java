package dev.surpass.model.bert;

import dev.surpass.Tensor;
import dev.surpass.text.Tokenizer;
import dev.surpass.text.WordPieceTokenizer;
import java.util.List;

/**
 * Sentence embeddings as sentence-transformers computes them for BERT encoders such as
 * all-MiniLM-L6-v2: tokenize (with {@code [CLS]}/{@code [SEP]}, truncated to {@code maxLength}),
 * pad the batch to its longest sentence, run the encoder with the attention mask, mean-pool the
 * last hidden state over the real tokens, and L2-normalise.
 *
 * <p>Ownership: this object owns the {@link BertModel} it is given; {@link #close} closes it.
 * Thread rules: like the model, usable from several threads; not during {@link #close}.
 */
public final class SentenceEmbeddings implements AutoCloseable {
    /** Sentences per forward pass (bounds the activations' memory). */
    static final int CHUNK = 32;

    private final BertModel model;
    private final Tokenizer tokenizer;
    private final int maxLength;

    /**
     * @param model     the encoder (owned from now on)
     * @param tokenizer its tokenizer ({@link WordPieceTokenizer} truncates to {@code maxLength};
     *                  others must produce at most {@code maxLength} ids)
     * @param maxLength the most ids per sentence, special tokens included, {@code <= max_position_embeddings}
     */
    public SentenceEmbeddings(BertModel model, Tokenizer tokenizer, int maxLength) {
        if (model == null) throw new IllegalArgumentException("model is null");
        if (tokenizer == null) throw new IllegalArgumentException("tokenizer is null");
        if (maxLength < 2 || maxLength > model.config().maxTokens()) {
            throw new IllegalArgumentException("maxLength is " + maxLength + "; expected 2.." + model.config().maxTokens()
                    + " (max_position_embeddings)");
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
    }

    public BertModel model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public int maxLength() {
        return maxLength;
    }

    /** The ids of one sentence, special tokens included, truncated to {@link #maxLength}. */
    public int[] tokenize(String sentence) {
        if (sentence == null) throw new IllegalArgumentException("sentence is null");
        int[] ids = tokenizer instanceof WordPieceTokenizer wp ? wp.encode(sentence, true, maxLength) : tokenizer.encode(sentence);
        if (ids.length > maxLength) {
            throw new IllegalArgumentException("sentence has " + ids.length + " tokens; maxLength is " + maxLength);
        }
        return ids;
    }

    /**
     * Unit-length embeddings {@code [sentences.size()][hidden]}, in the order given. The encoder
     * runs on the real tokens only ({@link BertModel#forwardPacked}): the same values as padding
     * the batch to its longest sentence with an attention mask, without the work on the padding.
     * A sentence without tokens embeds to zeros.
     */
    public float[][] embed(List<String> sentences) {
        if (sentences == null || sentences.isEmpty()) throw new IllegalArgumentException("sentences is null or empty");
        int e = model.config().hiddenSize();
        float[][] out = new float[sentences.size()][];
        for (int from = 0; from < sentences.size(); from += CHUNK) {
            int to = Math.min(sentences.size(), from + CHUNK);
            int[][] ids = new int[to - from][];
            int nonEmpty = 0;
            for (int i = from; i < to; i++) {
                ids[i - from] = tokenize(sentences.get(i));
                if (ids[i - from].length > 0) nonEmpty++;
            }
            int[][] packed = new int[nonEmpty][];
            int p = 0;
            for (int[] row : ids) if (row.length > 0) packed[p++] = row;
            float[] hidden = new float[0];
            if (packed.length > 0) {
                try (Tensor h = model.forwardPacked(packed)) {
                    hidden = h.toFloatArray();
                }
            }
            int row = 0;
            for (int b = 0; b < ids.length; b++) {
                int[] rows = new int[ids[b].length];
                for (int t = 0; t < rows.length; t++) rows[t] = row++;
                out[from + b] = normalize(mean(hidden, e, rows, rows.length));
            }
        }
        return out;
    }

    /** Mean of {@code hidden [B, N, E]} over the positions whose mask is 1, per row ({@code [B][E]}). */
    public static float[][] meanPool(float[] hidden, int[][] mask, int e) {
        if (hidden == null || mask == null || mask.length == 0) throw new IllegalArgumentException("hidden or mask is null or empty");
        int b = mask.length, n = mask[0].length;
        if ((long) b * n * e != hidden.length) {
            throw new IllegalArgumentException("hidden has " + hidden.length + " values; mask [" + b + ", " + n + "] × " + e + " needs "
                    + (long) b * n * e);
        }
        float[][] out = new float[b][];
        int[] rows = new int[n];
        for (int s = 0; s < b; s++) {
            int count = 0;
            for (int t = 0; t < n; t++) if (mask[s][t] != 0) rows[count++] = s * n + t;
            out[s] = mean(hidden, e, rows, count);
        }
        return out;
    }

    /** Mean of the rows {@code rows[0..count)} of {@code hidden} (rows of {@code e}), summed in double in that order. */
    private static float[] mean(float[] hidden, int e, int[] rows, int count) {
        double[] acc = new double[e];
        for (int c = 0; c < count; c++) {
            int at = rows[c] * e;
            for (int i = 0; i < e; i++) acc[i] += hidden[at + i];
        }
        // sentence-transformers clamps the count at 1e-9: no rows pool to 0
        float[] out = new float[e];
        for (int i = 0; i < e; i++) out[i] = (float) (acc[i] / Math.max(count, 1));
        return out;
    }

    /** {@code v / max(‖v‖, 1e-12)} (torch.nn.functional.normalize). */
    public static float[] normalize(float[] v) {
        double ss = 0;
        for (float x : v) ss += (double) x * x;
        double norm = Math.max(Math.sqrt(ss), 1e-12);
        float[] o = new float[v.length];
        for (int i = 0; i < v.length; i++) o[i] = (float) (v[i] / norm);
        return o;
    }

    /** Cosine similarity of two vectors of one length. */
    public static double cosine(float[] a, float[] b) {
        if (a == null || b == null || a.length != b.length) throw new IllegalArgumentException("cosine: vectors are null or of different lengths");
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.max(Math.sqrt(na) * Math.sqrt(nb), 1e-30);
    }

    /** Closes the model. */
    @Override
    public void close() {
        model.close();
    }
}
