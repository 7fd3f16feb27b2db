package dev.surpass.parity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Runs every registered parity case against its float64 reference: on the CPU always, on CUDA
 * (tag {@code gpu}) when a GPU is present. {@code -Dsurpass.seed=N} replays a failure.
 */
class ParityRegistryTest {
    static final long SEED = ParityTests.SEED;

    @TestFactory
    Stream<DynamicTest> cpu() {
        return cases(Device::cpu);
    }

    /** Each case checks for a GPU itself, so without one every case shows up as skipped. */
    @Tag("gpu")
    @TestFactory
    Stream<DynamicTest> cuda() {
        return cases(() -> {
            Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
            return Device.cuda(0);
        });
    }

    @Test
    void everyLayersOpHasEveryDtype() {
        Set<String> seen = new HashSet<>();
        Set<String> names = new HashSet<>();
        for (ParityCase c : ParityRegistry.all()) {
            seen.add(c.op() + "/" + c.dtype());
            assertTrue(names.add(c.op() + " " + c.shape() + " " + c.dtype()), "duplicate case " + c.op() + " " + c.shape() + " " + c.dtype());
        }
        for (String op : List.of("add", "mul", "scale", "gelu_erf", "gelu_tanh", "silu", "softmax", "layer_norm", "rms_norm", "group_norm")) {
            for (DType t : List.of(DType.F32, DType.F16, DType.BF16)) {
                assertTrue(seen.contains(op + "/" + t), "no parity case for " + op + " in " + t);
            }
        }
    }

    private static Stream<DynamicTest> cases(java.util.function.Supplier<Device> open) {
        List<ParityCase> all = ParityRegistry.all();
        assertFalse(all.isEmpty(), "no parity cases registered");
        return ParityTests.dynamicTests(all, SEED, open);
    }
}
