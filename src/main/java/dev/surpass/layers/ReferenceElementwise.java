package dev.surpass.layers;

/**
 * The float64 oracle for {@link Elementwise}: plain loops over fp32 inputs, results in double.
 * {@code b} broadcasts over {@code a} by repeating it: {@code b[i % b.length]}, which is what a
 * shape suffix means for row-major tensors.
 */
public final class ReferenceElementwise {
    private ReferenceElementwise() {}

    public static double[] add(float[] a, float[] b) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) out[i] = (double) a[i] + b[i % b.length];
        return out;
    }

    public static double[] mul(float[] a, float[] b) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) out[i] = (double) a[i] * b[i % b.length];
        return out;
    }

    public static double[] scale(float[] a, float s) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) out[i] = (double) a[i] * s;
        return out;
    }
}
