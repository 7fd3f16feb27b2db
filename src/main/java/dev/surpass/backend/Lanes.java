package dev.surpass.backend;

import jdk.incubator.vector.FloatVector;

/**
 * Deterministic horizontal sums. {@code FloatVector.reduceLanes(ADD)} leaves the order of the
 * additions unspecified, and it does change between the interpreter and compiled code (a tree on
 * AVX-512, lane order in Java), so the same input could give different bits from one call to the
 * next. CPU ops promise results independent of thread count and warm-up, so they sum lanes here,
 * in lane order.
 */
public final class Lanes {
    private Lanes() {}

    /** v[0] + v[1] + … + v[n-1], left to right. */
    public static float sum(FloatVector v) {
        float[] a = v.toArray();
        return sum(a, 0, a.length);
    }

    /**
     * a[from] + a[from + 1] + … + a[from + n - 1], left to right: the same sum for lanes already
     * stored in an array (a kernel that stores several accumulators at once, without one array per
     * vector).
     */
    public static float sum(float[] a, int from, int n) {
        float s = 0f;
        for (int i = from, end = from + n; i < end; i++) s += a[i];
        return s;
    }
}
