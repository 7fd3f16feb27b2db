package dev.surpass.cli.demo;

import java.lang.reflect.Method;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Sentence embeddings from ONNX Runtime, when it is on the class path (a test-scope dependency of
 * this project, so reached by reflection: the module does not require it): the ONNX export's
 * {@code last_hidden_state} for each sentence alone (mask all ones, token types 0), mean-pooled
 * and L2-normalised as {@link dev.surpass.model.bert.SentenceEmbeddings} does — the peer the demo's
 * semantic-search step compares with.
 */
final class OrtEmbeddings {
    private static final String PKG = "ai.onnxruntime.";

    private OrtEmbeddings() {}

    private static Class<?> load(String name) throws ClassNotFoundException {
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        try {
            return Class.forName(PKG + name, true, cl != null ? cl : OrtEmbeddings.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            return Class.forName(PKG + name, true, OrtEmbeddings.class.getClassLoader());
        }
    }

    /** Whether ONNX Runtime's Java API can be loaded. */
    static boolean available() {
        try {
            load("OrtEnvironment");
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
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
