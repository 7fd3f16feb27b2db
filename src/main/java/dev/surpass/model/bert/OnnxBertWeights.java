package dev.surpass.model.bert;

import dev.surpass.model.bert.OnnxGraph.Initializer;
import dev.surpass.model.bert.OnnxGraph.Node;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Maps a BERT ONNX export's initializers to HF weight names. Embeddings, LayerNorms and biases
 * keep their HF names in the export ({@code embeddings.word_embeddings.weight},
 * {@code encoder.layer.0.attention.self.query.bias}, …; a {@code bert.} prefix is dropped); the
 * matmul weights are unnamed ({@code onnx::MatMul_NNN}) and stored {@code [in, out]}. Each
 * {@code MatMul} whose second input is an initializer is named by the bias that the {@code Add}
 * consuming its output adds ({@code ….bias} → {@code ….weight}); failing that, by the node's
 * name ({@code /encoder/layer.0/attention/self/query/MatMul}). The weight is transposed to the
 * {@code [out, in]} layout {@link dev.surpass.layers.Gemm#linear} reads.
 */
final class OnnxBertWeights implements BertModel.WeightSource {
    private static final Pattern LAYER = Pattern.compile("^encoder\\.layer\\.(\\d+)\\.");
    private static final Pattern NODE_NAME = Pattern.compile("^/(?:bert/)?(encoder/layer\\.\\d+/.+)/MatMul$");

    private final String where;
    private final BertConfig config;
    private final Map<String, float[]> values;
    private final Map<String, long[]> shapes;

    private OnnxBertWeights(String where, BertConfig config, Map<String, float[]> values, Map<String, long[]> shapes) {
        this.where = where;
        this.config = config;
        this.values = values;
        this.shapes = shapes;
    }

    BertConfig config() {
        return config;
    }

    static OnnxBertWeights map(OnnxGraph g, String where, int numHeads, float eps) {
        Map<String, Initializer> inits = g.initializers();
        Map<String, float[]> values = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        // 1. named float tensors keep their (HF) names
        for (Initializer t : inits.values()) {
            if (t.dataType() != OnnxGraph.FLOAT) continue;
            String n = hfName(t.name());
            if (n.startsWith("embeddings.") || n.startsWith("encoder.layer.")) {
                values.put(n, t.floats());
                shapes.put(n, t.dims());
            }
        }
        // 2. matmul weights: named by the bias their output gets, else by the node's name
        Map<String, Node> consumerOf = new HashMap<>();
        for (Node nd : g.nodes()) for (String in : nd.inputs()) consumerOf.putIfAbsent(in, nd);
        for (Node nd : g.nodes()) {
            if (!nd.opType().equals("MatMul") || nd.inputs().size() != 2) continue;
            Initializer w = inits.get(nd.inputs().get(1));
            if (w == null) continue;
            String name = null;
            Node add = nd.outputs().isEmpty() ? null : consumerOf.get(nd.outputs().get(0));
            if (add != null && add.opType().equals("Add")) {
                for (String in : add.inputs()) {
                    String hn = hfName(in);
                    if (!in.equals(nd.outputs().get(0)) && inits.containsKey(in) && hn.endsWith(".bias")) {
                        name = hn.substring(0, hn.length() - 5) + ".weight";
                    }
                }
            }
            if (name == null) {
                Matcher m = NODE_NAME.matcher(nd.name());
                if (m.matches()) name = m.group(1).replace('/', '.') + ".weight";
            }
            if (name == null) continue; // not a BERT projection (e.g. a pooler or head): ignored
            long[] d = w.dims();
            if (d.length != 2) {
                throw new IllegalArgumentException(where + ": MatMul weight '" + w.name() + "' (for " + name + ") has dims "
                        + Arrays.toString(d) + "; expected [in, out]");
            }
            if (values.containsKey(name)) {
                throw new IllegalArgumentException(where + ": two initializers map to " + name + " (the second is '" + w.name() + "')");
            }
            float[] src = w.floats();
            int in = (int) d[0], out = (int) d[1];
            float[] t = new float[src.length];
            for (int r = 0; r < in; r++) for (int c = 0; c < out; c++) t[c * in + r] = src[r * out + c];
            values.put(name, t);
            shapes.put(name, new long[] {out, in});
        }
        // 3. sizes from the shapes
        long[] we = need(shapes, where, "embeddings.word_embeddings.weight");
        long[] pe = need(shapes, where, "embeddings.position_embeddings.weight");
        long[] te = need(shapes, where, "embeddings.token_type_embeddings.weight");
        long[] ib = need(shapes, where, "encoder.layer.0.intermediate.dense.bias");
        if (we.length != 2 || pe.length != 2 || te.length != 2 || ib.length != 1) {
            throw new IllegalArgumentException(where + ": embedding tables must be 2-D and intermediate.dense.bias 1-D");
        }
        TreeSet<Integer> layers = new TreeSet<>();
        for (String n : values.keySet()) {
            Matcher m = LAYER.matcher(n);
            if (m.find()) layers.add(Integer.parseInt(m.group(1)));
        }
        int count = layers.size();
        if (count == 0 || layers.last() != count - 1) {
            throw new IllegalArgumentException(where + ": encoder layers found are " + layers + "; expected 0.." + (count - 1));
        }
        int hidden = (int) we[1];
        if (hidden % numHeads != 0) {
            throw new IllegalArgumentException(where + ": hidden size " + hidden + " is not a multiple of numHeads " + numHeads);
        }
        BertConfig c = new BertConfig(hidden, count, numHeads, (int) ib[0], (int) pe[0], (int) te[0], (int) we[0], eps);
        return new OnnxBertWeights(where, c, values, shapes);
    }

    /** An initializer's name without a leading {@code bert.}. */
    private static String hfName(String n) {
        return n.startsWith("bert.") ? n.substring(5) : n;
    }

    private static long[] need(Map<String, long[]> shapes, String where, String name) {
        long[] s = shapes.get(name);
        if (s == null) throw new IllegalArgumentException(where + ": no initializer maps to BERT tensor '" + name + "'");
        return s;
    }

    /** Names of every mapped tensor (for tests and error messages). */
    List<String> names() {
        return List.copyOf(values.keySet());
    }

    @Override
    public float[] read(String name, long... shape) {
        float[] v = values.get(name);
        if (v == null) throw new IllegalArgumentException(where + ": no initializer maps to BERT tensor '" + name + "'");
        if (!Arrays.equals(shapes.get(name), shape)) {
            throw new IllegalArgumentException(where + ": tensor '" + name + "' has shape " + Arrays.toString(shapes.get(name))
                    + " but the model expects " + Arrays.toString(shape));
        }
        return v;
    }
}
