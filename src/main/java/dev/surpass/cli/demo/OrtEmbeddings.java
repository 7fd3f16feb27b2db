package dev.surpass.cli.demo;

import dev.surpass.io.LocalMaven;
import java.io.IOException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Sentence embeddings from ONNX Runtime — the peer the demo's semantic-search step compares with:
 * the ONNX export's {@code last_hidden_state} for each sentence alone (mask all ones, token types
 * 0), mean-pooled and L2-normalised as {@link dev.surpass.model.bert.SentenceEmbeddings} does.
 * ONNX Runtime is a test-scope dependency, not one of the module's, so it is reached by reflection:
 * from the class path when it is there (the tests), else from its jar in the local Maven
 * repository, which the build downloaded for the tests (so {@code ./surpass demo} makes the
 * comparison on a machine that built the project).
 */
final class OrtEmbeddings {
    private static final String PKG = "ai.onnxruntime.";
    static final String GROUP = "com.microsoft.onnxruntime", NAME = "onnxruntime";

    /** Where ONNX Runtime's classes come from, resolved once: the loader and a description; null loader when absent. */
    private record Source(ClassLoader loader, String where) {}

    private static volatile Source source;

    private OrtEmbeddings() {}

    private static Source source() {
        Source s = source;
        if (s != null) return s;
        synchronized (OrtEmbeddings.class) {
            if (source == null) source = find();
            return source;
        }
    }

    private static Source find() {
        ClassLoader own = OrtEmbeddings.class.getClassLoader();
        for (ClassLoader cl : new ClassLoader[] {Thread.currentThread().getContextClassLoader(), own}) {
            if (cl == null) continue;
            try {
                Class.forName(PKG + "OrtEnvironment", false, cl);
                return new Source(cl, "class path");
            } catch (ClassNotFoundException | LinkageError e) {
                // not on this loader's path
            }
        }
        Path jar = LocalMaven.newestJar(GROUP, NAME);
        if (jar == null) return new Source(null, null);
        try {
            ClassLoader cl = new URLClassLoader("onnxruntime", new URL[] {jar.toUri().toURL()}, own);
            Class.forName(PKG + "OrtEnvironment", false, cl);
            return new Source(cl, jar.toString());
        } catch (IOException | ClassNotFoundException | LinkageError e) {
            return new Source(null, null);
        }
    }

    private static Class<?> load(String name) throws ClassNotFoundException {
        Source s = source();
        if (s.loader() == null) throw new ClassNotFoundException(PKG + name + " (ONNX Runtime is neither on the class path nor in "
                + LocalMaven.folder(GROUP, NAME) + ")");
        return Class.forName(PKG + name, true, s.loader());
    }

    /** Whether ONNX Runtime's Java API can be loaded (from the class path or the local Maven repository). */
    static boolean available() {
        return source().loader() != null;
    }

    /** Where ONNX Runtime comes from ("class path" or its jar), or null when it is absent. */
    static String where() {
        return source().where();
    }

    /** Unit-length embeddings of {@code sentences}, tokenized by {@code tokenize} (special tokens included). */
    static float[][] embed(byte[] onnx, Function<String, int[]> tokenize, List<String> sentences) throws ReflectiveOperationException {
        Class<?> envC = load("OrtEnvironment"), sessC = load("OrtSession"), optC = load("OrtSession$SessionOptions"),
                tensorC = load("OnnxTensor"), valueC = load("OnnxValue"), resultC = load("OrtSession$Result");
        Object env = envC.getMethod("getEnvironment").invoke(null);
        Object opts = optC.getConstructor().newInstance();
        Object session;
        try {
            optC.getMethod("setIntraOpNumThreads", int.class).invoke(opts, 1);
            session = envC.getMethod("createSession", byte[].class, optC).invoke(env, onnx, opts);
        } finally {
            optC.getMethod("close").invoke(opts);
        }
        Method create = tensorC.getMethod("createTensor", envC, Object.class), close = tensorC.getMethod("close");
        Method run = sessC.getMethod("run", Map.class), get = resultC.getMethod("get", int.class), value = valueC.getMethod("getValue");
        float[][] out = new float[sentences.size()][];
        try {
            for (int s = 0; s < out.length; s++) {
                int[] ids = tokenize.apply(sentences.get(s));
                long[][] i = new long[1][ids.length], m = new long[1][ids.length], t = new long[1][ids.length];
                for (int k = 0; k < ids.length; k++) {
                    i[0][k] = ids[k];
                    m[0][k] = 1;
                }
                Object a = create.invoke(null, env, i), b = create.invoke(null, env, m), c = create.invoke(null, env, t);
                try {
                    Object result = run.invoke(session, Map.of("input_ids", a, "attention_mask", b, "token_type_ids", c));
                    try {
                        float[][][] h = (float[][][]) value.invoke(get.invoke(result, 0));
                        int n = h[0].length, d = h[0][0].length;
                        double[] pooled = new double[d];
                        for (float[] row : h[0]) for (int k = 0; k < d; k++) pooled[k] += row[k];
                        double norm = 0;
                        for (int k = 0; k < d; k++) {
                            pooled[k] /= n;
                            norm += pooled[k] * pooled[k];
                        }
                        norm = Math.max(Math.sqrt(norm), 1e-12);
                        out[s] = new float[d];
                        for (int k = 0; k < d; k++) out[s][k] = (float) (pooled[k] / norm);
                    } finally {
                        resultC.getMethod("close").invoke(result);
                    }
                } finally {
                    close.invoke(a);
                    close.invoke(b);
                    close.invoke(c);
                }
            }
        } finally {
            sessC.getMethod("close").invoke(session);
        }
        return out;
    }
}
