package dev.surpass.model.sd;

import dev.surpass.DType;
import dev.surpass.model.unet.UNetFixture;
import dev.surpass.model.vae.VaeFixture;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * A tiny random Stable Diffusion XL-shaped pipeline folder: {@code tokenizer/} and {@code tokenizer_2/}
 * ({@link SdFixture}'s BPE; the second pads with "!" as SDXL's does), {@code text_encoder/}
 * (CLIPTextModel, hidden 64, 3 layers, quick_gelu), {@code text_encoder_2/} (CLIPTextModelWithProjection,
 * hidden 32, 2 layers, gelu, projection 24), {@code unet/} (a text_time UNet of SDXL's block layout from
 * {@link UNetFixture}: cross_attention_dim 64 + 32 = 96, addition_time_embed_dim 8, pooled 24 → 72),
 * {@code vae/} ({@link VaeFixture#tiny}: ×2), {@code scheduler/} (an EulerDiscreteScheduler with
 * linspace spacing, the spacing the float64 references in {@code DiffusersReference} use).
 */
final class SdxlFixture {
    static final int D1 = 64, D2 = 32, PROJ = 24, ADD = 8, CROSS = D1 + D2, L1 = 3, L2 = 2;

    private SdxlFixture() {}

    static Path write(Path dir, long seed, Boolean forceZeros) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("model_index.json"), """
                    {"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.19.0.dev0",%s
                     "scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
                     "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "tokenizer": ["transformers", "CLIPTokenizer"],
                     "tokenizer_2": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
                     "vae": ["diffusers", "AutoencoderKL"]}
                    """.formatted(forceZeros == null ? "" : " \"force_zeros_for_empty_prompt\": " + forceZeros + ","));
            int vocab = SdFixture.tokenizer(dir.resolve("tokenizer"));
            SdFixture.tokenizer(dir.resolve("tokenizer_2"));
            Files.writeString(dir.resolve("tokenizer_2").resolve("special_tokens_map.json"),
                    "{\"bos_token\": \"<|startoftext|>\", \"eos_token\": \"<|endoftext|>\", \"pad_token\": \"!\", \"unk_token\": \"<|endoftext|>\"}");
            Random r = new Random(seed);
            SdFixture.textEncoder(dir.resolve("text_encoder"), r, vocab, D1, 96, L1, 0);
            SdFixture.textEncoder(dir.resolve("text_encoder_2"), r, vocab, D2, 64, L2, PROJ);
            new UNetFixture(new int[] {16, 32, 32}, 1, 8, new int[] {1, 2, 2}, true, new int[] {1, 2, 2}, true, 4, 4, CROSS,
                    new String[] {"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"},
                    new String[] {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"}, ADD, 6 * ADD + PROJ, seed + 2)
                    .write(dir.resolve("unet"), DType.F32);
            VaeFixture.tiny(seed + 1).withEncoder(seed + 1).write(dir.resolve("vae"), DType.F32, false);
            Files.createDirectories(dir.resolve("scheduler"));
            Files.writeString(dir.resolve("scheduler").resolve("scheduler_config.json"), """
                    {"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                     "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0,
                     "steps_offset": 1, "timestep_spacing": "linspace", "trained_betas": null, "use_karras_sigmas": false}
                    """);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
