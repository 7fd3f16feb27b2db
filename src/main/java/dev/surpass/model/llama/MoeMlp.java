package dev.surpass.model.llama;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.layers.Activation;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gather;
import dev.surpass.layers.Gemm;
import dev.surpass.layers.Scatter;
import dev.surpass.model.decoder.Checkpoint;
import java.util.function.UnaryOperator;

/**
 * One layer's sparse mixture-of-experts MLP ({@link MoeConfig}) on the model's device:
 * <pre>
 * p = softmax(gate · x)  (fp32, over all experts);  top-k of p per token (ties: the lower index);
 * w = the k probabilities (÷ their sum when normTopK)
 * y = Σ_j w_j · expert_{e_j}(x)  (+ sigmoid(shared_expert_gate · x) · shared_expert(x))
 * expert(x) = down(silu(gate_proj(x)) · up(x))
 * </pre>
 * The router logits go to the host (n × experts values) for the top-k; each expert that has
 * tokens runs once on its tokens' rows ({@link Gather}: the ids of all experts go to the device in
 * one copy, each expert reads its part), its output rows are scattered to
 * their (token, slot) rows of an {@code [n·S, hidden]} buffer ({@link Scatter}; S = k, + 1 for the
 * shared expert), and one batched product {@code [n, 1, S] · [n, S, hidden]} ({@link Gemm#matmul})
 * weighs and sums each token's S rows.
 *
 * <p>The tensors are owned by the model's weights (the tracker given to {@link #load}).
 */
public final class MoeMlp {
    /** One SwiGLU expert's projections: gate / up {@code [F, hidden]}, down {@code [hidden, F]}. */
    private record Expert(Tensor gate, Tensor up, Tensor down) {
        Tensor apply(Tensor x) {
            return swiglu(x, gate, up, down);
        }
    }

    /**
     * A SwiGLU MLP {@code down(silu(gate · x) · (up · x))} of rows {@code x [n, hidden]} with
     * {@code gate, up [F, hidden]}, {@code down [hidden, F]}: one expert, or a dense MLP of the
     * same shape (Jamba's non-expert layers).
     */
    public static Tensor swiglu(Tensor x, Tensor gate, Tensor up, Tensor down) {
        try (Scope s = Scope.open()) {
            Tensor g = s.track(Activation.silu(s.track(Gemm.linear(x, gate, null))));
            Tensor gu = s.track(Elementwise.mul(g, s.track(Gemm.linear(x, up, null))));
            return Gemm.linear(gu, down, null);
        }
    }

    /**
     * A mixture over already-uploaded tensors (owned by the caller, who closes them): router
     * {@code [experts, hidden]} and per expert {@code gate[j], up[j] [F, hidden]},
     * {@code down[j] [hidden, F]}; no shared expert. For families loaded outside this package
     * (Jamba); the config's experts, topK and normTopK apply.
     */
    public static MoeMlp of(MoeConfig config, Tensor router, Tensor[] gate, Tensor[] up, Tensor[] down) {
        if (config == null || router == null || gate == null || up == null || down == null) {
            throw new IllegalArgumentException("MoeMlp.of: null argument");
        }
        if (config.sharedIntermediate() != 0) throw new IllegalArgumentException("MoeMlp.of: a shared expert is not supported here");
        int ne = config.experts();
        if (gate.length != ne || up.length != ne || down.length != ne || router.dim(0) != ne) {
            throw new IllegalArgumentException("MoeMlp.of: config has " + ne + " experts but router has " + router.dim(0) + " rows and "
                    + gate.length + "/" + up.length + "/" + down.length + " gate/up/down weights");
        }
        Expert[] experts = new Expert[ne];
        for (int j = 0; j < ne; j++) experts[j] = new Expert(gate[j], up[j], down[j]);
        return new MoeMlp(config, router, experts, null);
    }

    private final MoeConfig config;
    private final Tensor router;   // [experts (+1: the shared expert's gate row), hidden] F32
    private final Expert[] experts;
    private final Expert shared;   // null when none

