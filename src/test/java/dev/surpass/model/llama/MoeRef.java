package dev.surpass.model.llama;

import static dev.surpass.model.decoder.RefMath.*;
import static dev.surpass.model.llama.LlamaTest.E;

import dev.surpass.model.decoder.RefMath.Entry;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * The mixture-of-experts tests' weights and float64 reference MLP (written from transformers'
 * MixtralSparseMoeBlock / Qwen2MoeSparseMoeBlock, independently of {@link MoeMlp}): router softmax
 * over all experts, top-k, optional renormalisation, the experts' SwiGLU outputs weighted and
 * summed, and Qwen2-MoE's sigmoid-gated shared expert.
 */
final class MoeRef {
    private MoeRef() {}

    /** How the reference combines the experts: as HF does, or with a deliberate mistake (to show each part matters). */
    enum Routing {
        /** HF's: the top-k probabilities, renormalised when the config says so. */
        HF,
        /** The top-k probabilities, renormalised whatever the config says. */
        RENORMALISED,
        /** The top-k probabilities, never renormalised. */
        RAW,
        /** Every expert with weight 1/experts (no routing at all). */
        DENSE_AVERAGE,
        /** HF's, without the shared expert. */
        NO_SHARED
    }

    /** The tensor names of one layer's mixture: its prefix and the experts' three projections (gate, up, down). */
    record Names(String prefix, String gate, String up, String down) {
        static final Names MIXTRAL = new Names("block_sparse_moe.", "w1", "w3", "w2");
        static final Names QWEN = new Names("mlp.", "gate_proj", "up_proj", "down_proj");
    }

    /**
     * {@code base}'s weights with layer {@code l}'s dense MLP replaced by a router of {@code ne}
     * experts of intermediate {@code f} (and a shared expert of {@code fs} when > 0). The router's
     * rows are scaled so the probabilities are far from uniform, as a trained router's are.
     */
    static void putMixture(Map<String, float[]> m, int l, Names n, int ne, int f, int fs, Random r) {
        String p = "model.layers." + l + ".";
        m.remove(p + "mlp.gate_proj.weight");
        m.remove(p + "mlp.up_proj.weight");
        m.remove(p + "mlp.down_proj.weight");
        String mp = p + n.prefix();
        m.put(mp + "gate.weight", fill(new float[ne * E], r, 2.5 / Math.sqrt(E)));
        for (int j = 0; j < ne; j++) {
            String ep = mp + "experts." + j + ".";
            m.put(ep + n.gate() + ".weight", fill(new float[f * E], r, 1 / Math.sqrt(E)));
            m.put(ep + n.up() + ".weight", fill(new float[f * E], r, 1 / Math.sqrt(E)));
            m.put(ep + n.down() + ".weight", fill(new float[E * f], r, 1 / Math.sqrt(f)));
        }
        if (fs > 0) {
            m.put(mp + "shared_expert.gate_proj.weight", fill(new float[fs * E], r, 1 / Math.sqrt(E)));
            m.put(mp + "shared_expert.up_proj.weight", fill(new float[fs * E], r, 1 / Math.sqrt(E)));
            m.put(mp + "shared_expert.down_proj.weight", fill(new float[E * fs], r, 1 / Math.sqrt(fs)));
            m.put(mp + "shared_expert_gate.weight", fill(new float[E], r, 1 / Math.sqrt(E)));
        }
    }

    /** The checkpoint entries of {@code w}: the mixture tensors shaped from {@code ne, f, fs}, the rest as LlamaTest shapes them. */
    static Map<String, Entry> entries(Map<String, float[]> w, boolean withHead, int ne, int f, int fs) {
        Map<String, float[]> plain = new LinkedHashMap<>(w);
        plain.keySet().removeIf(MoeRef::isMixture);
        Map<String, Entry> e = new LinkedHashMap<>(LlamaTest.entries(plain, withHead));
        for (var x : w.entrySet()) {
            String k = x.getKey();
            if (!isMixture(k)) continue;
            long[] shape;
            if (k.endsWith("shared_expert_gate.weight")) shape = new long[] {1, E};
            else if (k.endsWith(".gate.weight")) shape = new long[] {ne, E};
            else {
                int inter = k.contains("shared_expert.") ? fs : f;
                boolean down = k.endsWith("w2.weight") || k.endsWith("down_proj.weight");
                shape = down ? new long[] {E, inter} : new long[] {inter, E};
            }
            e.put(k, new Entry(x.getValue(), shape));
        }
        return e;
    }

    private static boolean isMixture(String k) {
        return k.contains(".experts.") || k.contains("shared_expert") || k.endsWith(".gate.weight");
    }

