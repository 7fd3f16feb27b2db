package dev.surpass.attention;

import static dev.surpass.attention.AttentionChecks.companion;
import static dev.surpass.attention.AttentionChecks.sameDim;
import static dev.surpass.attention.AttentionChecks.tensor;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;

/**
 * Fused scaled-dot-product attention: prefill (dense and variable-length packed), decode against a
 * {@link PagedKvCache}, and attention maps recomputed from the saved LSE. Each call runs where its
 * tensors live (the Vector API version on the CPU, the CUDA kernels on a GPU) and never builds the
 * N×N score matrix.
 *
 * <p>Layouts are FlashAttention's, so a projection's output needs no transpose: {@code q [B, Nq, Hq, D]},
 * {@code k, v [B, Nk, Hkv, D]}. GQA/MQA: {@code Hq} is a multiple of {@code Hkv} and q-head
 * {@code h} uses kv-head {@code h / (Hq/Hkv)}. Masks, scale, softcap and ALiBi: {@link AttentionOptions}.
 * dtypes F32, F16, BF16 (the same for q, k, v; fp32 accumulation and softmax; output in the input
 * dtype; LSE always fp32, natural log). Head dims 32, 64, 72, 80, 96, 128, 256. A row that sees no
 * key (causal with Nq &gt; Nk, a window past the keys, an empty sequence) gives 0 and LSE −∞.
 *
 * <p>Errors: {@link IllegalArgumentException}, naming the argument and dimension, for any bad
 * shape, dtype, device, offset, id or index; nothing unchecked reaches an implementation.
 *
 * <p>Thread rules: the entries are stateless and thread-safe; each output is a new tensor owned by
 * the caller.
 */
public final class Attention {
    private Attention() {}

    /** Attention output {@code o [B, Nq, Hq, D]} of {@code q [B, Nq, Hq, D]}, {@code k, v [B, Nk, Hkv, D]}. */
    public static Tensor prefill(Tensor q, Tensor k, Tensor v, AttentionOptions opts) {
        checkPrefill("prefill", q, k, v, opts);
        return dense(q, k, v, opts, false).out();
    }

    /** Like {@link #prefill}, with the natural-log LSE {@code [B, Hq, Nq]} fp32. */
    public static AttentionOutput prefillWithLse(Tensor q, Tensor k, Tensor v, AttentionOptions opts) {
        checkPrefill("prefillWithLse", q, k, v, opts);
        return dense(q, k, v, opts, true);
    }

    /** Like {@link #prefill}; the LSE is returned when {@link AttentionOptions#returnLse} is set, else null. */
    public static AttentionOutput forward(Tensor q, Tensor k, Tensor v, AttentionOptions opts) {
        checkPrefill("forward", q, k, v, opts);
        return dense(q, k, v, opts, opts.returnsLse());
    }

    /**
     * Variable-length packed prefill: sequence {@code s} has queries {@code [cuSeqlensQ[s], cuSeqlensQ[s+1])}
     * of {@code q [totalQ, Hq, D]} and keys {@code [cuSeqlensK[s], cuSeqlensK[s+1])} of
     * {@code k, v [totalK, Hkv, D]}; masks are aligned per sequence. Offsets: batch+1 of them,
     * starting at 0, non-decreasing, the last equal to the total; empty sequences are allowed.
     * Returns {@code out [totalQ, Hq, D]}.
     */
    public static Tensor prefillVarlen(Tensor q, Tensor k, Tensor v, int[] cuSeqlensQ, int[] cuSeqlensK, AttentionOptions opts) {
        checkVarlen("prefillVarlen", q, k, v, cuSeqlensQ, cuSeqlensK, opts);
        return varlen(q, k, v, cuSeqlensQ, cuSeqlensK, opts, false).out();
    }

    /** Like {@link #prefillVarlen}, with the LSE {@code [Hq, totalQ]} fp32. */
    public static AttentionOutput prefillVarlenWithLse(Tensor q, Tensor k, Tensor v, int[] cuSeqlensQ, int[] cuSeqlensK,
                                                       AttentionOptions opts) {
        checkVarlen("prefillVarlenWithLse", q, k, v, cuSeqlensQ, cuSeqlensK, opts);
        return varlen(q, k, v, cuSeqlensQ, cuSeqlensK, opts, true);
    }

    /**
     * One decoding step: {@code q [B, Hq, D]} (row {@code b} the newest token of sequence
     * {@code seqIds[b]}) attends to every cached token of its sequence, the one just appended
     * included (causal is implied; a left window and softcap apply). Returns {@code [B, Hq, D]}.
     * Long sequences are split into chunks whose partial results are merged by their LSE.
     */
    public static Tensor decode(Tensor q, PagedKvCache cache, int[] seqIds, AttentionOptions opts) {
        return decode("decode", q, cache, seqIds, opts, false).out();
    }

    /** Like {@link #decode}, with the LSE {@code [B, Hq]} fp32. */
    public static AttentionOutput decodeWithLse(Tensor q, PagedKvCache cache, int[] seqIds, AttentionOptions opts) {
        return decode("decodeWithLse", q, cache, seqIds, opts, true);
    }

