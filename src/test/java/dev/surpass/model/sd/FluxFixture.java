package dev.surpass.model.sd;

import static dev.surpass.model.decoder.RefMath.around1;
import static dev.surpass.model.decoder.RefMath.fill;

import dev.surpass.DType;
import dev.surpass.model.decoder.RefMath;
import dev.surpass.model.decoder.RefMath.Entry;
import dev.surpass.model.vae.VaeFixture;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A tiny random FLUX.1-shaped pipeline folder: {@code tokenizer/} ({@link SdFixture}'s CLIP BPE), {@code text_encoder/}
 * (a CLIPTextModel of hidden {@link #CLIP}, whose pooler_output is the pooled conditioning), {@code tokenizer_2/} +
 * {@code text_encoder_2/} ({@link Sd3Fixture}'s T5, d_model {@link #JOINT}), {@code transformer/} (a
 * FluxTransformer2DModel in diffusers' names: 1 double-stream and 2 single-stream blocks, 2 heads of 64, rope axes
 * [16, 24, 24], 64 packed input channels, optionally guidance embeddings as FLUX.1-dev), {@code vae/} (16 latent
 * channels, ×2, no quant convs, Flux's scaling 0.3611 and shift 0.1159) and {@code scheduler/}
 * (FlowMatchEulerDiscreteScheduler: dev's dynamic shifting, or schnell's fixed shift 1).
 */
final class FluxFixture {
    static final int CLIP = 32, JOINT = Sd3Fixture.JOINT, HEADS = 2, HEAD_DIM = 64, INNER = HEADS * HEAD_DIM, LAT = 16, IN = 4 * LAT;
    static final int DOUBLE = 1, SINGLE = 2;

    private FluxFixture() {}

    /** dev: guidance embeddings and the dynamically shifted scheduler; else schnell's (no guidance embeddings, shift 1). */
    static Path write(Path dir, long seed, boolean dev) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("model_index.json"), """
                    {"_class_name": "FluxPipeline", "_diffusers_version": "0.30.0.dev0",
                     "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
                     "text_encoder_2": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
                     "tokenizer_2": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "FluxTransformer2DModel"],
                     "vae": ["diffusers", "AutoencoderKL"]}
                    """);
            int vocab = SdFixture.tokenizer(dir.resolve("tokenizer"));
            Random r = new Random(seed);
            SdFixture.textEncoder(dir.resolve("text_encoder"), r, vocab, CLIP, 48, 2, 0);
            Sd3Fixture.t5Tokenizer(dir.resolve("tokenizer_2"));
            RefMath.writeCheckpoint(dir.resolve("text_encoder_2"), """
                    {"architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": %d, "d_kv": %d, "d_ff": %d, "num_heads": %d,
                     "num_layers": %d, "vocab_size": %d, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
                     "layer_norm_epsilon": 1e-6, "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new", "is_gated_act": true,
                     "pad_token_id": 0, "eos_token_id": 1}
                    """.formatted(JOINT, Sd3Fixture.T5_KV, Sd3Fixture.T5_FF, Sd3Fixture.T5_HEADS, Sd3Fixture.T5_LAYERS, Sd3Fixture.T5_VOCAB),
                    Sd3Fixture.t5Weights(r), DType.F32, 1);
            transformer(dir.resolve("transformer"), r, dev);
            VaeFixture v = new VaeFixture(new int[] {32, 48}, 1, 8, LAT, 3, false, false, seed + 1).withEncoder(seed + 3);
            var vc = v.config();
            vc.put("scaling_factor", 0.3611);
            vc.put("shift_factor", 0.1159);
            v.write(dir.resolve("vae"), DType.F32, false, vc);
            Files.createDirectories(dir.resolve("scheduler"));
            Files.writeString(dir.resolve("scheduler").resolve("scheduler_config.json"), dev ? """
                    {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0.dev0", "base_image_seq_len": 256,
                     "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0,
                     "use_dynamic_shifting": true}
                    """ : """
                    {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0.dev0", "base_image_seq_len": 256,
                     "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 1.0,
                     "use_dynamic_shifting": false}
                    """);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A FluxTransformer2DModel in diffusers' key names. */
    private static void transformer(Path dir, Random r, boolean guidance) throws IOException {
        Map<String, Entry> m = new LinkedHashMap<>();
        int d = INNER, mlp = 4 * d;
        lin(m, r, "x_embedder", IN, d);
        lin(m, r, "context_embedder", JOINT, d);
        lin(m, r, "time_text_embed.timestep_embedder.linear_1", 256, d);
        lin(m, r, "time_text_embed.timestep_embedder.linear_2", d, d);
        if (guidance) {
            lin(m, r, "time_text_embed.guidance_embedder.linear_1", 256, d);
            lin(m, r, "time_text_embed.guidance_embedder.linear_2", d, d);
        }
        lin(m, r, "time_text_embed.text_embedder.linear_1", CLIP, d);
        lin(m, r, "time_text_embed.text_embedder.linear_2", d, d);
        for (int l = 0; l < DOUBLE; l++) {
            String p = "transformer_blocks." + l + ".";
            lin(m, r, p + "norm1.linear", d, 6 * d);
            lin(m, r, p + "norm1_context.linear", d, 6 * d);
            for (String n : new String[] {"to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"}) {
                lin(m, r, p + "attn." + n, d, d);
            }
            for (String n : new String[] {"norm_q", "norm_k", "norm_added_q", "norm_added_k"}) {
                m.put(p + "attn." + n + ".weight", new Entry(around1(HEAD_DIM, r, 0.3), HEAD_DIM));
            }
            lin(m, r, p + "ff.net.0.proj", d, mlp);
            lin(m, r, p + "ff.net.2", mlp, d);
            lin(m, r, p + "ff_context.net.0.proj", d, mlp);
            lin(m, r, p + "ff_context.net.2", mlp, d);
        }
        for (int l = 0; l < SINGLE; l++) {
            String p = "single_transformer_blocks." + l + ".";
            lin(m, r, p + "norm.linear", d, 3 * d);
            lin(m, r, p + "proj_mlp", d, mlp);
            lin(m, r, p + "proj_out", d + mlp, d);
            for (String n : new String[] {"to_q", "to_k", "to_v"}) lin(m, r, p + "attn." + n, d, d);
            m.put(p + "attn.norm_q.weight", new Entry(around1(HEAD_DIM, r, 0.3), HEAD_DIM));
            m.put(p + "attn.norm_k.weight", new Entry(around1(HEAD_DIM, r, 0.3), HEAD_DIM));
        }
        lin(m, r, "norm_out.linear", d, 2 * d);
        lin(m, r, "proj_out", d, IN);
        RefMath.writeCheckpoint(dir, """
                {"_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.30.0.dev0", "attention_head_dim": %d, "axes_dims_rope": [16, 24, 24],
                 "guidance_embeds": %s, "in_channels": %d, "joint_attention_dim": %d, "num_attention_heads": %d, "num_layers": %d,
                 "num_single_layers": %d, "patch_size": 1, "pooled_projection_dim": %d}
                """.formatted(HEAD_DIM, guidance, IN, JOINT, HEADS, DOUBLE, SINGLE, CLIP), m, DType.F32, 1);
        // diffusers names the weights file diffusion_pytorch_model.safetensors
        Files.move(dir.resolve("model.safetensors"), dir.resolve("diffusion_pytorch_model.safetensors"));
    }

    private static void lin(Map<String, Entry> m, Random r, String p, int in, int out) {
        m.put(p + ".weight", new Entry(fill(new float[out * in], r, 1 / Math.sqrt(in)), out, in));
        m.put(p + ".bias", new Entry(fill(new float[out], r, 0.1), out));
    }
}
