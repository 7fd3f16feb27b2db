package dev.surpass.attention;

import dev.surpass.DType;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.backend.ArgChecks;

/**
 * Argument checks of the attention entries. Every failure is an {@link IllegalArgumentException}
 * whose message starts with the entry, names the argument and the dimension, and says what was
 * expected, e.g. {@code "prefill: k's head dim (dim 3) is 64 but q's is 128"}.
 */
final class AttentionChecks {
    private AttentionChecks() {}

    /** Head dims with kernels (and the only ones the CPU version accepts, to keep them in step). */
    static final int[] HEAD_DIMS = {32, 64, 72, 80, 96, 128, 256};

    static void headDim(String op, String what, long d) {
        for (int h : HEAD_DIMS) if (h == d) return;
        throw new IllegalArgumentException(op + ": " + what + ": unsupported head dim " + d
                + ": supported 32, 64, 72, 80, 96, 128, 256");
    }

    /** Present, open, floating, of the given rank (the layout named in the message). */
    static void tensor(String op, String name, Tensor t, int rank, String layout) {
        ArgChecks.floatingTensor(op, name, t, rank, layout, Integer.MAX_VALUE - 1024);
    }

    /** Same dtype and device as q. */
    static void companion(String op, String name, Tensor t, Tensor q) {
        if (t.dtype() != q.dtype()) {
            throw new IllegalArgumentException(op + ": " + name + " has dtype " + t.dtype() + " but q has " + q.dtype()
                    + "; convert one with Tensor.to(DType)");
        }
        if (!t.device().sameAs(q.device())) {
            throw new IllegalArgumentException(op + ": " + name + " is on " + t.device().name() + " but q is on "
                    + q.device().name() + "; move one with Tensor.to(Device)");
        }
    }

    /** dim {@code i} of a equals dim {@code j} of b. */
    static void sameDim(String op, String aName, Tensor a, int i, String bName, Tensor b, int j, String what) {
        if (a.dim(i) != b.dim(j)) {
            throw new IllegalArgumentException(op + ": " + aName + "'s " + what + " (dim " + i + ") is " + a.dim(i) + " but "
                    + bName + "'s is " + b.dim(j) + " (dim " + j + ")");
        }
    }

    /** k and v have the same shape. */
    static void sameShape(String op, Tensor k, Tensor v) {
        long[] ks = k.shape(), vs = v.shape();
        for (int i = 0; i < ks.length; i++) {
            if (ks[i] != vs[i]) {
                throw new IllegalArgumentException(op + ": v has shape " + Shapes.toString(vs) + " but k has "
                        + Shapes.toString(ks) + "; they differ in dim " + i + " (" + vs[i] + " vs " + ks[i] + ")");
            }
        }
    }

    /** Hkv ≥ 1, Hq ≥ 1 and Hq a multiple of Hkv. */
    static void heads(String op, long hq, String hqWhere, long hkv, String hkvWhere) {
        if (hq < 1) throw new IllegalArgumentException(op + ": q has " + hq + " heads (" + hqWhere + "); need at least 1");
        if (hkv < 1) throw new IllegalArgumentException(op + ": k has " + hkv + " heads (" + hkvWhere + "); need at least 1");
        if (hq % hkv != 0) {
            throw new IllegalArgumentException(op + ": q's heads (" + hqWhere + ") = " + hq + " is not a multiple of k's heads ("
                    + hkvWhere + ") = " + hkv + "; GQA needs Hq = Hkv × group");
        }
    }

    static void options(String op, AttentionOptions o) {
        if (o == null) throw new IllegalArgumentException(op + ": opts is null; use AttentionOptions.defaults()");
    }

    /** ALiBi, when set, has one slope per query head. */
    static void alibi(String op, AttentionOptions o, long hq, String hqWhere) {
        if (o.hasAlibi() && o.alibiHeads() != hq) {
            throw new IllegalArgumentException(op + ": opts has " + o.alibiHeads() + " alibi slopes but q has " + hq
                    + " heads (" + hqWhere + "); ALiBi needs one slope per query head");
        }
    }

    /**
     * Cumulative sequence offsets: length batch+1 (at least 1), {@code cu[0] = 0}, non-decreasing,
     * last = {@code total}.
     */
    static void cuSeqlens(String op, String name, int[] cu, long total, String totalName) {
        if (cu == null) throw new IllegalArgumentException(op + ": " + name + " is null");
        if (cu.length < 1) throw new IllegalArgumentException(op + ": " + name + " is empty; it needs batch+1 offsets starting at 0");
        if (cu[0] != 0) throw new IllegalArgumentException(op + ": " + name + "[0] is " + cu[0] + "; offsets start at 0");
        for (int i = 1; i < cu.length; i++) {
            if (cu[i] < cu[i - 1]) {
                throw new IllegalArgumentException(op + ": " + name + "[" + i + "] = " + cu[i] + " is less than " + name + "["
                        + (i - 1) + "] = " + cu[i - 1] + "; offsets must be non-decreasing");
            }
        }
        if (cu[cu.length - 1] != total) {
            throw new IllegalArgumentException(op + ": " + name + "[" + (cu.length - 1) + "] = " + cu[cu.length - 1]
                    + " but " + totalName + " is " + total + "; the last offset must equal the total");
        }
    }

    /** Every index in [0, bound). */
    static void indices(String op, String name, int[] idx, long bound, String boundName) {
        if (idx == null) throw new IllegalArgumentException(op + ": " + name + " is null");
        for (int i = 0; i < idx.length; i++) {
            if (idx[i] < 0 || idx[i] >= bound) {
                throw new IllegalArgumentException(op + ": " + name + "[" + i + "] = " + idx[i] + " is out of range [0, " + bound
                        + ") (" + boundName + ")");
            }
        }
    }

    static void lse(String op, Tensor lse, Tensor q, long b, long hq, long nq) {
        if (lse == null) throw new IllegalArgumentException(op + ": lse is null");
        if (lse.isClosed()) throw new IllegalArgumentException(op + ": lse (" + lse.describe() + ") is closed");
        if (lse.dtype() != DType.F32) throw new IllegalArgumentException(op + ": lse has dtype " + lse.dtype() + "; expected F32");
        if (!lse.device().sameAs(q.device())) {
            throw new IllegalArgumentException(op + ": lse is on " + lse.device().name() + " but q is on " + q.device().name());
        }
        long[] want = {b, hq, nq};
        if (lse.rank() != 3 || lse.dim(0) != b || lse.dim(1) != hq || lse.dim(2) != nq) {
            throw new IllegalArgumentException(op + ": lse has shape " + Shapes.toString(lse.shape()) + " but expected "
                    + Shapes.toString(want) + " [B, Hq, Nq] from q's shape " + Shapes.toString(q.shape()));
        }
    }
}
