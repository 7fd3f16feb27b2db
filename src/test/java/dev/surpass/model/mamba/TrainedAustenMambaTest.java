package dev.surpass.model.mamba;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.demo.HeldOutChecks;
import dev.surpass.cli.demo.HeldOutSubset;
import dev.surpass.text.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The shipped character-level Mamba ({@code models/austen-mamba}, HF MambaForCausalLM naming,
 * trained by {@code tools/train/train_charlm.py --arch mamba}) loads through {@link MambaLM#load}
 * and reproduces the held-out bits per character the training script recorded for
 * {@code heldout-subset.txt} to within 1%; generation through the constant-memory decode path
 * gives the same next-token choice as the prefill.
 */
class TrainedAustenMambaTest {
    static final Path DIR = Path.of("models", "austen-mamba");

    @Test
    void reproducesHeldOutBitsPerCharacter() throws IOException {
        Tokenizer tok = Tokenizer.load(DIR.resolve("tokenizer.json"));
        HeldOutSubset subset = HeldOutChecks.oneTokenPerCharacter(DIR, tok);
        try (Device cpu = Device.cpu(); MambaLM model = MambaLM.load(cpu, DIR)) {
            assertEquals(MambaLM.Naming.HF, model.naming());
            assertTrue(model.tiedHead());
            int width = model.logitsWidth();
            assertEquals(tok.vocabSize(), width);
            double bpc = subset.bitsPerCharacter(width, model::forward);
            HeldOutChecks.assertReproducesRecordedBpc(DIR, subset, bpc);
        }
    }

    /** The constant-memory decode path picks, for each of 40 greedy steps, the prefill's argmax over the same prefix. */
    @Test
    void greedyDecodeFollowsThePrefill() throws IOException {
        Tokenizer tok = Tokenizer.load(DIR.resolve("tokenizer.json"));
        int[] prompt = tok.encode("It is a truth universally acknowledged", false);
        try (Device cpu = Device.cpu(); MambaLM model = MambaLM.load(cpu, DIR)) {
            int[] generated = model.generate(prompt, 40, Sampling.greedy(), null);
            assertEquals(40, generated.length);
            int[] all = java.util.Arrays.copyOf(prompt, prompt.length + generated.length);
            System.arraycopy(generated, 0, all, prompt.length, generated.length);
            int width = model.logitsWidth();
            float[] logits;
            try (Tensor t = model.forward(new int[][] {java.util.Arrays.copyOf(all, all.length - 1)})) {
                logits = t.toFloatArray();
            }
            for (int k = 0; k < generated.length; k++) {
                int pos = prompt.length - 1 + k, best = 0;
                for (int v = 1; v < width; v++) if (logits[pos * width + v] > logits[pos * width + best]) best = v;
                assertEquals(best, generated[k], "token " + k + " after the prompt");
            }
        }
    }
}
