package dev.surpass.model.sd;

import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.model.clip.ClipTextModel;
import dev.surpass.model.clip.ClipTextOutput;
import dev.surpass.model.conv.ConvOps;
import dev.surpass.text.ClipTokenizer;
import java.nio.file.Path;
import java.util.List;

/**
 * The two CLIP text encoders SDXL and SD3 read side by side: each prompt through both tokenizers
 * (padded and truncated to one shared length), and each encoder's {@code hidden_states[-(k + 2)]}
 * (the output of layer {@code num_layers − 1 − k}, before the final LayerNorm) concatenated on the
 * features. The pipelines own the models; this only reads them.
 */
record ClipPair(ClipTokenizer tokenizer, ClipTokenizer tokenizer2, ClipTextModel encoder, ClipTextModel encoder2, int length) {

    /** The pair of a pipeline folder, refused when the two pad to different lengths (their states are joined token by token). */
    static ClipPair of(Path dir, ClipTokenizer t1, ClipTokenizer t2, ClipTextModel e1, ClipTextModel e2) {
        int len = Math.min(t1.maxLength(), e1.config().maxPositions()), len2 = Math.min(t2.maxLength(), e2.config().maxPositions());
        if (len != len2) {
            throw new IllegalArgumentException(dir + ": the CLIP tokenizers and encoders pad to " + len + " and " + len2 + " tokens; the pipeline "
                    + "concatenates the two encoders' states token by token, so they must agree");
        }
        return new ClipPair(t1, t2, e1, e2, len);
    }

    /** Width of the joined states (the two hidden sizes). */
    int width() {
        return encoder.config().hiddenSize() + encoder2.config().hiddenSize();
    }

    /** {@code {ids, ids2}}: each prompt padded to {@link #length} by each tokenizer. */
    int[][][] tokenize(String where, List<String> prompts) {
        if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException(where + ": no prompts");
        int b = prompts.size();
        int[][] ids = new int[b][], ids2 = new int[b][];
        for (int i = 0; i < b; i++) {
            String p = prompts.get(i);
            if (p == null) throw new IllegalArgumentException(where + ": prompt " + i + " is null");
            ids[i] = tokenizer.encodePadded(p, length);
            ids2[i] = tokenizer2.encodePadded(p, length);
        }
        return new int[][][] {ids, ids2};
    }

    /** Refuses a clip skip that leaves no layer in either encoder. */
    void checkClipSkip(String where, int clipSkip) {
        int n1 = encoder.config().numLayers(), n2 = encoder2.config().numLayers();
        if (clipSkip < 0 || clipSkip > Math.min(n1, n2) - 1) {
            throw new IllegalArgumentException(where + ": clipSkip " + clipSkip + " is outside [0, " + (Math.min(n1, n2) - 1)
                    + "] (hidden_states[-(clipSkip + 2)] of encoders of " + n1 + " and " + n2 + " layers)");
        }
    }

    /** The joined states {@code [B·length, d1 + d2]} F32 and each encoder's full output, from one pass per encoder; owned together. */
    record Encoded(Tensor states, ClipTextOutput out1, ClipTextOutput out2) implements AutoCloseable {
        @Override
        public void close() {
            states.close();
            out1.close();
            out2.close();
        }
    }

    /** {@link Encoded} of tokenized prompts: {@code hidden_states[-(k + 2)]} of both encoders joined, and their outputs (pooled, text_embeds). */
    Encoded encode(int[][][] ids, int clipSkip) {
        long rows = (long) ids[0].length * length;
        int n1 = encoder.config().numLayers(), n2 = encoder2.config().numLayers();
        ClipTextModel.WithHiddenState a = encoder.forwardWithHiddenState(ids[0], n1 - 1 - clipSkip);
        ClipTextModel.WithHiddenState c = null;
        try (Scope s = Scope.open()) {
            c = encoder2.forwardWithHiddenState(ids[1], n2 - 1 - clipSkip);
            Tensor h1 = s.track(a.hiddenState().reshape(rows, encoder.config().hiddenSize()));
            Tensor h2 = s.track(c.hiddenState().reshape(rows, encoder2.config().hiddenSize()));
            Tensor joined = ConvOps.concatChannels(h1, h2);
            a.hiddenState().close();
            c.hiddenState().close();
            return new Encoded(joined, a.output(), c.output());
        } catch (RuntimeException | Error e) {
            a.close();
            if (c != null) c.close();
            throw e;
        }
    }
}
