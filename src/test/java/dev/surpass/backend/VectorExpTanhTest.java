package dev.surpass.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/** {@link VectorExp#tanh}, the softcap's tanh, against {@link Math#tanh}: a few ulp, and the edges. */
class VectorExpTanhTest {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    static float[] tanh(float[] x) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i += S.length()) VectorExp.tanh(FloatVector.fromArray(S, x, i)).intoArray(out, i);
        return out;
    }

    @Test
    void withinAFewUlpOfMathTanh() {
        Random r = new Random(20261127L);
        int n = S.length() * 4096;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            double mag = Math.pow(10, -8 + 10 * r.nextDouble()); // 1e-8 .. 1e2
            x[i] = (float) (r.nextBoolean() ? mag : -mag);
        }
        x[0] = 0.625f;
        x[1] = -0.625f;
        x[2] = Math.nextUp(0.625f);
        float[] y = tanh(x);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double want = Math.tanh(x[i]);
            double ulps = Math.abs(y[i] - want) / Math.ulp((float) want);
            worst = Math.max(worst, ulps);
            assertTrue(ulps <= 4, "tanh(" + x[i] + ") = " + y[i] + ", want " + want + " (" + ulps + " ulp)");
        }
        System.out.println("VectorExp.tanh: worst " + worst + " ulp over " + n + " values");
    }

    @Test
    void edges() {
        float[] x = new float[S.length()];
        x[0] = Float.POSITIVE_INFINITY;
        x[1] = Float.NEGATIVE_INFINITY;
        x[2] = Float.NaN;
        x[3] = 0f;
        float[] y = tanh(x);
        assertEquals(1f, y[0]);
        assertEquals(-1f, y[1]);
        assertTrue(Float.isNaN(y[2]));
        assertEquals(0f, y[3]);
    }
}
