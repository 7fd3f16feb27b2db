package dev.surpass.model.decoder;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.cli.ModelGenerate;
import dev.surpass.model.mamba.Sampling;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} and {@code surpass generate} for a decoder family: forward takes
 * {@code input_ids} I32/I64 {@code [B, L]} and writes {@code logits} F32 {@code [B, L, vocab]};
 * generate runs {@link Decoding#generate} with config.json's {@code eos_token_id} as the default
 * stop ids.
 */
public abstract class DecoderFamily implements ModelForward, ModelGenerate {
    /** True when {@code dir}'s config.json names this family. Must not throw. */
    protected abstract boolean recognises(Path dir);

    /** Loads the model in {@code dir} on {@code device}. */
    protected abstract DecoderModel load(Device device, Path dir);

    @Override
    public final boolean accepts(Path model) {
        try {
            return model != null && Files.isDirectory(model) && recognises(model);
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        int[][] seqs = ModelForward.tokenRows(family() + " forward", inputs, "input_ids");
        try (DecoderModel m = load(device, model)) {
            return Map.of("logits", Decoding.forward(m, seqs));
        }
    }

    @Override
    public Generator open(Device device, Path model) {
        if (device == null) throw new IllegalArgumentException("device is null");
        int[] eos = ConfigJson.load(model, family()).eosIds();
        DecoderModel m = load(device, model);
        return new Generator() {
            @Override
            public int vocabSize() {
                return m.vocabSize();
            }

            @Override
            public int[] defaultStopIds() {
                return eos.clone();
            }

            @Override
            public String describe() {
                return m.describe();
            }

            @Override
            public int[][] generate(int[][] prompts, Options o, TokenSink sink) {
                if (o == null) throw new IllegalArgumentException("generate: options is null");
                Sampling s = new Sampling(o.temperature(), o.topK(), o.topP(), o.seed());
                return Decoding.generate(m, prompts, o.maxNewTokens(), s, 1.0, o.stopIds(), sink == null ? null : sink::accept);
            }

            @Override
            public void close() {
                m.close();
            }
        };
    }
}