    /**
     * The reference MLP: layers whose weights hold a router ({@code n.prefix() + "gate.weight"}) are
     * the mixture of {@code ne} experts of intermediate {@code f}, top-{@code k}, renormalised when
     * {@code norm}, combined as {@code routing} says; the others LlamaTest's dense SwiGLU.
     */
    static LlamaTest.Mlp mlp(Names n, int ne, int k, int f, boolean norm, Routing routing) {
        return (w, p, m) -> {
            String mp = p + n.prefix();
            float[] gate = w.get(mp + "gate.weight");
            if (gate == null) return LlamaTest.swiGlu(w, p, m);
            double[][] logits = linear(m, gate, null, E, ne);
            double[][] out = new double[m.length][E];
            double[][][] expertOut = new double[ne][][];
            for (int t = 0; t < m.length; t++) {
                double[] prob = softmax(logits[t]);
                double[] weight = new double[ne];
                if (routing == Routing.DENSE_AVERAGE) {
                    java.util.Arrays.fill(weight, 1.0 / ne);
                } else {
                    boolean[] taken = new boolean[ne];
                    double sum = 0;
                    for (int j = 0; j < k; j++) {
                        int best = -1;
                        for (int e = 0; e < ne; e++) if (!taken[e] && (best < 0 || prob[e] > prob[best])) best = e;
                        taken[best] = true;
                        weight[best] = prob[best];
                        sum += prob[best];
                    }
                    boolean renorm = routing == Routing.RENORMALISED || (norm && routing != Routing.RAW);
                    if (renorm) for (int e = 0; e < ne; e++) weight[e] /= sum;
                }
                for (int e = 0; e < ne; e++) {
                    if (weight[e] == 0) continue;
                    if (expertOut[e] == null) {
                        String ep = mp + "experts." + e + ".";
                        expertOut[e] = swiGlu(m, w.get(ep + n.gate() + ".weight"), w.get(ep + n.up() + ".weight"), w.get(ep + n.down() + ".weight"), f);
                    }
                    for (int i = 0; i < E; i++) out[t][i] += weight[e] * expertOut[e][t][i];
                }
            }
            float[] sg = w.get(mp + "shared_expert_gate.weight");
            if (sg != null && routing != Routing.NO_SHARED) {
                int fs = w.get(mp + "shared_expert.gate_proj.weight").length / E;
                double[][] s = swiGlu(m, w.get(mp + "shared_expert.gate_proj.weight"), w.get(mp + "shared_expert.up_proj.weight"),
                        w.get(mp + "shared_expert.down_proj.weight"), fs);
                double[][] g = linear(m, sg, null, E, 1);
                for (int t = 0; t < m.length; t++) {
                    double sig = 1 / (1 + Math.exp(-g[t][0]));
                    for (int i = 0; i < E; i++) out[t][i] += sig * s[t][i];
                }
            }
            return out;
        };
    }

    /**
     * Asserts {@code got} is more than {@code 100·TOL} (relative) from the reference combined each of
     * the {@code wrong} ways: each part of the routing matters.
     */
    static void assertEachMatters(float[] got, java.util.function.Function<Routing, double[][]> reference, Routing... wrong) {
        for (Routing r : wrong) {
            org.junit.jupiter.api.Assertions.assertTrue(maxRelErr(got, reference.apply(r)) > 100 * LlamaTest.TOL, r + " should be far off");
        }
    }

    /** The weights without the attention's q/k norm weights (a reference without those norms). */
    static Map<String, float[]> withoutQkNorms(Map<String, float[]> w) {
        Map<String, float[]> m = new LinkedHashMap<>(w);
        m.keySet().removeIf(k -> k.endsWith("_norm.weight") && k.contains("self_attn"));
        return m;
    }

    private static double[] softmax(double[] x) {
        double mx = Double.NEGATIVE_INFINITY, sum = 0;
        for (double v : x) mx = Math.max(mx, v);
        double[] p = new double[x.length];
        for (int i = 0; i < x.length; i++) sum += p[i] = Math.exp(x[i] - mx);
        for (int i = 0; i < x.length; i++) p[i] /= sum;
        return p;
    }

    private static double[][] swiGlu(double[][] m, float[] gate, float[] up, float[] down, int f) {
        double[][] g = linear(m, gate, null, E, f);
        double[][] u = linear(m, up, null, E, f);
        for (int t = 0; t < m.length; t++) for (int i = 0; i < f; i++) g[t][i] = silu(g[t][i]) * u[t][i];
        return linear(g, down, null, f, E);
    }

    /**
     * Transformers 5's fused layout of layer {@code l}'s experts ({@code save_original_format=False}):
     * router at {@code mlp.gate.weight}, {@code mlp.experts.gate_up_proj [E, 2F, hidden]} (each
     * expert's gate rows then its up rows) and {@code mlp.experts.down_proj [E, hidden, F]}.
     */
    static void fuse(Map<String, Entry> e, Map<String, float[]> w, int l, Names n, int ne, int f) {
        String mp = "model.layers." + l + "." + n.prefix(), to = "model.layers." + l + ".mlp.";
        e.put(to + "gate.weight", e.remove(mp + "gate.weight"));
        float[] gu = new float[ne * 2 * f * E], down = new float[ne * E * f];
        for (int j = 0; j < ne; j++) {
            String ep = mp + "experts." + j + ".";
            System.arraycopy(w.get(ep + n.gate() + ".weight"), 0, gu, j * 2 * f * E, f * E);
            System.arraycopy(w.get(ep + n.up() + ".weight"), 0, gu, j * 2 * f * E + f * E, f * E);
            System.arraycopy(w.get(ep + n.down() + ".weight"), 0, down, j * E * f, E * f);
            for (String p : new String[] {n.gate(), n.up(), n.down()}) e.remove(ep + p + ".weight");
        }
        e.put(to + "experts.gate_up_proj", new Entry(gu, ne, 2L * f, E));
        e.put(to + "experts.down_proj", new Entry(down, ne, E, f));
    }
}
