package dev.surpass.model.bert;

import org.junit.jupiter.api.Assumptions;

/**
 * Whether the MiniLM artifact and ONNX Runtime (test-scope dependencies) are on the class path.
 * CI has both; `surpass bundle` leaves them out (176 MB), so there their tests skip, visibly.
 */
final class MiniLmFixture {
    private MiniLmFixture() {}

    static void assumeMiniLm() {
        Assumptions.assumeTrue(MiniLmFixture.class.getClassLoader().getResource(MiniLm.ONNX) != null,
                MiniLm.ONNX + " is not on the test class path (test-scope dependency " + MiniLm.ARTIFACT + "): skipped");
    }

    static void assumeOnnxRuntime() {
        boolean ok;
        try {
            Class.forName("ai.onnxruntime.OrtEnvironment", false, MiniLmFixture.class.getClassLoader());
            ok = true;
        } catch (ClassNotFoundException | LinkageError e) {
            ok = false;
        }
        Assumptions.assumeTrue(ok, "ONNX Runtime (com.microsoft.onnxruntime:onnxruntime, test scope) is not on the class path: skipped");
    }
}
