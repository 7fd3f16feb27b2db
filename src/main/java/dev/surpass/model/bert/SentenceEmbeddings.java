package dev.surpass.model.bert;

import dev.surpass.Tensor;
import dev.surpass.text.Tokenizer;
import java.util.List;
import java.util.Map;

/**
 * Sentence embeddings as sentence-transformers computes them for BERT-family encoders such as
 * all-MiniLM-L6-v2 or all-mpnet-base-v2, and for decoder LLMs used as embedders such as
 * Qwen3-Embedding (a {@link SentenceEncoder}: {@link BertModel} or
 * {@link dev.surpass.model.llama.LlamaEncoder}): tokenize (with the special tokens: {@code [CLS]}/{@code [SEP]}, or a decoder's
 * appended EOS; truncated to {@code maxLength}),
 * pad the batch to its longest sentence, run the encoder with the attention mask, pool the last
 * hidden state over the real tokens (mean by default), optionally project it ({@code Dense}
 * modules) and L2-normalise it. {@link #load} reads a sentence-transformers folder
 * ({@code modules.json}, {@code 1_Pooling/config.json}, {@code 2_Dense/}, {@code Normalize},
 * {@code sentence_bert_config.json}) and so reproduces each model's own pipeline.
 *
 * <p>Ownership: this object owns the encoder it is given; {@link #close} closes it.
 * Thread rules: like the model, usable from several threads; not during {@link #close}.
 */
public final class SentenceEmbeddings implements AutoCloseable {
    /** Sentences per forward pass (bounds the activations' memory). */
    static final int CHUNK = 32;

    private final SentenceEncoder model;
    private final Tokenizer tokenizer;
    private final int maxLength;
    private final Pooling pooling;
    private final List<Dense> dense;
    private final boolean normalize;
    private final boolean lowerCase;
    // set once by the loader before the object is handed out (config_sentence_transformers.json, Pooling's include_prompt)
    private Map<String, String> prompts = Map.of();
    private String defaultPromptName;
    private boolean includePrompt = true;

    /**
     * sentence-transformers' {@code Pooling} modes; each one on appends its vector, in this order
     * (its {@code forward}'s): the first token ({@code [CLS]}), the maximum over the real tokens, their
     * mean, their sum over √count, their mean weighted by position (1, 2, …), the last real token.
     */
    public record Pooling(boolean cls, boolean max, boolean mean, boolean meanSqrtLen, boolean weightedMean, boolean lastToken) {
        /** Mean pooling alone (all-MiniLM-L6-v2, and sentence-transformers' default for a plain encoder). */
        public static final Pooling MEAN = new Pooling(false, false, true, false, false, false);
        /** The first token alone (BGE, GTE, …). */
        public static final Pooling CLS = new Pooling(true, false, false, false, false, false);

        public Pooling {
            if (!(cls || max || mean || meanSqrtLen || weightedMean || lastToken)) throw new IllegalArgumentException("Pooling: no mode is on");
        }

        /** How many vectors are concatenated. */
        public int modes() {
            int n = 0;
            for (boolean b : new boolean[] {cls, max, mean, meanSqrtLen, weightedMean, lastToken}) if (b) n++;
            return n;
        }
    }

    /**
     * A sentence-transformers {@code Dense} module on the pooled vector: {@code act(W·v + b)},
     * {@code W [out, in]} row-major, {@code b} null without bias, {@code tanh} or the identity.
     */
    public record Dense(float[] weight, float[] bias, int in, int out, boolean tanh) {
        public Dense {
            if (in < 1 || out < 1) throw new IllegalArgumentException("Dense: in and out must be >= 1, got " + in + ", " + out);
            if (weight == null || weight.length != (long) in * out) {
                throw new IllegalArgumentException("Dense: weight has " + (weight == null ? "no" : weight.length) + " values; expected " + out + "×" + in);
            }
            if (bias != null && bias.length != out) throw new IllegalArgumentException("Dense: bias has " + bias.length + " values; expected " + out);
        }

