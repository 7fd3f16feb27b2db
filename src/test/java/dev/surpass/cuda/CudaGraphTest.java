package dev.surpass.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.layers.Elementwise;
import dev.surpass.layers.Gemm;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link CudaGraph}: a captured body (kernels, cuBLAS, temporaries allocated and freed inside)
 * replays on new inputs written into the same buffers; what a capture cannot hold fails cleanly
 * and leaves the device usable.
 */
class CudaGraphTest {
    @Test
    void cpuIsNotSupported() {
        try (Device cpu = Device.cpu()) {
            assertFalse(CudaGraph.supported(cpu));
            assertThrows(IllegalArgumentException.class, () -> CudaGraph.capture(cpu, () -> {}));
        }
    }

    @Test
    @Tag("gpu")
    void replaysOnNewInputs() {
        assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device g = Device.cuda(0);
             Tensor x = g.allocate(DType.F32, 3, 5);
             Tensor w = g.upload(DType.F32, new float[] {1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 1, 1, 1, 1, 1}, 4, 5);
             Tensor out = g.allocate(DType.F32, 3, 4)) {
            assumeTrue(CudaGraph.supported(g), "driver without graphs");
            Runnable body = () -> {
                try (Tensor y = Gemm.linear(x, w, null); Tensor z = Elementwise.add(y, y)) { // temporaries: alloc + free nodes
                    g.backend().copy(z.storage(), z.byteOffset(), out.storage(), out.byteOffset(), out.byteSize());
                }
            };
            x.copyFrom(MemorySegment.ofArray(new float[15]));
            body.run(); // warm-up outside the capture
            try (CudaGraph graph = CudaGraph.capture(g, body)) {
                for (int round = 1; round <= 3; round++) {
                    float[] in = new float[15];
                    for (int i = 0; i < 15; i++) in[i] = round * (i + 1);
                    x.copyFrom(MemorySegment.ofArray(in));
                    graph.launch();
                    float[] want = new float[12];
                    for (int r = 0; r < 3; r++) {
                        float[] row = java.util.Arrays.copyOfRange(in, r * 5, r * 5 + 5);
                        float sum = 0;
                        for (float v : row) sum += v;
                        want[r * 4] = 2 * row[0];
                        want[r * 4 + 1] = 2 * 2 * row[1];
                        want[r * 4 + 2] = 2 * 3 * row[4];
                        want[r * 4 + 3] = 2 * sum;
                    }
                    assertArrayEquals(want, out.toFloatArray(), 1e-3f, "round " + round);
                }
                graph.close();
                graph.close(); // idempotent
                assertThrows(IllegalStateException.class, graph::launch);
            }
        }
    }

    @Test
    @Tag("gpu")
    void aHostCopyInsideTheBodyFailsAndTheDeviceStaysUsable() {
        assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device g = Device.cuda(0); Tensor x = g.upload(DType.F32, new float[] {1, 2, 3}, 3)) {
            assumeTrue(CudaGraph.supported(g), "driver without graphs");
            RuntimeException e = assertThrows(RuntimeException.class, () -> CudaGraph.capture(g, () -> x.toFloatArray()).close());
            assertTrue(e instanceof CudaException || e instanceof IllegalStateException, "unexpected " + e);
            try (Tensor y = Elementwise.add(x, x)) {
                assertArrayEquals(new float[] {2, 4, 6}, y.toFloatArray());
            }
            assertThrows(IllegalArgumentException.class, () -> CudaGraph.capture(g, null));
        }
    }

    /** Another thread allocating and freeing all along (legacy-stream frees) must not break a capture. */
    @Test
    @Tag("gpu")
    void captureSurvivesAnotherThreadFreeing() throws Exception {
        assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device g = Device.cuda(0); Tensor x = g.upload(DType.F32, new float[] {1, 2, 3, 4}, 4); Tensor out = g.allocate(DType.F32, 4)) {
            assumeTrue(CudaGraph.supported(g), "driver without graphs");
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            java.util.concurrent.atomic.AtomicReference<Throwable> bad = new java.util.concurrent.atomic.AtomicReference<>();
            Thread churn = new Thread(() -> {
                try {
                    while (!stop.get()) {
                        try (Tensor t = g.upload(DType.F32, new float[] {5, 6}, 2); Tensor u = Elementwise.add(t, t)) {
                            assertArrayEquals(new float[] {10, 12}, u.toFloatArray());
                        }
                    }
                } catch (Throwable t) {
                    bad.set(t);
                }
            });
            churn.start();
            try {
                Runnable body = () -> {
                    try (Tensor y = Elementwise.add(x, x); Tensor z = Elementwise.add(y, x)) {
                        g.backend().copy(z.storage(), z.byteOffset(), out.storage(), out.byteOffset(), out.byteSize());
                    }
                };
                body.run();
                for (int i = 0; i < 20; i++) {
                    try (CudaGraph graph = CudaGraph.capture(g, body)) {
                        graph.launch();
                        assertArrayEquals(new float[] {3, 6, 9, 12}, out.toFloatArray(), "capture " + i);
                    }
                }
            } finally {
                stop.set(true);
                churn.join();
            }
            if (bad.get() != null) throw new AssertionError("the other thread failed", bad.get());
        }
    }
}