    private MoeMlp(MoeConfig config, Tensor router, Expert[] experts, Expert shared) {
        this.config = config;
        this.router = router;
        this.experts = experts;
        this.shared = shared;
    }

    /**
     * Loads layer {@code lp}'s mixture ({@code lp} = "model.layers.i.") in any of the layouts real
     * checkpoints have: per-expert tensors (Mixtral's {@code block_sparse_moe.experts.j.w1/w3/w2},
     * the Qwen families' {@code mlp.experts.j.gate_proj/up_proj/down_proj}), or transformers 5's
     * fused {@code mlp.experts.gate_up_proj [E, 2F, hidden]} (gate rows, then up rows) and
     * {@code mlp.experts.down_proj [E, hidden, F]} with the router at {@code mlp.gate.weight}.
     *
     * @throws IllegalArgumentException naming the checkpoint file and tensor when one is missing or misshapen
     */
    static MoeMlp load(Checkpoint ck, Device device, LlamaConfig c, String lp, UnaryOperator<Tensor> track) {
        MoeConfig m = c.moe();
        int h = c.hidden(), f = m.intermediate(), ne = m.experts();
        boolean mixtral = c.modelType().equals("mixtral");
        // transformers 5 renames Mixtral's block_sparse_moe to mlp
        String mp = mixtral && !ck.has(lp + "mlp.gate.weight") ? lp + "block_sparse_moe." : lp + "mlp.";
        float[] gate = ck.read(mp + "gate.weight", ne, h);
        Expert shared = null;
        if (m.sharedIntermediate() > 0) {
            float[] sg = ck.read(mp + "shared_expert_gate.weight", 1, h);
            float[] both = java.util.Arrays.copyOf(gate, gate.length + h); // the shared gate as the router's last row
            System.arraycopy(sg, 0, both, gate.length, h);
            gate = both;
            String sp = mp + "shared_expert.";
            int fs = m.sharedIntermediate();
            shared = new Expert(track.apply(ck.uploadLinear(device, sp + "gate_proj.weight", fs, h)),
                    track.apply(ck.uploadLinear(device, sp + "up_proj.weight", fs, h)),
                    track.apply(ck.uploadLinear(device, sp + "down_proj.weight", h, fs)));
        }
        Tensor router = track.apply(device.upload(DType.F32, gate, gate.length / h, h));
        Expert[] experts = new Expert[ne];
        if (ck.has(mp + "experts.gate_up_proj")) {
            Tensor[][] gu = ck.uploadLinearStacked(device, mp + "experts.gate_up_proj", ne, h, f, f);
            for (Tensor[] e : gu) for (Tensor t : e) track.apply(t);
            Tensor[][] down = ck.uploadLinearStacked(device, mp + "experts.down_proj", ne, f, h);
            for (int j = 0; j < ne; j++) experts[j] = new Expert(gu[j][0], gu[j][1], track.apply(down[j][0]));
        } else {
            String[] names = mixtral ? new String[] {"w1", "w3", "w2"} : new String[] {"gate_proj", "up_proj", "down_proj"};
            for (int j = 0; j < ne; j++) {
                String ep = mp + "experts." + j + ".";
                experts[j] = new Expert(track.apply(ck.uploadLinear(device, ep + names[0] + ".weight", f, h)),
                        track.apply(ck.uploadLinear(device, ep + names[1] + ".weight", f, h)),
                        track.apply(ck.uploadLinear(device, ep + names[2] + ".weight", h, f)));
            }
        }
        return new MoeMlp(m, router, experts, shared);
    }

