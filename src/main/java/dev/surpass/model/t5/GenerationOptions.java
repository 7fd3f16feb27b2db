package dev.surpass.model.t5;

import dev.surpass.model.mamba.LogitsRules;
import dev.surpass.model.mamba.Sampling;

/**
 * How {@link T5ForConditionalGeneration#generate} picks tokens.
 *
 * @param maxNewTokens tokens to generate after the decoder start token, {@code 0..}{@link T5ForConditionalGeneration#MAX_NEW_TOKENS}
 *                     (HF's {@code max_new_tokens}; the start token is not counted)
 * @param stopIds      ids that end a sequence (returned as its last token), or null for the model's
 *                     {@code eos_token_id} (generation_config.json's when it sets one, else config.json's)
 * @param sampling     null or temperature 0: greedy (HF's default {@code do_sample=False, num_beams=1});
 *                     else sampled on the host, each sequence from its own stream ({@link Sampling#newRandom(int)})
 * @param numBeams     1, or HF's beam search with this many beams ({@code num_beams}; greedy only, not sampled)
 * @param lengthPenalty a finished beam's score is its summed log-probability over {@code length^lengthPenalty}
 *                     ({@code length_penalty}, HF's default 1)
 * @param earlyStopping HF's {@code early_stopping}: when beam search stops ({@link EarlyStopping})
 * @param rules        HF's {@code repetition_penalty}, {@code no_repeat_ngram_size} and {@code min_new_tokens}
 *                     ({@link LogitsRules}) over the decoder's tokens so far, the start token included; on the
 *                     log-probabilities in beam search, each beam over its own tokens, as HF applies them there
 */
public record GenerationOptions(int maxNewTokens, int[] stopIds, Sampling sampling, int numBeams, double lengthPenalty, EarlyStopping earlyStopping,
                                LogitsRules rules) {
    /** HF's {@code early_stopping} values. */
    public enum EarlyStopping {
        /** {@code False} (HF's default): stop once no running beam, scored at its current length, beats the worst of numBeams finished ones. */
        FALSE,
        /** {@code True}: stop as soon as numBeams sequences have finished. */
        TRUE,
        /** {@code "never"}: as FALSE, but with a positive length penalty a running beam is scored at the longest length it could reach. */
        NEVER
    }

    /** Greedy, no beams: {@code numBeams 1, lengthPenalty 1, earlyStopping FALSE}, no repetition penalty. */
    public GenerationOptions(int maxNewTokens, int[] stopIds, Sampling sampling) {
        this(maxNewTokens, stopIds, sampling, 1, 1.0, EarlyStopping.FALSE, LogitsRules.NONE);
    }

    /** No logits rules. */
    public GenerationOptions(int maxNewTokens, int[] stopIds, Sampling sampling, int numBeams, double lengthPenalty, EarlyStopping earlyStopping) {
        this(maxNewTokens, stopIds, sampling, numBeams, lengthPenalty, earlyStopping, LogitsRules.NONE);
    }

    public GenerationOptions {
        if (maxNewTokens < 0 || maxNewTokens > T5ForConditionalGeneration.MAX_NEW_TOKENS) {
            throw new IllegalArgumentException("GenerationOptions: maxNewTokens is " + maxNewTokens + "; expected 0.."
                    + T5ForConditionalGeneration.MAX_NEW_TOKENS);
        }
        if (numBeams < 1 || numBeams > 64) throw new IllegalArgumentException("GenerationOptions: numBeams is " + numBeams + "; expected 1..64");
        if (!Double.isFinite(lengthPenalty)) throw new IllegalArgumentException("GenerationOptions: lengthPenalty is " + lengthPenalty + "; expected a finite number");
        if (earlyStopping == null) throw new IllegalArgumentException("GenerationOptions: earlyStopping is null");
        if (rules == null) throw new IllegalArgumentException("GenerationOptions: rules is null (LogitsRules.NONE for none)");
        if (numBeams > 1 && sampling != null && sampling.temperature() != 0) {
            throw new IllegalArgumentException("GenerationOptions: numBeams is " + numBeams + " with sampling (temperature " + sampling.temperature()
                    + "); beam search here is greedy (HF's num_beams without do_sample)");
        }
        if (stopIds != null) {
            stopIds = stopIds.clone();
            for (int i = 0; i < stopIds.length; i++) {
                if (stopIds[i] < 0) throw new IllegalArgumentException("GenerationOptions: stopIds[" + i + "] is " + stopIds[i] + "; expected an id >= 0");
            }
        }
    }

    /** Greedy decoding up to {@code maxNewTokens}, stopping at the model's eos. */
    public static GenerationOptions greedy(int maxNewTokens) {
        return new GenerationOptions(maxNewTokens, null, null);
    }

    /** These options with other stop ids (null: the model's eos; empty: never stop early). */
    public GenerationOptions withStopIds(int... ids) {
        return new GenerationOptions(maxNewTokens, ids, sampling, numBeams, lengthPenalty, earlyStopping, rules);
    }

    /** These options sampling with {@code s} (null: greedy). */
    public GenerationOptions withSampling(Sampling s) {
        return new GenerationOptions(maxNewTokens, stopIds, s, numBeams, lengthPenalty, earlyStopping, rules);
    }

    /** These options with beam search ({@code beams} 1: none). */
    public GenerationOptions withBeams(int beams, double lengthPenalty, EarlyStopping earlyStopping) {
        return new GenerationOptions(maxNewTokens, stopIds, sampling, beams, lengthPenalty, earlyStopping, rules);
    }

    /** These options with other logits rules (repetition penalty, no-repeat n-grams, min new tokens). */
    public GenerationOptions withRules(LogitsRules r) {
        return new GenerationOptions(maxNewTokens, stopIds, sampling, numBeams, lengthPenalty, earlyStopping, r);
    }

    @Override
    public int[] stopIds() {
        return stopIds == null ? null : stopIds.clone();
    }

    boolean greedyPick() {
        return sampling == null || sampling.temperature() == 0;
    }
}