    /**
     * Attention maps: the softmax rows {@code P[b, heads[x], rows[y], :]} of a prefill call,
     * recomputed from its saved {@code lse [B, Hq, Nq]} as {@code exp(S − lse)} (0 where masked),
     * without building the full matrix. Pass the same q, k and options as the forward call.
     * Returns fp32 {@code [B, heads.length, rows.length, Nk]}.
     */
    public static Tensor attentionProbabilities(Tensor q, Tensor k, Tensor lse, int[] heads, int[] rows, AttentionOptions opts) {
        String op = "attentionProbabilities";
        tensor(op, "q", q, 4, "[B, Nq, Hq, D]");
        tensor(op, "k", k, 4, "[B, Nk, Hkv, D]");
        AttentionChecks.options(op, opts);
        AttentionChecks.headDim(op, "q", q.dim(3));
        companion(op, "k", k, q);
        sameDim(op, "k", k, 0, "q", q, 0, "batch");
        sameDim(op, "k", k, 3, "q", q, 3, "head dim");
        AttentionChecks.heads(op, q.dim(2), "q's dim 2", k.dim(2), "k's dim 2");
        AttentionChecks.alibi(op, opts, q.dim(2), "q's dim 2");
        AttentionChecks.lse(op, lse, q, q.dim(0), q.dim(2), q.dim(1));
        AttentionChecks.indices(op, "heads", heads, q.dim(2), "Hq, q's dim 2");
        AttentionChecks.indices(op, "rows", rows, q.dim(1), "Nq, q's dim 1");
        Tensor out = q.device().allocate(DType.F32, q.dim(0), heads.length, rows.length, k.dim(1));
        if (out.numel() == 0) return out;
        try {
            if (q.device().isCpu()) VectorAttention.probabilities(q, k, lse, heads.clone(), rows.clone(), out, opts);
            else CudaAttention.probabilities(q, k, lse, heads.clone(), rows.clone(), out, opts);
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
        return out;
    }

    // ---- validation ----------------------------------------------------------------------------------

    private static void checkPrefill(String op, Tensor q, Tensor k, Tensor v, AttentionOptions opts) {
        checkQkv(op, q, k, v, opts, 4, "[B, Nq, Hq, D]", "[B, Nk, Hkv, D]");
        sameDim(op, "k", k, 0, "q", q, 0, "batch");
        AttentionChecks.heads(op, q.dim(2), "q's dim 2", k.dim(2), "k's dim 2");
        AttentionChecks.alibi(op, opts, q.dim(2), "q's dim 2");
    }

    private static void checkVarlen(String op, Tensor q, Tensor k, Tensor v, int[] cuQ, int[] cuK, AttentionOptions opts) {
        checkQkv(op, q, k, v, opts, 3, "[totalQ, Hq, D]", "[totalK, Hkv, D]");
        AttentionChecks.heads(op, q.dim(1), "q's dim 1", k.dim(1), "k's dim 1");
        AttentionChecks.alibi(op, opts, q.dim(1), "q's dim 1");
        AttentionChecks.cuSeqlens(op, "cuSeqlensQ", cuQ, q.dim(0), "totalQ (q's dim 0)");
        AttentionChecks.cuSeqlens(op, "cuSeqlensK", cuK, k.dim(0), "totalK (k's dim 0)");
        if (cuQ.length != cuK.length) {
            throw new IllegalArgumentException(op + ": cuSeqlensQ has " + cuQ.length + " offsets but cuSeqlensK has "
                    + cuK.length + "; both need batch+1");
        }
    }

    /**
     * The checks dense and varlen prefill share: q, k and v of {@code rank} axes (v shaped as k), the
     * options, q's head dim (the last axis), k and v beside q, k's head dim equal to q's.
     */
    private static void checkQkv(String op, Tensor q, Tensor k, Tensor v, AttentionOptions opts, int rank, String qShape,
                                 String kShape) {
        int d = rank - 1;
        tensor(op, "q", q, rank, qShape);
        tensor(op, "k", k, rank, kShape);
        tensor(op, "v", v, rank, kShape);
        AttentionChecks.options(op, opts);
        AttentionChecks.headDim(op, "q", q.dim(d));
        companion(op, "k", k, q);
        companion(op, "v", v, q);
        sameDim(op, "k", k, d, "q", q, d, "head dim");
        AttentionChecks.sameShape(op, k, v);
    }

    // ---- dispatch ------------------------------------------------------------------------------------

    private static AttentionOutput dense(Tensor q, Tensor k, Tensor v, AttentionOptions opts, boolean withLse) {
        return withOutputs(q, withLse ? new long[] {q.dim(0), q.dim(2), q.dim(1)} : null, (out, lse) -> {
            if (q.device().isCpu()) VectorAttention.prefill(q, k, v, out, lse, opts);
            else CudaAttention.prefill(q, k, v, out, lse, opts);
        });
    }

    private static AttentionOutput varlen(Tensor q, Tensor k, Tensor v, int[] cuQ, int[] cuK, AttentionOptions opts,
                                          boolean withLse) {
        int[] cq = cuQ.clone(), ck = cuK.clone(); // the caller may not change them under us
        return withOutputs(q, withLse ? new long[] {q.dim(1), q.dim(0)} : null, (out, lse) -> {
            if (q.device().isCpu()) {
                VectorAttention.prefillVarlen(q, k, v, cq, ck, out, lse, opts);
            } else {
                int maxQ = 0, maxK = 0;
                for (int s = 0; s + 1 < cq.length; s++) {
                    maxQ = Math.max(maxQ, cq[s + 1] - cq[s]);
                    maxK = Math.max(maxK, ck[s + 1] - ck[s]);
                }
                CudaAttention.prefillVarlen(q, k, v, cq, ck, maxQ, maxK, out, lse, opts);
            }
        });
    }

    /** Fills a prefill's outputs: given the output (shaped as q) and the fp32 LSE, or null. */
    @FunctionalInterface
    private interface Prefill {
        void run(Tensor out, Tensor lse);
    }

    /**
     * Allocates the output (q's dtype and shape) and, when {@code lseShape} is not null, an fp32
     * LSE of that shape on q's device, and runs {@code kernel} on them unless the output is empty;
     * closes both if anything fails.
     */
    private static AttentionOutput withOutputs(Tensor q, long[] lseShape, Prefill kernel) {
        Device dev = q.device();
        Tensor out = dev.allocate(q.dtype(), q.shape());
        Tensor lse = null;
        try {
            lse = lseShape != null ? dev.allocate(DType.F32, lseShape) : null;
            if (out.numel() > 0) kernel.run(out, lse);
            return new AttentionOutput(out, lse);
        } catch (RuntimeException | Error e) {
            if (lse != null) lse.close();
            out.close();
            throw e;
        }
    }

    private static AttentionOutput decode(String op, Tensor q, PagedKvCache cache, int[] seqIds, AttentionOptions opts,
                                          boolean withLse) {
        tensor(op, "q", q, 3, "[B, Hq, D]");
        AttentionChecks.options(op, opts);
        if (cache == null) throw new IllegalArgumentException(op + ": cache is null");
        if (cache.isClosed()) throw new IllegalArgumentException(op + ": cache is closed");
        if (seqIds == null) throw new IllegalArgumentException(op + ": seqIds is null");
        if (seqIds.length != q.dim(0)) {
            throw new IllegalArgumentException(op + ": seqIds has " + seqIds.length + " ids but q's batch (dim 0) is " + q.dim(0));
        }
        if (q.dtype() != cache.dtype()) {
            throw new IllegalArgumentException(op + ": q has dtype " + q.dtype() + " but the cache holds " + cache.dtype());
        }
        if (!q.device().sameAs(cache.device())) {
            throw new IllegalArgumentException(op + ": q is on " + q.device().name() + " but the cache is on " + cache.device().name());
        }
        if (q.dim(2) != cache.headDim()) {
            throw new IllegalArgumentException(op + ": q's head dim (dim 2) is " + q.dim(2) + " but the cache's is " + cache.headDim());
        }
        AttentionChecks.heads(op, q.dim(1), "q's dim 1", cache.numKvHeads(), "the cache's numKvHeads");
        AttentionChecks.alibi(op, opts, q.dim(1), "q's dim 1");
        int[] ids = seqIds.clone();
        synchronized (cache) { // no append or free may run between the checks and the reads
            cache.checkSequences(op, ids);
            int maxLen = 0;
            long tokens = 0;
            for (int id : ids) {
                int len = cache.length(id);
                tokens += len;
                int[] pt = cache.pageTable(id);
                // invariants of the cache, checked anyway: nothing out of range reaches a kernel
                if ((long) pt.length * cache.pageSize() < len) {
                    throw new IllegalStateException(op + ": sequence " + id + " holds " + len + " tokens in " + pt.length + " pages");
                }
                for (int p : pt) {
                    if (p < 0 || p >= cache.numPages()) {
                        throw new IllegalStateException(op + ": sequence " + id + "'s page table holds page " + p + " of " + cache.numPages());
                    }
                }
                maxLen = Math.max(maxLen, len);
            }
            Device dev = q.device();
            Tensor out = dev.allocate(q.dtype(), q.shape());
            Tensor lse = null;
            try {
                lse = withLse ? dev.allocate(DType.F32, q.dim(0), q.dim(1)) : null;
                if (out.numel() > 0) {
                    if (dev.isCpu()) {
                        long kvBytes = 2L * tokens * cache.numKvHeads() * cache.headDim() * cache.dtype().byteSize();
                        int split = VectorAttention.defaultSplitTokens(ids.length, cache.numKvHeads(), maxLen, kvBytes);
                        VectorAttention.decode(q, cache, ids, out, lse, opts, split);
                    } else {
                        CudaAttention.decode(q, cache, ids, out, lse, opts);
                    }
                }
                return new AttentionOutput(out, lse);
            } catch (RuntimeException | Error e) {
                if (lse != null) lse.close();
                out.close();
                throw e;
            }
        }
    }
}
