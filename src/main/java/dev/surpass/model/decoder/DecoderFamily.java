package dev.surpass.model.decoder;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.cli.ModelGenerate;
import dev.surpass.model.mamba.Sampling;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Predicate;

/**
 * {@code surpass forward} and {@code surpass generate} for a decoder family: forward takes
 * {@code input_ids} I32/I64 {@code [B, L]} and writes {@code logits} F32 {@code [B, L, vocab]};
 * generate runs {@link Decoding#generate} with config.json's {@code eos_token_id} as the default
 * stop ids.
 */
public abstract class DecoderFamily implements ModelForward, ModelGenerate {
    private final String family;
    private final Predicate<Path> recognises;
    private final BiFunction<Device, Path, DecoderModel> load;

    /**
     * A family named {@code family} whose folders {@code recognises} tells from their config.json
     * (it may throw: {@link #accepts} then says no) and {@code load} loads on a device.
     */
    protected DecoderFamily(String family, Predicate<Path> recognises, BiFunction<Device, Path, DecoderModel> load) {
        this.family = family;
        this.recognises = recognises;
        this.load = load;
    }

    @Override
    public final String family() {
        return family;
    }

    @Override
    public final boolean accepts(Path model) {
        try {
            return model != null && Files.isDirectory(model) && recognises.test(model);
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        int[][] seqs = ModelForward.tokenRows(family() + " forward", inputs, "input_ids");
        try (DecoderModel m = load.apply(device, model)) {
            return Map.of("logits", Decoding.forward(m, seqs));
        }
    }

    @Override
    public Generator open(Device device, Path model) {
        if (device == null) throw new IllegalArgumentException("device is null");
        int[] eos = ConfigJson.generationEosIds(model, ConfigJson.load(model, family()).eosIds());
        DecoderModel m = load.apply(device, model);
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
                return Decoding.generate(m, prompts, o.maxNewTokens(), s, o.rules(), o.stopIds(), sink == null ? null : sink::accept);
            }

            @Override
            public void close() {
                m.close();
            }
        };
    }
}
