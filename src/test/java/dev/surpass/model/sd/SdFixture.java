package dev.surpass.model.sd;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.model.vae.VaeFixture;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A tiny random Stable Diffusion 1.x-shaped pipeline folder, in diffusers' and transformers' names:
 * {@code tokenizer/} (vocab.json + merges.txt of a byte-level CLIP BPE whose merges spell a few
 * words), {@code text_encoder/} (CLIPTextModel, hidden 64 = 2 heads of 32, 2 layers, quick_gelu),
 * {@code unet/} (block_out_channels 32, 64: CrossAttnDownBlock2D + DownBlock2D, UNetMidBlock2DCrossAttn,
 * UpBlock2D + CrossAttnUpBlock2D, SD 1.x's attention_head_dim = 2 heads, so head dims 16 — padded — and
 * 32), {@code vae/} ({@link VaeFixture#tiny}: ×2), {@code scheduler/} (SD 1.5's PNDM config).
 */
final class SdFixture {
    static final String[] WORDS = {"a", "red", "cat", "photo", "of", "blue", "dog", "blurry"};
    static final int TD = 64, TL = 2, TI = 96, LAT = 4, CROSS = TD;

    private SdFixture() {}

    static Path write(Path dir, long seed) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("model_index.json"), """
                    {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.8.0",
                     "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
                     "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
                     "vae": ["diffusers", "AutoencoderKL"], "safety_checker": [null, null], "feature_extractor": [null, null]}
                    """);
            int vocab = tokenizer(dir.resolve("tokenizer"));
            Random r = new Random(seed);
            textEncoder(dir.resolve("text_encoder"), r, vocab);
            unet(dir.resolve("unet"), r);
            VaeFixture.tiny(seed + 1).withEncoder(seed + 1).write(dir.resolve("vae"), DType.F32, false);
            Files.createDirectories(dir.resolve("scheduler"));
            Files.writeString(dir.resolve("scheduler").resolve("scheduler_config.json"), """
                    {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                     "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
                     "trained_betas": null, "clip_sample": false}
                    """);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** GPT-2's byte → printable character table (CLIP's bytes_to_unicode). */
    static char[] byteChars() {
        char[] t = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            t[b] = printable ? (char) b : (char) (256 + n++);
        }
        return t;
    }

    static int tokenizer(Path dir) throws IOException {
        Files.createDirectories(dir);
        List<String> vocab = new ArrayList<>();
        for (char c : byteChars()) vocab.add(String.valueOf(c));
        for (char c : byteChars()) vocab.add(c + "</w>");
        List<String> merges = new ArrayList<>();
        for (String w : WORDS) {
            List<String> syms = new ArrayList<>();
            for (int i = 0; i < w.length(); i++) syms.add(i == w.length() - 1 ? w.charAt(i) + "</w>" : String.valueOf(w.charAt(i)));
            while (syms.size() > 1) { // merge left to right
                String m = syms.get(0) + " " + syms.get(1);
                if (!merges.contains(m)) merges.add(m);
                String joined = syms.get(0) + syms.get(1);
                if (!vocab.contains(joined)) vocab.add(joined);
                syms.set(0, joined);
                syms.remove(1);
            }
        }
        vocab.add("<|startoftext|>");
        vocab.add("<|endoftext|>");
        // vocab.json through Jackson (it escapes the byte table's control-range characters)
        var om = new com.fasterxml.jackson.databind.ObjectMapper();
        var node = om.createObjectNode();
        for (int i = 0; i < vocab.size(); i++) node.put(vocab.get(i), i);
        Files.writeString(dir.resolve("vocab.json"), om.writeValueAsString(node));
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\n" + String.join("\n", merges) + "\n");
        Files.writeString(dir.resolve("special_tokens_map.json"),
                "{\"bos_token\": \"<|startoftext|>\", \"eos_token\": \"<|endoftext|>\", \"pad_token\": \"<|endoftext|>\", \"unk_token\": \"<|endoftext|>\"}");
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"model_max_length\": 77, \"do_lower_case\": true}");
        return vocab.size();
    }

    private static void textEncoder(Path dir, Random r, int vocab) throws IOException {
        textEncoder(dir, r, vocab, TD, TI, TL, 0);
    }

    /** A CLIP text encoder of hidden {@code td} (2 heads), {@code ti} MLP, {@code tl} layers; with a text_projection of {@code proj} rows when proj &gt; 0. */
    static void textEncoder(Path dir, Random r, int vocab, int td, int ti, int tl, int proj) throws IOException {
        final int TD = td, TI = ti, TL = tl;
        Map<String, float[]> w = new LinkedHashMap<>();
        Map<String, long[]> s = new LinkedHashMap<>();
        put(w, s, r, "text_model.embeddings.token_embedding.weight", 0.5, vocab, TD);
        put(w, s, r, "text_model.embeddings.position_embedding.weight", 0.2, 77, TD);
        for (int l = 0; l < TL; l++) {
            String p = "text_model.encoder.layers." + l;
            norm(w, s, r, p + ".layer_norm1", TD);
            norm(w, s, r, p + ".layer_norm2", TD);
            for (String n : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) linear(w, s, r, p + ".self_attn." + n, TD, TD, true);
            linear(w, s, r, p + ".mlp.fc1", TD, TI, true);
            linear(w, s, r, p + ".mlp.fc2", TI, TD, true);
        }
        norm(w, s, r, "text_model.final_layer_norm", TD);
        if (proj > 0) linear(w, s, r, "text_projection", TD, proj, false);
        save(dir, "model.safetensors", w, s, """
                {"architectures": ["%s"], "model_type": "clip_text_model", "hidden_size": %d, "intermediate_size": %d,
                 "num_hidden_layers": %d, "num_attention_heads": 2, "max_position_embeddings": 77, "hidden_act": "%s",
                 "layer_norm_eps": 1e-5, "vocab_size": %d, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1%s}
                """.formatted(proj > 0 ? "CLIPTextModelWithProjection" : "CLIPTextModel", TD, TI, TL, proj > 0 ? "gelu" : "quick_gelu", vocab,
                proj > 0 ? ", \"projection_dim\": " + proj : ""));
    }

    private static void unet(Path dir, Random r) throws IOException {
        Map<String, float[]> w = new LinkedHashMap<>();
        Map<String, long[]> s = new LinkedHashMap<>();
        int te = 128;
        linear(w, s, r, "time_embedding.linear_1", 32, te, true);
        linear(w, s, r, "time_embedding.linear_2", te, te, true);
        conv(w, s, r, "conv_in", LAT, 32, 3);
        resnet(w, s, r, "down_blocks.0.resnets.0", 32, 32, te);
        transformer(w, s, r, "down_blocks.0.attentions.0", 32);
        conv(w, s, r, "down_blocks.0.downsamplers.0.conv", 32, 32, 3);
        resnet(w, s, r, "down_blocks.1.resnets.0", 32, 64, te);
        resnet(w, s, r, "mid_block.resnets.0", 64, 64, te);
        transformer(w, s, r, "mid_block.attentions.0", 64);
        resnet(w, s, r, "mid_block.resnets.1", 64, 64, te);
        resnet(w, s, r, "up_blocks.0.resnets.0", 128, 64, te);
        resnet(w, s, r, "up_blocks.0.resnets.1", 96, 64, te);
        conv(w, s, r, "up_blocks.0.upsamplers.0.conv", 64, 64, 3);
        resnet(w, s, r, "up_blocks.1.resnets.0", 96, 32, te);
        transformer(w, s, r, "up_blocks.1.attentions.0", 32);
        resnet(w, s, r, "up_blocks.1.resnets.1", 64, 32, te);
        transformer(w, s, r, "up_blocks.1.attentions.1", 32);
        norm(w, s, r, "conv_norm_out", 32);
        conv(w, s, r, "conv_out", 32, LAT, 3);
        save(dir, "diffusion_pytorch_model.safetensors", w, s, """
                {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": 2, "block_out_channels": [32, 64],
                 "center_input_sample": false, "cross_attention_dim": %d, "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
                 "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 1,
                 "mid_block_scale_factor": 1, "norm_eps": 1e-5, "norm_num_groups": 8, "out_channels": 4, "sample_size": 8,
                 "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"]}
                """.formatted(CROSS));
    }

    private static void resnet(Map<String, float[]> w, Map<String, long[]> s, Random r, String p, int in, int out, int te) {
        norm(w, s, r, p + ".norm1", in);
        conv(w, s, r, p + ".conv1", in, out, 3);
        linear(w, s, r, p + ".time_emb_proj", te, out, true);
        norm(w, s, r, p + ".norm2", out);
        conv(w, s, r, p + ".conv2", out, out, 3);
        if (in != out) conv(w, s, r, p + ".conv_shortcut", in, out, 1);
    }

    private static void transformer(Map<String, float[]> w, Map<String, long[]> s, Random r, String p, int c) {
        norm(w, s, r, p + ".norm", c);
        conv(w, s, r, p + ".proj_in", c, c, 1);
        conv(w, s, r, p + ".proj_out", c, c, 1);
        String b = p + ".transformer_blocks.0";
        for (int k = 1; k <= 3; k++) norm(w, s, r, b + ".norm" + k, c);
        for (String a : new String[] {"attn1", "attn2"}) {
            int kv = a.equals("attn1") ? c : CROSS;
            linear(w, s, r, b + "." + a + ".to_q", c, c, false);
            linear(w, s, r, b + "." + a + ".to_k", kv, c, false);
            linear(w, s, r, b + "." + a + ".to_v", kv, c, false);
            linear(w, s, r, b + "." + a + ".to_out.0", c, c, true);
        }
        linear(w, s, r, b + ".ff.net.0.proj", c, 8 * c, true);
        linear(w, s, r, b + ".ff.net.2", 4 * c, c, true);
    }

    private static void put(Map<String, float[]> w, Map<String, long[]> s, Random r, String name, double scale, long... shape) {
        long n = 1;
        for (long d : shape) n *= d;
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * scale);
        w.put(name, v);
        s.put(name, shape);
    }

    private static void linear(Map<String, float[]> w, Map<String, long[]> s, Random r, String p, int in, int out, boolean bias) {
        put(w, s, r, p + ".weight", 1 / Math.sqrt(in), out, in);
        if (bias) put(w, s, r, p + ".bias", 0.1, out);
    }

    private static void conv(Map<String, float[]> w, Map<String, long[]> s, Random r, String p, int in, int out, int k) {
        put(w, s, r, p + ".weight", 1 / Math.sqrt((double) in * k * k), out, in, k, k);
        put(w, s, r, p + ".bias", 0.1, out);
    }

    private static void norm(Map<String, float[]> w, Map<String, long[]> s, Random r, String p, int c) {
        put(w, s, r, p + ".weight", 0.2, c);
        float[] g = w.get(p + ".weight");
        for (int i = 0; i < c; i++) g[i] += 1;
        put(w, s, r, p + ".bias", 0.2, c);
    }

    private static void save(Path dir, String file, Map<String, float[]> w, Map<String, long[]> s, String config) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config);
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try (Device cpu = Device.cpu()) {
            for (var e : w.entrySet()) ts.put(e.getKey(), cpu.upload(DType.F32, e.getValue(), s.get(e.getKey())));
            SafeTensors.write(dir.resolve(file), ts, Map.of("format", "pt"));
            for (Tensor t : ts.values()) t.close();
        }
    }
}
