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
 * A tiny random Stable Diffusion 3-shaped pipeline folder: {@code tokenizer/} and {@code tokenizer_2/}
 * ({@link SdFixture}'s BPE; the second pads with "!" as SD3's CLIP-G tokenizer does),
 * {@code text_encoder/} and {@code text_encoder_2/} (CLIPTextModelWithProjection: hidden 32 / 24,
 * projections 16 / 8), optionally {@code tokenizer_3/} (a WordPiece tokenizer.json whose template
 * appends {@code </s>}) and {@code text_encoder_3/} (a 2-layer gated-gelu T5EncoderModel, d_model
 * {@link #JOINT}), {@code transformer/} (an SD3Transformer2DModel: 2 blocks, 2 heads of 32, patch 2,
 * joint_attention_dim {@link #JOINT} > 32 + 24 so the CLIP states are zero-padded, pooled 24, the last
 * block context_pre_only; optionally qk RMSNorm and a dual-attention first block as SD3.5),
 * {@code vae/} (encoder and decoder, 16 latent channels, no quant convs, SD3's scaling 1.5305 and shift 0.0609),
 * {@code scheduler/} (FlowMatchEulerDiscreteScheduler, shift 3).
 */
final class Sd3Fixture {
    static final int D1 = 32, D2 = 24, P1 = 16, P2 = 8, JOINT = 64, HEADS = 2, HEAD_DIM = 32, INNER = HEADS * HEAD_DIM, LAT = 16, PATCH = 2;
    static final int T5_FF = 48, T5_HEADS = 2, T5_KV = 16, T5_LAYERS = 2, T5_VOCAB = 40;

    private Sd3Fixture() {}

    static Path write(Path dir, long seed, boolean t5, boolean sd35) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("model_index.json"), """
                    {"_class_name": "StableDiffusion3Pipeline", "_diffusers_version": "0.29.0.dev0",
                     "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
                     "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "text_encoder_3": %s,
                     "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"], "tokenizer_3": %s,
                     "transformer": ["diffusers", "SD3Transformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]}
                    """.formatted(t5 ? "[\"transformers\", \"T5EncoderModel\"]" : "[null, null]", t5 ? "[\"transformers\", \"T5TokenizerFast\"]" : "[null, null]"));
            int vocab = SdFixture.tokenizer(dir.resolve("tokenizer"));
            SdFixture.tokenizer(dir.resolve("tokenizer_2"));
            Files.writeString(dir.resolve("tokenizer_2").resolve("special_tokens_map.json"),
                    "{\"bos_token\": \"<|startoftext|>\", \"eos_token\": \"<|endoftext|>\", \"pad_token\": \"!\", \"unk_token\": \"<|endoftext|>\"}");
            Random r = new Random(seed);
            SdFixture.textEncoder(dir.resolve("text_encoder"), r, vocab, D1, 48, 3, P1);
            SdFixture.textEncoder(dir.resolve("text_encoder_2"), r, vocab, D2, 40, 2, P2);
            if (t5) {
                t5Tokenizer(dir.resolve("tokenizer_3"));
                RefMath.writeCheckpoint(dir.resolve("text_encoder_3"), """
                        {"architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": %d, "d_kv": %d, "d_ff": %d, "num_heads": %d,
                         "num_layers": %d, "vocab_size": %d, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
                         "layer_norm_epsilon": 1e-6, "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new", "is_gated_act": true,
                         "pad_token_id": 0, "eos_token_id": 1}
                        """.formatted(JOINT, T5_KV, T5_FF, T5_HEADS, T5_LAYERS, T5_VOCAB), t5Weights(r), DType.F32, 1);
            }
            transformer(dir.resolve("transformer"), r, sd35);
            VaeFixture v = new VaeFixture(new int[] {32, 48}, 1, 8, LAT, 3, false, false, seed + 1).withEncoder(seed + 3);
            var vc = v.config();
            vc.put("scaling_factor", 1.5305);
            vc.put("shift_factor", 0.0609);
            v.write(dir.resolve("vae"), DType.F32, false, vc);
            Files.createDirectories(dir.resolve("scheduler"));
            Files.writeString(dir.resolve("scheduler").resolve("scheduler_config.json"), """
                    {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.29.0.dev0", "num_train_timesteps": 1000, "shift": 3.0}
                    """);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** WordPiece over SdFixture's words (lower-cased), {@code </s>} appended by the template, {@code <pad>} 0. */
    static void t5Tokenizer(Path dir) throws IOException {
        Files.createDirectories(dir);
        StringBuilder vocab = new StringBuilder("{\"<pad>\": 0, \"</s>\": 1, \"<unk>\": 2");
        int id = 3;
        for (String w : SdFixture.WORDS) vocab.append(", \"").append(w).append("\": ").append(id++);
        vocab.append(", \"!\": ").append(id++).append(", \"##s\": ").append(id).append('}');
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"<unk>\", \"continuing_subword_prefix\": \"##\","
                + " \"max_input_chars_per_word\": 100, \"vocab\": " + vocab + "}, \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
                + " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                + " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"</s>\"}}],"
                + " \"special_tokens\": {\"</s>\": {\"ids\": [1]}}}}");
    }

    static Map<String, Entry> t5Weights(Random r) {
        Map<String, Entry> m = new LinkedHashMap<>();
        int e = JOINT, inner = T5_HEADS * T5_KV;
        m.put("shared.weight", new Entry(fill(new float[T5_VOCAB * e], r, 1.0), T5_VOCAB, e));
        for (int l = 0; l < T5_LAYERS; l++) {
            String p = "encoder.block." + l + ".layer.";
            m.put(p + "0.layer_norm.weight", new Entry(around1(e, r, 0.3), e));
            for (String n : new String[] {"q", "k", "v"}) {
                m.put(p + "0.SelfAttention." + n + ".weight", new Entry(fill(new float[inner * e], r, 1 / Math.sqrt(e)), inner, e));
            }
            m.put(p + "0.SelfAttention.o.weight", new Entry(fill(new float[e * inner], r, 1 / Math.sqrt(inner)), e, inner));
            if (l == 0) m.put(p + "0.SelfAttention.relative_attention_bias.weight", new Entry(fill(new float[32 * T5_HEADS], r, 1.0), 32, T5_HEADS));
            m.put(p + "1.layer_norm.weight", new Entry(around1(e, r, 0.3), e));
            m.put(p + "1.DenseReluDense.wi_0.weight", new Entry(fill(new float[T5_FF * e], r, 1 / Math.sqrt(e)), T5_FF, e));
            m.put(p + "1.DenseReluDense.wi_1.weight", new Entry(fill(new float[T5_FF * e], r, 1 / Math.sqrt(e)), T5_FF, e));
            m.put(p + "1.DenseReluDense.wo.weight", new Entry(fill(new float[e * T5_FF], r, 1 / Math.sqrt(T5_FF)), e, T5_FF));
        }
        m.put("encoder.final_layer_norm.weight", new Entry(around1(e, r, 0.3), e));
        return m;
    }

    /** An SD3Transformer2DModel in diffusers' names (sd35: qk RMSNorm and block 0 with the second, image-only attention). */
    private static void transformer(Path dir, Random r, boolean sd35) throws IOException {
        Map<String, Entry> m = new LinkedHashMap<>();
        int d = INNER, layers = 2;
        m.put("pos_embed.proj.weight", new Entry(fill(new float[d * LAT * PATCH * PATCH], r, 1 / Math.sqrt(LAT * PATCH * PATCH)), d, LAT, PATCH, PATCH));
        m.put("pos_embed.proj.bias", new Entry(fill(new float[d], r, 0.1), d));
        lin(m, r, "time_text_embed.timestep_embedder.linear_1", 256, d);
        lin(m, r, "time_text_embed.timestep_embedder.linear_2", d, d);
        lin(m, r, "time_text_embed.text_embedder.linear_1", P1 + P2, d);
        lin(m, r, "time_text_embed.text_embedder.linear_2", d, d);
        lin(m, r, "context_embedder", JOINT, d);
        for (int i = 0; i < layers; i++) {
            String b = "transformer_blocks." + i + ".";
            boolean pre = i == layers - 1, dual = sd35 && i == 0;
            lin(m, r, b + "norm1.linear", d, (dual ? 9 : 6) * d);
            lin(m, r, b + "norm1_context.linear", d, (pre ? 2 : 6) * d);
            for (String n : new String[] {"to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0"}) lin(m, r, b + "attn." + n, d, d);
            if (!pre) lin(m, r, b + "attn.to_add_out", d, d);
            if (sd35) {
                for (String n : new String[] {"norm_q", "norm_k", "norm_added_q", "norm_added_k"}) {
                    m.put(b + "attn." + n + ".weight", new Entry(around1(HEAD_DIM, r, 0.3), HEAD_DIM));
                }
            }
            if (dual) {
                for (String n : new String[] {"to_q", "to_k", "to_v", "to_out.0"}) lin(m, r, b + "attn2." + n, d, d);
                for (String n : new String[] {"norm_q", "norm_k"}) m.put(b + "attn2." + n + ".weight", new Entry(around1(HEAD_DIM, r, 0.3), HEAD_DIM));
            }
            lin(m, r, b + "ff.net.0.proj", d, 4 * d);
            lin(m, r, b + "ff.net.2", 4 * d, d);
            if (!pre) {
                lin(m, r, b + "ff_context.net.0.proj", d, 4 * d);
                lin(m, r, b + "ff_context.net.2", 4 * d, d);
            }
        }
        lin(m, r, "norm_out.linear", d, 2 * d);
        lin(m, r, "proj_out", d, PATCH * PATCH * LAT);
        RefMath.writeCheckpoint(dir, """
                {"_class_name": "SD3Transformer2DModel", "_diffusers_version": "0.31.0", "sample_size": 16, "patch_size": %d, "in_channels": %d,
                 "num_layers": %d, "attention_head_dim": %d, "num_attention_heads": %d, "joint_attention_dim": %d, "caption_projection_dim": %d,
                 "pooled_projection_dim": %d, "out_channels": %d, "pos_embed_max_size": 24%s}
                """.formatted(PATCH, LAT, layers, HEAD_DIM, HEADS, JOINT, d, P1 + P2, LAT,
                sd35 ? ", \"qk_norm\": \"rms_norm\", \"dual_attention_layers\": [0]" : ""), m, DType.F32, 1);
    }

    private static void lin(Map<String, Entry> m, Random r, String p, int in, int out) {
        m.put(p + ".weight", new Entry(fill(new float[out * in], r, 1 / Math.sqrt(in)), out, in));
        m.put(p + ".bias", new Entry(fill(new float[out], r, 0.1), out));
    }
}
