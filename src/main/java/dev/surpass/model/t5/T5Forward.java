package dev.surpass.model.t5;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.cli.ModelGenerate;
import dev.surpass.model.mamba.Sampling;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} and {@code surpass generate} for T5 folders (config.json model_type "t5"
 * or "mt5").
 *
 * <p>Forward: inputs {@code input_ids} and optional {@code attention_mask} (I32 or I64
 * {@code [B, N]}) give {@code last_hidden_state} F32 {@code [B, N, d_model]} (HF's
 * T5EncoderModel; a T5EncoderModel or a full T5ForConditionalGeneration folder, whose encoder
 * runs); with {@code decoder_input_ids} ({@code [B, T]}) too, a T5ForConditionalGeneration folder
 * gives {@code logits} F32 {@code [B, T, vocab]} (HF's teacher-forced {@code .logits}; the rows of
 * input_ids are cut at their attention_mask's last 1, which must be a prefix of 1s).
 *
 * <p>Generate: {@link T5ForConditionalGeneration#generate}, each prompt answered from the decoder
 * start token (greedy, sampled, or beam search); the default stop ids are the checkpoint's eos.
 */
public final class T5Forward implements ModelForward, ModelGenerate {
    @Override
    public String family() {
        return "t5";
    }

    @Override
    public boolean accepts(Path model) {
        return T5Config.looksLikeT5(model);
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        int[][] ids = ModelForward.tokenRows("t5 forward", inputs, "input_ids");
        int[][] mask = null;
        if (inputs.get("attention_mask") != null) {
            mask = ModelForward.tokenRows("t5 forward", inputs, "attention_mask");
            if (mask.length != ids.length || mask[0].length != ids[0].length) {
                throw new IllegalArgumentException("t5 forward: attention_mask is " + inputs.get("attention_mask").describe() + "; expected I32 or I64 ["
                        + ids.length + ", " + ids[0].length + "] like input_ids");
            }
        }
        if (inputs.get("decoder_input_ids") != null) {
            int[][] dec = ModelForward.tokenRows("t5 forward", inputs, "decoder_input_ids");
            if (dec.length != ids.length) {
                throw new IllegalArgumentException("t5 forward: decoder_input_ids is " + inputs.get("decoder_input_ids").describe() + "; expected "
                        + ids.length + " rows like input_ids");
            }
            int[][] rows = mask == null ? ids : prefixes(ids, mask);
            try (T5ForConditionalGeneration m = T5ForConditionalGeneration.load(device, model)) {
                return Map.of("logits", m.forward(rows, dec));
            }
        }
        try (T5Encoder m = T5Encoder.load(device, model)) {
            return Map.of("last_hidden_state", m.forward(ids, mask));
        }
    }

    /** Each row up to its mask's last 1, refusing a mask that is not 1s then 0s (right padding). */
    private static int[][] prefixes(int[][] ids, int[][] mask) {
        int[][] out = new int[ids.length][];
        for (int s = 0; s < ids.length; s++) {
            int n = 0;
            while (n < mask[s].length && mask[s][n] == 1) n++;
            for (int j = n; j < mask[s].length; j++) {
                if (mask[s][j] != 0) {
                    throw new IllegalArgumentException("t5 forward: attention_mask[" + s + "][" + j + "] is " + mask[s][j]
                            + "; with decoder_input_ids the mask must be 1s then 0s (right padding)");
                }
            }
            if (n == 0) throw new IllegalArgumentException("t5 forward: attention_mask[" + s + "] has no 1; every row needs a token");
            out[s] = java.util.Arrays.copyOf(ids[s], n);
        }
        return out;
    }

    @Override
    public Generator open(Device device, Path model) {
        T5ForConditionalGeneration m = T5ForConditionalGeneration.load(device, model);
        return new Generator() {
            @Override
            public int vocabSize() {
                return m.config().vocabSize();
            }

            @Override
            public int[] defaultStopIds() {
                return m.eosTokenIds();
            }

            @Override
            public boolean continuesPrompt() {
                return false;
            }

            @Override
            public boolean beamSearch() {
                return true;
            }

            @Override
            public String describe() {
                return m.describe();
            }

            @Override
            public int[][] generate(int[][] prompts, Options o, TokenSink sink) {
                if (o == null) throw new IllegalArgumentException("generate: options is null");
                GenerationOptions.EarlyStopping early = switch (o.earlyStopping() == null ? "false" : o.earlyStopping()) {
                    case "false" -> GenerationOptions.EarlyStopping.FALSE;
                    case "true" -> GenerationOptions.EarlyStopping.TRUE;
                    case "never" -> GenerationOptions.EarlyStopping.NEVER;
                    default -> throw new IllegalArgumentException("generate: earlyStopping is \"" + o.earlyStopping() + "\"; expected false, true or never");
                };
                GenerationOptions g = new GenerationOptions(o.maxNewTokens(), o.stopIds(),
                        o.temperature() == 0 ? null : new Sampling(o.temperature(), o.topK(), o.topP(), o.seed()), o.numBeams(), o.lengthPenalty(), early, o.rules());
                return m.generate(prompts, g, sink == null ? null : sink::accept);
            }

            @Override
            public void close() {
                m.close();
            }
        };
    }
}
