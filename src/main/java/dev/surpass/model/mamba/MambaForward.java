package dev.surpass.model.mamba;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.cli.ModelForward;
import dev.surpass.cli.ModelGenerate;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code surpass forward} and {@code surpass generate} for Mamba-1, Mamba-2 and FalconMamba language
 * models: a folder whose config.json says mamba, mamba2 or falcon_mamba (model_type, architectures,
 * or mamba_ssm's keys). Forward: input
 * {@code input_ids} I32/I64 {@code [B, L]}; output {@code logits} F32 {@code [B, L, padded vocab]}.
 * Generate: {@link MambaLM#generate(int[][], int, Sampling, int[], MambaLM.TokenSink)}; the default
 * stop ids are config.json's {@code eos_token_id} (HF checkpoints), none for mamba_ssm ones.
 */
public final class MambaForward implements ModelForward, ModelGenerate {
    @Override
    public String family() {
        return "mamba";
    }

    @Override
    public boolean accepts(Path model) {
        try {
            return model != null && Files.isDirectory(model) && MambaConfig.looksLikeMamba(model);
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
        int[][] seqs = ModelForward.tokenRows("mamba forward", inputs, "input_ids");
        try (MambaLM lm = MambaLM.load(device, model)) {
            return Map.of("logits", lm.forward(seqs));
        }
    }

    @Override
    public Generator open(Device device, Path model) {
        if (device == null) throw new IllegalArgumentException("device is null");
        int[] eos = dev.surpass.model.decoder.ConfigJson.generationEosIds(model, eosIds(model));
        MambaLM lm = MambaLM.load(device, model);
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
                MambaConfig c = lm.config();
                return (c.isMamba2() ? "mamba2: " : c.normsDtBC() ? "falcon_mamba: " : "mamba: ") + c.nLayer() + " layers, d_model " + c.dModel()
                        + (c.isMamba2() ? ", " + c.mamba2().nHeads() + " heads of " + c.mamba2().headDim() + ", " + c.mamba2().nGroups() + " groups" : "")
                        + ", d_state " + c.dState() + ", vocab " + c.vocabSize()
                        + " (" + lm.logitsWidth() + " rows), " + lm.naming().name().toLowerCase(java.util.Locale.ROOT) + " naming";
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

    /** config.json's eos_token_id (a number or a list), or none (MambaLM.load reports an unreadable config.json with its field). */
    static int[] eosIds(Path model) {
        try {
            return dev.surpass.model.decoder.ConfigJson.load(model, "Mamba").eosIds();
        } catch (RuntimeException e) {
            return new int[0];
        }
    }
}
