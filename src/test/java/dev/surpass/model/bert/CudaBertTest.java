package dev.surpass.model.bert;

import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * BERT on CUDA: the tiny random model of {@link BertModelTest} (padded batch, poisoned pads)
 * against its float64 reference, and against the CPU. MiniLM itself is not in the GPU bundle, so
 * the real-weights check on CUDA runs where the artifact is on the class path.
 */
@Tag("gpu")
class CudaBertTest {
    private static Device cuda() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        return Device.cuda(0);
    }

    @TempDir
    Path tmp;

    @Test
    void tinyBertMatchesTheReferenceAndTheCpu() throws Exception {
        try (Device g = cuda(); Device host = Device.cpu()) {
            BertModelTest.w = BertModelTest.weights(new Random(20261127L)); // what reference() reads
            Path dir = tmp.resolve("bert");
            writeCheckpoint(dir, BertModelTest.CONFIG, BertModelTest.entries(BertModelTest.w, "bert."), DType.F32, 1);
            try (BertModel m = BertModel.load(g, dir); BertModel onCpu = BertModel.load(host, dir)) {
                Random r = new Random(11);
                int n = 13;
                int[] lens = {13, 5, 9, 1};
                int[][] ids = new int[4][n], mask = new int[4][n];
                for (int b = 0; b < 4; b++) {
                    for (int t = 0; t < n; t++) {
                        ids[b][t] = t < lens[b] ? r.nextInt(BertModelTest.V) : BertModelTest.V - 1;
                        mask[b][t] = t < lens[b] ? 1 : 0;
                    }
                }
                float[] got, cpu;
                try (Tensor h = m.forward(ids, mask, null); Tensor c = onCpu.forward(ids, mask, null)) {
                    assertArrayEquals(new long[] {4, n, BertModelTest.E}, h.shape());
                    got = h.toFloatArray();
                    cpu = c.toFloatArray();
                }
                double worst = 0, vsCpu = 0;
                for (int b = 0; b < 4; b++) {
                    double[][] ref = BertModelTest.reference(ids[b], mask[b], new int[n]);
                    for (int t = 0; t < n; t++) {
                        for (int i = 0; i < BertModelTest.E; i++) {
                            int k = (b * n + t) * BertModelTest.E + i;
                            worst = Math.max(worst, Math.abs(got[k] - ref[t][i]));
                            vsCpu = Math.max(vsCpu, Math.abs(got[k] - cpu[k]));
                        }
                    }
                }
                assertTrue(worst < 5e-4, "CUDA vs float64 reference: " + worst);
                assertTrue(vsCpu < 5e-4, "CUDA vs CPU: " + vsCpu);
            }
        }
    }

    /**
     * MPNet on CUDA: the tiny random model of {@link MpnetTest} (lengths 100 / 37 / 1, every relative
     * bucket reached, the unfused biased attention) against its float64 reference and the CPU, padded
     * and packed.
     */
    @Test
    void tinyMpnetMatchesTheReferenceAndTheCpu() throws Exception {
        try (Device g = cuda(); Device host = Device.cpu()) {
            MpnetTest.w = MpnetTest.weights(new Random(20261128L)); // what reference() reads
            Path dir = tmp.resolve("mpnet");
            writeCheckpoint(dir, MpnetTest.CONFIG, MpnetTest.entries(MpnetTest.w, "mpnet."), DType.F32, 1);
            int[][][] in = MpnetTest.batch();
            int[][] ids = in[0], mask = in[1];
            int n = ids[0].length, e = MpnetTest.E;
            int[] lens = {100, 37, 1};
            int[][] packed = new int[3][];
            for (int b = 0; b < 3; b++) packed[b] = java.util.Arrays.copyOf(ids[b], lens[b]);
            try (BertModel m = BertModel.load(g, dir); BertModel onCpu = BertModel.load(host, dir);
                 Tensor h = m.forward(ids, mask, null); Tensor c = onCpu.forward(ids, mask, null);
                 Tensor hp = m.forwardPacked(packed); Tensor cp = onCpu.forwardPacked(packed)) {
                float[] got = h.toFloatArray(), cpu = c.toFloatArray();
                double worst = 0, vsCpu = 0;
                for (int b = 0; b < 3; b++) worst = Math.max(worst, MpnetTest.worst(got, b, n, MpnetTest.reference(ids[b], mask[b])));
                for (int k = 0; k < got.length; k++) vsCpu = Math.max(vsCpu, Math.abs(got[k] - cpu[k]));
                float[] pg = hp.toFloatArray(), pc = cp.toFloatArray();
                double packedVsCpu = 0;
                for (int k = 0; k < pg.length; k++) packedVsCpu = Math.max(packedVsCpu, Math.abs(pg[k] - pc[k]));
                System.out.printf("tiny MPNet on CUDA: max|d| vs float64 %.3g, vs CPU %.3g, packed vs CPU %.3g%n", worst, vsCpu, packedVsCpu);
                assertTrue(worst < 5e-4, "CUDA vs float64 reference: " + worst);
                assertTrue(vsCpu < 5e-4, "CUDA vs CPU: " + vsCpu);
                assertTrue(packedVsCpu < 5e-4 && pg.length == 138 * e, "packed CUDA vs CPU: " + packedVsCpu);
            }
        }
    }

    /**
     * ModernBERT on CUDA: the tiny random model of {@link ModernBertTest} (4 layers, global and
     * local with a window of ±4 over rows of 23 / 9 / 1 tokens, the unfused masked attention)
     * against its float64 reference and the CPU, padded and packed.
     */
    @Test
    void tinyModernBertMatchesTheReferenceAndTheCpu() throws Exception {
        try (Device g = cuda(); Device host = Device.cpu()) {
            java.util.Map<String, float[]> w = ModernBertTest.weights(new Random(20261128L), true);
            Path dir = tmp.resolve("modernbert");
            writeCheckpoint(dir, ModernBertTest.BIASED, ModernBertTest.entries(w, "model."), DType.F32, 1);
            int[][][] in = ModernBertTest.batch();
            int[][] ids = in[0], mask = in[1];
            int n = ids[0].length;
            int[][] packed = new int[3][];
            for (int b = 0; b < 3; b++) packed[b] = java.util.Arrays.copyOf(ids[b], ModernBertTest.LENS[b]);
            try (ModernBert m = ModernBert.load(g, dir); ModernBert onCpu = ModernBert.load(host, dir);
                 Tensor h = m.forward(ids, mask); Tensor c = onCpu.forward(ids, mask);
                 Tensor hp = m.forwardPacked(packed); Tensor cp = onCpu.forwardPacked(packed)) {
                float[] got = h.toFloatArray(), cpu = c.toFloatArray();
                double worst = 0, vsCpu = 0, packedVsCpu = 0;
                for (int b = 0; b < 3; b++) worst = Math.max(worst, ModernBertTest.worst(got, b, n, ModernBertTest.reference(w, ids[b], mask[b])));
                for (int k = 0; k < got.length; k++) vsCpu = Math.max(vsCpu, Math.abs(got[k] - cpu[k]));
                float[] pg = hp.toFloatArray(), pc = cp.toFloatArray();
                for (int k = 0; k < pg.length; k++) packedVsCpu = Math.max(packedVsCpu, Math.abs(pg[k] - pc[k]));
                System.out.printf("tiny ModernBERT on CUDA: max|d| vs float64 %.3g, vs CPU %.3g, packed vs CPU %.3g%n", worst, vsCpu, packedVsCpu);
                assertTrue(worst < 5e-4, "CUDA vs float64 reference: " + worst);
                assertTrue(vsCpu < 5e-4, "CUDA vs CPU: " + vsCpu);
                assertTrue(packedVsCpu < 5e-4 && pg.length == 33 * ModernBertTest.E, "packed CUDA vs CPU: " + packedVsCpu);
            }
        }
    }

    /**
     * all-MiniLM-L6-v2's architecture at full size (hidden 384, 6 layers, 12 heads, intermediate
     * 1536, vocab 30522, 512 positions) with random weights, so it runs where the artifact is not on
     * the class path (the GPU bundle): 16 padded sequences of 1 to 256 tokens, [CLS] … [SEP], mean
     * pooled and L2-normalised on CUDA and on the CPU. With {@code MiniLmTest} (the real weights on
     * the CPU against ONNX Runtime) this ties CUDA to ONNX Runtime at MiniLM's size.
     */
    @Test
    void miniLmShapedModelOnCudaMatchesTheCpu() throws Exception {
        try (Device g = cuda(); Device host = Device.cpu()) {
            var dims = new BertModelTest.Dims(384, 6, 1536, 30522, 512, 2, 0.05, 0.02);
            String config = "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"hidden_size\": 384,"
                    + " \"num_hidden_layers\": 6, \"num_attention_heads\": 12, \"intermediate_size\": 1536, \"max_position_embeddings\": 512,"
                    + " \"type_vocab_size\": 2, \"vocab_size\": 30522, \"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}";
            Path dir = tmp.resolve("minilm-shaped");
            writeCheckpoint(dir, config, BertModelTest.entries(BertModelTest.weights(new Random(384), dims), "", dims), DType.F32, 1);
            int[] lens = {1, 2, 3, 7, 16, 31, 64, 100, 128, 200, 255, 256, 0, 0, 0, 0};
            Random r = new Random(6);
            for (int i = 12; i < lens.length; i++) lens[i] = 1 + r.nextInt(256);
            int n = 256;
            int[][] ids = new int[lens.length][n], mask = new int[lens.length][n];
            for (int b = 0; b < lens.length; b++) {
                for (int t = 0; t < lens[b]; t++) {
                    ids[b][t] = t == 0 ? 101 : t == lens[b] - 1 ? 102 : 999 + r.nextInt(30522 - 999);
                    mask[b][t] = 1;
                }
            }
            try (BertModel m = BertModel.load(g, dir); BertModel onCpu = BertModel.load(host, dir);
                 Tensor h = m.forward(ids, mask, null); Tensor c = onCpu.forward(ids, mask, null)) {
                float[][] x = SentenceEmbeddings.meanPool(h.toFloatArray(), mask, 384), y = SentenceEmbeddings.meanPool(c.toFloatArray(), mask, 384);
                double worst = 1;
                for (int b = 0; b < lens.length; b++) {
                    double cos = SentenceEmbeddings.cosine(SentenceEmbeddings.normalize(x[b]), SentenceEmbeddings.normalize(y[b]));
                    worst = Math.min(worst, cos);
                    assertTrue(cos >= 0.9999, "sequence " + b + " of " + lens[b] + " tokens: cosine CUDA vs CPU " + cos);
                }
                System.out.printf("MiniLM-shaped random BERT, CUDA vs CPU: min cosine %.9f over %d sequences%n", worst, lens.length);
            }
        }
    }

    @Test
    void miniLmOnCudaMatchesTheCpu() {
        MiniLmFixture.assumeMiniLm();
        try (Device g = cuda(); Device cpu = Device.cpu()) {
            MiniLm.Artifact a = MiniLm.find();
            java.util.List<String> s = MiniLmTest.VARIED;
            try (SentenceEmbeddings onGpu = new SentenceEmbeddings(MiniLm.model(g, a), MiniLm.tokenizer(a), MiniLm.MAX_LENGTH);
                 SentenceEmbeddings onCpu = new SentenceEmbeddings(MiniLm.model(cpu, a), MiniLm.tokenizer(a), MiniLm.MAX_LENGTH)) {
                float[][] x = onGpu.embed(s), y = onCpu.embed(s);
                for (int i = 0; i < s.size(); i++) {
                    double c = SentenceEmbeddings.cosine(x[i], y[i]);
                    assertTrue(c >= 0.9999, "sentence " + i + " (" + s.get(i) + "): cosine CUDA vs CPU " + c);
                }
            }
        }
    }
}