    /** The mixture's output {@code [n, hidden]} for the normalised rows {@code x [n, hidden]}. */
    public Tensor apply(Tensor x) {
        int n = (int) x.dim(0), h = (int) x.dim(1), ne = config.experts(), k = config.topK();
        int slots = k + (shared == null ? 0 : 1), cols = ne + (shared == null ? 0 : 1);
        Device device = x.device();
        try (Scope s = Scope.open()) {
            float[] logits = s.track(Gemm.linear(x, router, null)).toFloatArray(); // [n, ne (+1)]
            float[] weights = new float[n * slots];
            int[] chosen = new int[n * k], top = new int[k], count = new int[ne];
            float[] p = new float[ne];
            for (int t = 0; t < n; t++) {
                route(logits, t * cols, ne, p, top, config.normTopK(), weights, t * slots);
                for (int j = 0; j < k; j++) count[chosen[t * k + j] = top[j]]++;
                if (shared != null) weights[t * slots + k] = sigmoid(logits[t * cols + ne]);
            }
            // grouped by expert, in token order: each expert's tokens and the (token, slot) rows its outputs go to;
            // the shared expert's rows (every token's last slot) after them
            int[] start = new int[ne + 1];
            for (int e = 0; e < ne; e++) start[e + 1] = start[e] + count[e];
            int[] tokens = new int[n * k], rows = new int[n * slots], at = start.clone();
            for (int t = 0; t < n; t++) {
                for (int j = 0; j < k; j++) {
                    int e = chosen[t * k + j];
                    tokens[at[e]] = t;
                    rows[at[e]++] = t * slots + j;
                }
                if (shared != null) rows[n * k + t] = t * slots + k;
            }
            Tensor tokenIds = s.track(device.upload(tokens, tokens.length)), rowIds = s.track(device.upload(rows, rows.length));
            // every (token, slot) row is written once below: the buffer needs no clearing
            Tensor buf = s.track(device.allocate(DType.F32, (long) n * slots, h));
            for (int e = 0; e < ne; e++) {
                if (count[e] == 0) continue;
                Tensor xe = count[e] == n ? x : s.track(Gather.rows(x, s.track(tokenIds.view(start[e], count[e]))));
                Scatter.rows(s.track(experts[e].apply(xe)), s.track(rowIds.view(start[e], count[e])), buf);
            }
            if (shared != null) Scatter.rows(s.track(shared.apply(x)), s.track(rowIds.view((long) n * k, n)), buf);
            Tensor w = s.track(device.upload(DType.F32, weights, n, 1, slots));
            Tensor y = s.track(Gemm.matmul(w, s.track(buf.reshape(n, slots, h)))); // [n, 1, h]: Σ_j w_j · row_j
            return y.reshape(n, h);
        }
    }

    /**
     * Token routing as transformers does it: softmax in fp32 over the {@code ne} logits at
     * {@code off}, the {@code k} largest probabilities (the lower expert index first among equal
     * ones) into {@code top}, their values (÷ their fp32 sum when {@code norm}) into
     * {@code weights[wOff ..]}; {@code p} is scratch of {@code ne}.
     */
    static void route(float[] logits, int off, int ne, float[] p, int[] top, boolean norm, float[] weights, int wOff) {
        float max = Float.NEGATIVE_INFINITY;
        for (int e = 0; e < ne; e++) max = Math.max(max, logits[off + e]);
        float sum = 0;
        for (int e = 0; e < ne; e++) sum += p[e] = (float) Math.exp(logits[off + e] - max);
        for (int e = 0; e < ne; e++) p[e] /= sum;
        int k = top.length;
        float total = 0;
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < ne; e++) {
                if (taken(top, j, e)) continue;
                if (best < 0 || p[e] > p[best] || (Float.isNaN(p[e]) && !Float.isNaN(p[best]))) best = e;
            }
            top[j] = best;
            weights[wOff + j] = p[best];
            total += p[best];
        }
        if (norm) for (int j = 0; j < k; j++) weights[wOff + j] /= total;
    }

    private static boolean taken(int[] top, int j, int e) {
        for (int i = 0; i < j; i++) if (top[i] == e) return true;
        return false;
    }

    private static float sigmoid(float v) {
        return (float) (1 / (1 + Math.exp(-v)));
    }
}
