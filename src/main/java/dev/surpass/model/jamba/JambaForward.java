package dev.surpass.model.jamba;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.cli.ModelGenerate;
import dev.surpass.model.decoder.ConfigJson;
import dev.surpass.model.mamba.Sampling;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} and {@code surpass generate} for Jamba (config.json model_type "jamba").
 * Forward: input {@code input_ids} I32/I64 {@code [B, L]}; output {@code logits} F32
 * {@code [B, L, vocab]}. Generate: {@link JambaLM#generate}; the default stop ids are
 * generation_config.json's or config.json's {@code eos_token_id}.
 */
public final class JambaForward implements ModelForward, ModelGenerate {
    @Override
    public String family() {
        return "jamba";
    }

    @Override
    public boolean accepts(Path model) {
        try {
            return model != null && Files.isDirectory(model) && JambaConfig.looksLikeJamba(model);
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        int[][] seqs = ModelForward.tokenRows("jamba forward", inputs, "input_ids");
        try (JambaLM lm = JambaLM.load(device, model)) {
            return Map.of("logits", lm.forward(seqs));
        }
    }

    @Override
    public Generator open(Device device, Path model) {
        if (device == null) throw new IllegalArgumentException("device is null");
        JambaLM lm = JambaLM.load(device, model);
        int[] eos;
        try {
            eos = ConfigJson.generationEosIds(model, lm.config().eosIds());
        } catch (RuntimeException e) {
            lm.close();
            throw e;
        }
        return new Generator() {
            @Override
            public int vocabSize() {
                return lm.config().vocabSize();
            }

            @Override
            public int[] defaultStopIds() {
                return eos.clone();
            }

            @Override
            public String describe() {
                JambaConfig c = lm.config();
                int attn = 0, moe = 0;
                for (int i = 0; i < c.nLayer(); i++) {
                    if (c.isAttention(i)) attn++;
                    if (c.isMoe(i)) moe++;
                }
                return "jamba: " + c.nLayer() + " layers (" + attn + " attention, " + (c.nLayer() - attn) + " mamba; " + moe + " with "
                        + c.experts() + " experts, top-" + c.topK() + "), hidden " + c.hidden() + ", vocab " + c.vocabSize();
            }

            @Override
            public int[][] generate(int[][] prompts, Options o, TokenSink sink) {
                if (o == null) throw new IllegalArgumentException("generate: options is null");
                Sampling s = new Sampling(o.temperature(), o.topK(), o.topP(), o.seed());
                return lm.generate(prompts, o.maxNewTokens(), s, o.rules(), o.stopIds(), sink == null ? null : sink::accept);
            }

            @Override
            public void close() {
                lm.close();
            }
        };
    }
}
