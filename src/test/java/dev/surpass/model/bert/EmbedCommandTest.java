package dev.surpass.model.bert;

import static dev.surpass.model.decoder.RefMath.writeCheckpoint;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.cli.Main;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code surpass embed}: the default MiniLM with --query, a safetensors folder, and usage errors. */
class EmbedCommandTest {
    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code;
        try (PrintWriter o = new PrintWriter(out, true); PrintWriter e = new PrintWriter(err, true)) {
            code = Main.run(o, e, args);
        }
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void ranksByCosineWithTheDefaultMiniLm() {
        MiniLmFixture.assumeMiniLm();
        Run r = run("embed", "--device", "cpu", "--query", "Someone has a meal.", "A man is riding a horse.", "The new movie is awesome.",
                "A man is eating food.");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals("query: Someone has a meal.", lines[0]);
        assertTrue(lines[1].endsWith("A man is eating food."), r.out());
        assertEquals(4, lines.length, r.out());
    }

    @Test
    void embedsFromAnOnnxFileWithItsTokenizerBeside() throws IOException {
        MiniLmFixture.assumeMiniLm();
        MiniLm.Artifact a = MiniLm.find();
        Path onnx = tmp.resolve("model.onnx");
        Files.write(onnx, a.onnx());
        Files.write(tmp.resolve("tokenizer.json"), a.tokenizerJson());
        Run r = run("embed", "--device", "cpu", "--onnx", onnx.toString(), "--show", "5", "A man is eating food.");
        assertEquals(0, r.code(), r.err());
        // data-and-models.md §1's first values for this sentence (an independent numpy run)
        int at = r.out().indexOf("dim 384, norm 1.000000, first:");
        assertTrue(at >= 0, r.out());
        String[] v = r.out().substring(at + "dim 384, norm 1.000000, first:".length()).strip().split("\\s+");
        double[] want = {0.03324, 0.00441, -0.00628, 0.04838, -0.13870};
        for (int i = 0; i < want.length; i++) assertEquals(want[i], Double.parseDouble(v[i]), 1e-4, "value " + i + " of " + r.out());
    }

    /** A WordPiece tokenizer.json over BertModelTest's vocabulary: [CLS]=2, [SEP]=3, hello, world, ##s, '.', then t8..t52. */
    static String tokenizerJson() {
        StringBuilder vocab = new StringBuilder("{\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3, \"hello\": 4, \"world\": 5, \"##s\": 6, \".\": 7");
        for (int i = 8; i < BertModelTest.V; i++) vocab.append(", \"t").append(i).append("\": ").append(i);
        vocab.append('}');
        return "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\","
                + " \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100, \"vocab\": " + vocab + "},"
                + " \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
                + " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                + " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\"}},"
                + " {\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"[SEP]\"}}],"
                + " \"special_tokens\": {\"[CLS]\": {\"ids\": [2]}, \"[SEP]\": {\"ids\": [3]}}}}";
    }

    @Test
    void embedsWithAFolderModel() throws IOException {
        Path dir = tmp.resolve("bert");
        writeCheckpoint(dir, BertModelTest.CONFIG, BertModelTest.entries(BertModelTest.weights(new Random(3)), ""), DType.F32, 1);
        Files.writeString(dir.resolve("tokenizer.json"), tokenizerJson());
        Run r = run("embed", "--device", "cpu", "--model", dir.toString(), "--show", "3", "Hello worlds.", "world hello");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("[0] Hello worlds.") && r.out().contains("[1] world hello"), r.out());
        assertTrue(r.out().contains("dim 64, norm 1.000000, first:"), r.out());
        // --out: the embeddings [N, dim] as a safetensors tensor, the query last; the printed first values agree
        Path file = tmp.resolve("e.safetensors");
        Run o = run("embed", "--device", "cpu", "--model", dir.toString(), "--out", file.toString(), "--query", "hello", "Hello worlds.", "world hello");
        assertEquals(0, o.code(), o.err());
        try (dev.surpass.Device cpu = dev.surpass.Device.cpu(); dev.surpass.io.SafeTensorsFile f = dev.surpass.io.SafeTensors.open(file);
             dev.surpass.Tensor t = f.tensor("embeddings", cpu)) {
            assertEquals("[3, 64]", java.util.Arrays.toString(t.shape()));
            float[] v = t.toFloatArray();
            String first = r.out().substring(r.out().indexOf("first:") + "first:".length()).strip().split("\\s+")[0];
            assertEquals(Double.parseDouble(first), v[0], 1e-5, "sentence 0's first value");
            double n = 0;
            for (int i = 128; i < 192; i++) n += (double) v[i] * v[i];
            assertEquals(1, n, 1e-5, "the query's row is normalised");
        }
        Run toFolder = run("embed", "--device", "cpu", "--model", dir.toString(), "--out", tmp.toString(), "x");
        assertEquals(Main.USAGE, toFolder.code());
        assertTrue(toFolder.err().contains("--out") && toFolder.err().contains("folder"), toFolder.err());
        Run tooLong = run("embed", "--device", "cpu", "--model", dir.toString(), "--max-length", "20", "x");
        assertEquals(Main.USAGE, tooLong.code());
        assertTrue(tooLong.err().contains("max_position_embeddings 19"), tooLong.err());
    }

    @Test
    void usageErrors() throws IOException {
        Path onnx = tmp.resolve("m.onnx");
        Files.write(onnx, new byte[] {1});
        Run r = run("embed", "--device", "cpu", "--onnx", onnx.toString(), "hi");
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("no tokenizer"), r.err());
        r = run("embed", "--device", "cpu", "--onnx", onnx.toString(), "--model", tmp.toString(), "hi");
        assertEquals(Main.USAGE, r.code());
        assertTrue(r.err().contains("not both"), r.err());
        r = run("embed", "--device", "cpu");
        assertEquals(Main.USAGE, r.code());
    }
}
