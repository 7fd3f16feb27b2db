package dev.surpass.soak;

import static dev.surpass.model.decoder.RefMath.around1;
import static dev.surpass.model.decoder.RefMath.fill;
import static dev.surpass.model.decoder.RefMath.writeCheckpoint;

import dev.surpass.DType;
import dev.surpass.model.decoder.RefMath.Entry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Tiny random checkpoints in the real key names, written to a temporary folder (deleted by
 * {@link #close}): GPT-2 (as in {@code Gpt2Test}: 2 layers, n_embd 64, 2 heads, vocab 96, 40
 * positions), BERT (as in {@code BertModelTest}: 2 layers, hidden 64, intermediate 77, vocab 53,
 * 19 positions) and Mamba in mamba_ssm naming (as in {@code MambaLMTest}: d_model 32, 2 layers,
 * d_state 8, vocab 50 padded to 56).
 */
final class TinyModels implements AutoCloseable {
    static final int GPT2_VOCAB = 96, GPT2_POSITIONS = 40, BERT_VOCAB = 53, BERT_POSITIONS = 19, MAMBA_VOCAB = 50;

    final Path root;
    final Path gpt2, bert, mamba;

    TinyModels(long seed) {
        try {
            root = Files.createTempDirectory("surpass-tiny-models");
            gpt2 = root.resolve("gpt2");
            bert = root.resolve("bert");
            mamba = root.resolve("mamba");
            writeGpt2(gpt2, new Random(seed));
            writeBert(bert, new Random(seed + 1));
            writeMamba(mamba, new Random(seed + 2));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void writeGpt2(Path dir, Random r) throws IOException {
        int e = 64, f = 256, v = GPT2_VOCAB, p = GPT2_POSITIONS;
        String config = "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2,"
                + " \"n_head\": 2, \"n_positions\": 40, \"n_ctx\": 40, \"vocab_size\": 96, \"layer_norm_epsilon\": 1e-5,"
                + " \"activation_function\": \"gelu_new\", \"n_inner\": null, \"eos_token_id\": 95}";
        Map<String, Entry> m = new LinkedHashMap<>();
        m.put("wte.weight", new Entry(fill(new float[v * e], r, 0.5), v, e));
        m.put("wpe.weight", new Entry(fill(new float[p * e], r, 0.5), p, e));
        for (int l = 0; l < 2; l++) {
            String h = "h." + l + ".";
            m.put(h + "ln_1.weight", new Entry(around1(e, r, 0.2), e));
            m.put(h + "ln_1.bias", new Entry(fill(new float[e], r, 0.1), e));
            m.put(h + "attn.c_attn.weight", new Entry(fill(new float[e * 3 * e], r, 1 / Math.sqrt(e)), e, 3 * e));
            m.put(h + "attn.c_attn.bias", new Entry(fill(new float[3 * e], r, 0.1), 3 * e));
            m.put(h + "attn.c_proj.weight", new Entry(fill(new float[e * e], r, 1 / Math.sqrt(e)), e, e));
            m.put(h + "attn.c_proj.bias", new Entry(fill(new float[e], r, 0.1), e));
            m.put(h + "ln_2.weight", new Entry(around1(e, r, 0.2), e));
            m.put(h + "ln_2.bias", new Entry(fill(new float[e], r, 0.1), e));
            m.put(h + "mlp.c_fc.weight", new Entry(fill(new float[e * f], r, 1 / Math.sqrt(e)), e, f));
            m.put(h + "mlp.c_fc.bias", new Entry(fill(new float[f], r, 0.1), f));
            m.put(h + "mlp.c_proj.weight", new Entry(fill(new float[f * e], r, 1 / Math.sqrt(f)), f, e));
            m.put(h + "mlp.c_proj.bias", new Entry(fill(new float[e], r, 0.1), e));
        }
        m.put("ln_f.weight", new Entry(around1(e, r, 0.2), e));
        m.put("ln_f.bias", new Entry(fill(new float[e], r, 0.1), e));
        writeCheckpoint(dir, config, m, DType.F32, 1);
    }

    private static void writeBert(Path dir, Random r) throws IOException {
        int e = 64, f = 77, v = BERT_VOCAB, p = BERT_POSITIONS, t = 3;
        String config = "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"hidden_size\": 64,"
                + " \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"intermediate_size\": 77, \"max_position_embeddings\": 19,"
                + " \"type_vocab_size\": 3, \"vocab_size\": 53, \"layer_norm_eps\": 1e-6, \"hidden_act\": \"gelu\","
                + " \"position_embedding_type\": \"absolute\"}";
        Map<String, Entry> m = new LinkedHashMap<>();
        String b = "bert.";
        m.put(b + "embeddings.word_embeddings.weight", new Entry(fill(new float[v * e], r, 0.5), v, e));
        m.put(b + "embeddings.position_embeddings.weight", new Entry(fill(new float[p * e], r, 0.2), p, e));
        m.put(b + "embeddings.token_type_embeddings.weight", new Entry(fill(new float[t * e], r, 0.2), t, e));
        m.put(b + "embeddings.LayerNorm.weight", new Entry(around1(e, r, 0.2), e));
        m.put(b + "embeddings.LayerNorm.bias", new Entry(fill(new float[e], r, 0.1), e));
        for (int l = 0; l < 2; l++) {
            String q = b + "encoder.layer." + l + ".";
            for (String s : new String[] {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
                m.put(q + s + ".weight", new Entry(fill(new float[e * e], r, 1 / Math.sqrt(e)), e, e));
                m.put(q + s + ".bias", new Entry(fill(new float[e], r, 0.1), e));
            }
            m.put(q + "attention.output.LayerNorm.weight", new Entry(around1(e, r, 0.2), e));
            m.put(q + "attention.output.LayerNorm.bias", new Entry(fill(new float[e], r, 0.1), e));
            m.put(q + "intermediate.dense.weight", new Entry(fill(new float[f * e], r, 1 / Math.sqrt(e)), f, e));
            m.put(q + "intermediate.dense.bias", new Entry(fill(new float[f], r, 0.1), f));
            m.put(q + "output.dense.weight", new Entry(fill(new float[e * f], r, 1 / Math.sqrt(f)), e, f));
            m.put(q + "output.dense.bias", new Entry(fill(new float[e], r, 0.1), e));
            m.put(q + "output.LayerNorm.weight", new Entry(around1(e, r, 0.2), e));
            m.put(q + "output.LayerNorm.bias", new Entry(fill(new float[e], r, 0.1), e));
        }
        writeCheckpoint(dir, config, m, DType.F32, 1);
    }

    private static void writeMamba(Path dir, Random r) throws IOException {
        int dm = 32, di = 64, n = 8, w = 4, rank = 2, vp = 56;
        String config = "{\"d_model\": 32, \"n_layer\": 2, \"vocab_size\": 50, \"ssm_cfg\": {\"d_state\": 8, \"d_conv\": 4, \"expand\": 2},"
                + " \"rms_norm\": true, \"residual_in_fp32\": true, \"fused_add_norm\": true, \"pad_vocab_size_multiple\": 8,"
                + " \"tie_embeddings\": true}";
        Map<String, Entry> m = new LinkedHashMap<>();
        m.put("backbone.embedding.weight", new Entry(fill(new float[vp * dm], r, 1.0), vp, dm));
        for (int l = 0; l < 2; l++) {
            String lp = "backbone.layers." + l + ".", mp = lp + "mixer.";
            float[] aLog = new float[di * n];
            for (int c = 0; c < di; c++) for (int s = 0; s < n; s++) aLog[c * n + s] = (float) Math.log(s + 1);
            float[] dtB = new float[di];
            for (int c = 0; c < di; c++) {
                double dt = Math.exp(Math.log(1e-3) + r.nextDouble() * (Math.log(0.1) - Math.log(1e-3)));
                dtB[c] = (float) (dt + Math.log(-Math.expm1(-dt))); // inverse softplus
            }
            m.put(mp + "A_log", new Entry(aLog, di, n));
            m.put(mp + "D", new Entry(around1(di, r, 0.05), di));
            m.put(mp + "in_proj.weight", new Entry(fill(new float[2 * di * dm], r, 1 / Math.sqrt(dm)), 2 * di, dm));
            m.put(mp + "conv1d.weight", new Entry(fill(new float[di * w], r, 0.5), di, 1, w));
            m.put(mp + "conv1d.bias", new Entry(fill(new float[di], r, 0.2), di));
            m.put(mp + "x_proj.weight", new Entry(fill(new float[(rank + 2 * n) * di], r, 1 / Math.sqrt(di)), rank + 2 * n, di));
            m.put(mp + "dt_proj.weight", new Entry(fill(new float[di * rank], r, 1 / Math.sqrt(rank)), di, rank));
            m.put(mp + "dt_proj.bias", new Entry(dtB, di));
            m.put(mp + "out_proj.weight", new Entry(fill(new float[dm * di], r, 1 / Math.sqrt(di)), dm, di));
            m.put(lp + "norm.weight", new Entry(around1(dm, r, 0.1), dm));
        }
        m.put("backbone.norm_f.weight", new Entry(around1(dm, r, 0.1), dm));
        writeCheckpoint(dir, config, m, DType.F32, 1);
    }

    @Override
    public void close() {
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temp folder left behind is harmless
        }
    }
}