        float[] apply(float[] v) {
            float[] o = new float[out];
            for (int r = 0; r < out; r++) {
                double acc = bias == null ? 0 : bias[r];
                for (int k = 0; k < in; k++) acc += (double) weight[r * in + k] * v[k];
                o[r] = (float) (tanh ? Math.tanh(acc) : acc);
            }
            return o;
        }
    }

    /**
     * @param model     the encoder (owned from now on): a {@link BertModel} or a decoder's {@link dev.surpass.model.llama.LlamaEncoder}
     * @param tokenizer its tokenizer (sentences are cut to {@code maxLength} ids, special tokens kept)
     * @param maxLength the most ids per sentence, special tokens included, {@code <= max_position_embeddings}
     */
    public SentenceEmbeddings(SentenceEncoder model, Tokenizer tokenizer, int maxLength) {
        this(model, tokenizer, maxLength, Pooling.MEAN, List.of(), true, false);
    }

    /**
     * @param pooling   the pooling modes
     * @param dense     Dense modules applied in order after pooling (may be empty)
     * @param normalize whether the result is L2-normalised (a {@code Normalize} module)
     * @param lowerCase whether sentences are lower-cased before tokenizing ({@code do_lower_case})
     */
    public SentenceEmbeddings(SentenceEncoder model, Tokenizer tokenizer, int maxLength, Pooling pooling, List<Dense> dense, boolean normalize,
                              boolean lowerCase) {
        if (model == null) throw new IllegalArgumentException("model is null");
        if (pooling == null) throw new IllegalArgumentException("pooling is null");
        if (dense == null) throw new IllegalArgumentException("dense is null");
        int width = pooling.modes() * model.hiddenSize();
        for (int i = 0; i < dense.size(); i++) {
            Dense d = dense.get(i);
            if (d == null || d.in() != width) {
                throw new IllegalArgumentException("dense[" + i + "] takes " + (d == null ? "nothing" : d.in() + " values") + " but gets " + width);
            }
            width = d.out();
        }
        if (tokenizer == null) throw new IllegalArgumentException("tokenizer is null");
        if (maxLength < 2 || maxLength > model.maxTokens()) {
            throw new IllegalArgumentException("maxLength is " + maxLength + "; expected 2.." + model.maxTokens()
                    + " (max_position_embeddings)");
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
        this.pooling = pooling;
        this.dense = List.copyOf(dense);
        this.normalize = normalize;
        this.lowerCase = lowerCase;
    }

    /**
     * A sentence-transformers model folder, as {@code SentenceTransformer(dir)} builds it: the modules
     * of {@code modules.json} in order — {@code Transformer} (a BERT / RoBERTa / XLM-R / DistilBERT
     * folder with its {@code tokenizer.json}, {@code max_seq_length} and {@code do_lower_case} from
     * {@code sentence_bert_config.json}), {@code Pooling}, {@code Dense} (tanh or identity),
     * {@code Normalize}. A folder without {@code modules.json} is a plain encoder: mean pooling, no
     * normalisation (what sentence-transformers makes of it). See {@link SentenceModules}.
     *
     * @throws IllegalArgumentException naming the file and field for a module or setting this
     *     library does not run
     */
    public static SentenceEmbeddings load(dev.surpass.Device device, java.nio.file.Path dir) {
        return SentenceModules.load(device, dir, 0);
    }

    /** {@link #load(dev.surpass.Device, java.nio.file.Path)} with at most {@code maxLength} ids per sentence (also capped by the position table). */
    public static SentenceEmbeddings load(dev.surpass.Device device, java.nio.file.Path dir, int maxLength) {
        return SentenceModules.load(device, dir, maxLength);
    }

    public Pooling pooling() {
        return pooling;
    }

    /** The loader's prompts, default prompt name and Pooling's {@code include_prompt}; returns this. */
    SentenceEmbeddings prompts(Map<String, String> prompts, String defaultPromptName, boolean includePrompt) {
        if (defaultPromptName != null && !prompts.containsKey(defaultPromptName)) {
            throw new IllegalArgumentException("default prompt name '" + defaultPromptName + "' is not one of the prompts " + prompts.keySet());
        }
        this.prompts = Map.copyOf(prompts);
        this.defaultPromptName = defaultPromptName;
        this.includePrompt = includePrompt;
        return this;
    }

    /** The named prompts of {@code config_sentence_transformers.json} (e.g. "query" → "Instruct: …\nQuery:"); empty when none. */
    public Map<String, String> prompts() {
        return prompts;
    }

    /** The prompt name {@link #embed(List)} uses, or null. */
    public String defaultPromptName() {
        return defaultPromptName;
    }

    /** Whether pooling includes the prompt's tokens (Pooling's {@code include_prompt}; INSTRUCTOR-style models leave them out). */
    public boolean includesPrompt() {
        return includePrompt;
    }

    public List<Dense> dense() {
        return dense;
    }

    /** Whether embeddings are L2-normalised. */
    public boolean normalizes() {
        return normalize;
    }

    /** Length of an embedding. */
    public int dimension() {
        return dense.isEmpty() ? pooling.modes() * model.hiddenSize() : dense.getLast().out();
    }

    /**
     * The BERT-family encoder.
     *
     * @throws IllegalStateException when the encoder is another kind ({@link #encoder})
     */
    public BertModel model() {
        if (model instanceof BertModel b) return b;
        throw new IllegalStateException("the encoder is not a BertModel: " + model.describe() + "; use encoder()");
    }

    /** The encoder, of either kind. */
    public SentenceEncoder encoder() {
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
        if (lowerCase) sentence = sentence.toLowerCase(java.util.Locale.ROOT);
        int[] ids = tokenizer.encode(sentence, true, maxLength); // truncated as sentence-transformers' tokenizer call
        if (ids.length > maxLength) {
            throw new IllegalArgumentException("sentence has " + ids.length + " tokens; maxLength is " + maxLength);
        }
        return ids;
    }

    /**
     * Embeddings {@code [sentences.size()][dimension()]} (unit length when {@link #normalizes}), in the order given. The encoder
     * runs on the real tokens only ({@link SentenceEncoder#forwardPacked}): the same values as padding
     * the batch to its longest sentence with an attention mask, without the work on the padding
     * (for a decoder, sentence-transformers pads on the left and HF shifts the positions by the
     * padding; RoPE sees only position differences, so that too agrees up to rounding). Two
     * pooling modes of sentence-transformers depend on left padding itself — CLS takes column 0 of
     * the padded batch (a pad token for the shorter sentences) and weighted mean weighs by padded
     * column — and here give what a batch of that one sentence gives: its first token, weights 1..n.
     * A sentence without tokens embeds to zeros.
     */
    public float[][] embed(List<String> sentences) {
        return embed(sentences, null);
    }

    /**
     * {@link #embed(List)} with the named prompt (sentence-transformers' {@code encode(...,
     * prompt_name=...)}): its text is put before each sentence; null takes the default prompt name,
     * if any.
     *
     * @throws IllegalArgumentException for a name that is not one of {@link #prompts}
     */
    public float[][] embed(List<String> sentences, String promptName) {
        String prompt = null;
        if (promptName != null) {
            prompt = prompts.get(promptName);
            if (prompt == null) throw new IllegalArgumentException("prompt name '" + promptName + "' is not one of " + prompts.keySet());
        } else if (defaultPromptName != null) {
            prompt = prompts.get(defaultPromptName);
        }
        return embedWithPrompt(sentences, prompt);
    }

    /**
     * {@link #embed(List)} with {@code prompt} put before each sentence (null or empty: none). When
     * the pooling leaves prompts out ({@link #includesPrompt} false), the prompt's tokens — its
     * tokenized length, less a trailing special token — are masked out of every pooling mode but
     * CLS, as sentence-transformers does.
     */
    public float[][] embedWithPrompt(List<String> sentences, String prompt) {
        if (sentences == null || sentences.isEmpty()) throw new IllegalArgumentException("sentences is null or empty");
        int skip = 0;
        if (prompt != null && !prompt.isEmpty()) {
            List<String> withPrompt = new java.util.ArrayList<>(sentences.size());
            for (int i = 0; i < sentences.size(); i++) {
                if (sentences.get(i) == null) throw new IllegalArgumentException("sentences[" + i + "] is null");
                withPrompt.add(prompt + sentences.get(i));
            }
            sentences = withPrompt;
            if (!includePrompt) skip = promptTokens(prompt);
        }
        int e = model.hiddenSize();
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
                out[from + b] = finish(pool(hidden, e, rows, skip));
            }
        }
        return out;
    }

    /**
     * The prompt's length in tokens as sentence-transformers counts it ({@code _get_prompt_length}):
     * its tokenization with special tokens, less the last one when that is special (a template's
     * [SEP] or EOS after the text, or a token the tokenizer marks special).
     */
    private int promptTokens(String prompt) {
        int[] full = tokenize(prompt);
        String p = lowerCase ? prompt.toLowerCase(java.util.Locale.ROOT) : prompt;
        int[] content = tokenizer.encode(p, false);
        boolean endsWithText = full.length >= content.length
                && java.util.Arrays.equals(full, full.length - content.length, full.length, content, 0, content.length);
        boolean lastSpecial = full.length > 0 && (tokenizer.isSpecial(full[full.length - 1]) || !endsWithText);
        return lastSpecial ? full.length - 1 : full.length;
    }

    /**
     * The pooled vector of one sentence's rows of {@code hidden}, the modes concatenated in
     * sentence-transformers' order; the first {@code skip} tokens (a left-out prompt) are masked from
     * every mode but CLS.
     */
    private float[] pool(float[] hidden, int e, int[] all, int skip) {
        float[] out = new float[pooling.modes() * e];
        int at = 0;
        if (pooling.cls()) {
            if (all.length > 0) System.arraycopy(hidden, all[0] * e, out, at, e);
            at += e;
        }
        int first = Math.min(skip, all.length); // token index of rows[0]
        int[] rows = java.util.Arrays.copyOfRange(all, first, all.length);
        int n = rows.length;
        if (pooling.max()) {
            for (int i = 0; i < e; i++) {
                float m = n == 0 ? -1e9f : Float.NEGATIVE_INFINITY; // sentence-transformers sets masked tokens to -1e9
                for (int r : rows) m = Math.max(m, hidden[r * e + i]);
                out[at + i] = m;
            }
            at += e;
        }
        if (pooling.mean() || pooling.meanSqrtLen()) {
            double[] acc = new double[e];
            for (int r : rows) for (int i = 0; i < e; i++) acc[i] += hidden[r * e + i];
            double count = Math.max(n, 1e-9);
            if (pooling.mean()) {
                for (int i = 0; i < e; i++) out[at + i] = (float) (acc[i] / count);
                at += e;
            }
            if (pooling.meanSqrtLen()) {
                for (int i = 0; i < e; i++) out[at + i] = (float) (acc[i] / Math.sqrt(count));
                at += e;
            }
        }
        if (pooling.weightedMean()) { // token t (from 0, prompt included) weighs t + 1
            double[] acc = new double[e];
            double wsum = 0;
            for (int t = 0; t < n; t++) {
                int wt = first + t + 1;
                wsum += wt;
                for (int i = 0; i < e; i++) acc[i] += wt * (double) hidden[rows[t] * e + i];
            }
            for (int i = 0; i < e; i++) out[at + i] = (float) (acc[i] / Math.max(wsum, 1e-9));
            at += e;
        }
        if (pooling.lastToken()) {
            if (n > 0) System.arraycopy(hidden, rows[n - 1] * e, out, at, e);
        }
        return out;
    }

    /** The Dense modules, then the normalisation. */
    private float[] finish(float[] pooled) {
        float[] v = pooled;
        for (Dense d : dense) v = d.apply(v);
        return normalize ? normalize(v) : v;
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
