package dev.surpass.model.t5;

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
 */
public record GenerationOptions(int maxNewTokens, int[] stopIds, Sampling sampling) {
    public GenerationOptions {
        if (maxNewTokens < 0 || maxNewTokens > T5ForConditionalGeneration.MAX_NEW_TOKENS) {
            throw new IllegalArgumentException("GenerationOptions: maxNewTokens is " + maxNewTokens + "; expected 0.."
                    + T5ForConditionalGeneration.MAX_NEW_TOKENS);
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
        return new GenerationOptions(maxNewTokens, ids, sampling);
    }

    /** These options sampling with {@code s} (null: greedy). */
    public GenerationOptions withSampling(Sampling s) {
        return new GenerationOptions(maxNewTokens, stopIds, s);
    }

    @Override
    public int[] stopIds() {
        return stopIds == null ? null : stopIds.clone();
    }

    boolean greedyPick() {
        return sampling == null || sampling.temperature() == 0;
    }
}
