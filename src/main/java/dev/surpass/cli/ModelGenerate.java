package dev.surpass.cli;

import dev.surpass.Device;
import dev.surpass.model.mamba.LogitsRules;
import java.nio.file.Path;

/**
 * A model family that {@code surpass generate} can run: a causal language model that loads on a
 * device and generates tokens after prompts. A family implements this beside {@link ModelForward}
 * in the same registered object ({@link ModelFamilies#findGenerator}).
 */
public interface ModelGenerate {
    /** Short family name, e.g. "gpt2", "llama", "mamba". */
    String family();

    /** True when {@code model} (a file or folder) is a checkpoint of this family. Must not throw. */
    boolean accepts(Path model);

    /**
     * Loads {@code model} on {@code device} for generation; the caller closes it.
     *
     * @throws IllegalArgumentException naming the file and field for a bad checkpoint
     */
    Generator open(Device device, Path model);

    /**
     * Sampling settings: temperature 0 is greedy; topK 0 and topP 1 are off. {@code numBeams > 1}
     * asks for beam search ({@link Generator#beamSearch}) with HF's {@code length_penalty} and
     * {@code early_stopping} ("false", "true" or "never"). {@code rules} are HF's {@code repetition_penalty},
     * {@code no_repeat_ngram_size} and {@code min_new_tokens} over the tokens a sequence holds.
     */
    record Options(int maxNewTokens, double temperature, int topK, double topP, long seed, int[] stopIds, int numBeams, double lengthPenalty,
                   String earlyStopping, LogitsRules rules) {
        /** No beam search, no logits rules. */
        public Options(int maxNewTokens, double temperature, int topK, double topP, long seed, int[] stopIds) {
            this(maxNewTokens, temperature, topK, topP, seed, stopIds, 1, 1.0, "false", LogitsRules.NONE);
        }

        /** No logits rules. */
        public Options(int maxNewTokens, double temperature, int topK, double topP, long seed, int[] stopIds, int numBeams, double lengthPenalty,
                       String earlyStopping) {
            this(maxNewTokens, temperature, topK, topP, seed, stopIds, numBeams, lengthPenalty, earlyStopping, LogitsRules.NONE);
        }

        public Options {
            if (rules == null) rules = LogitsRules.NONE;
        }
    }

    /** Receives each token as soon as it is picked. */
    @FunctionalInterface
    interface TokenSink {
        void accept(int sequence, int token);
    }

    /** A loaded model. Thread rules: one generation at a time. */
    interface Generator extends AutoCloseable {
        /** Ids the model can take, {@code [0, vocabSize)}. */
        int vocabSize();

        /** The ids that end a sequence by default (the checkpoint's EOS), possibly empty. */
        int[] defaultStopIds();

        /**
         * Whether the new tokens continue the prompt's text (a causal language model: the prompt is
         * printed first) rather than answer it (an encoder-decoder such as T5: only the new text is
         * printed, special tokens left out).
         */
        default boolean continuesPrompt() {
            return true;
        }

        /** Whether {@link #generate} takes {@code Options.numBeams > 1} (beam search). */
        default boolean beamSearch() {
            return false;
        }

        /** One line about the model, e.g. "mamba: 24 layers, d_model 768, vocab 50280". */
        String describe();

        /**
         * Generates after each prompt (lengths may differ); streams each token to {@code sink}.
         *
         * @return the new tokens of each sequence
         * @throws IllegalArgumentException for a bad prompt id or option, naming it
         */
        int[][] generate(int[][] prompts, Options options, TokenSink sink);

        @Override
        void close();
    }
}
