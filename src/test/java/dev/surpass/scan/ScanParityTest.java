package dev.surpass.scan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityTests;
import dev.surpass.parity.ParityResult;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** The scan parity cases on the CPU, reference ↔ Vector (the registry test runs them on CUDA too). Replay with -Dsurpass.seed=N. */
class ScanParityTest {
    static final long SEED = Long.getLong("surpass.seed", 0x5eed_2025L);

    @TestFactory
    Stream<DynamicTest> cpu() {
        return ParityTests.dynamicTests(ScanParity.cases(), SEED + 3000, Device::cpu);
    }

    @Test
    void casesCoverEveryOpAndDtypeOnce() {
        Set<String> names = new HashSet<>(), seen = new HashSet<>();
        for (ParityCase c : ScanParity.cases()) {
            assertTrue(names.add(c.op() + " " + c.shape() + " " + c.dtype()), "duplicate case " + c);
            seen.add(c.op() + "/" + c.dtype());
        }
        for (String op : List.of("selective_scan", "selective_scan_varlen", "selective_state_update", "causal_conv1d",
                "causal_conv1d_update")) {
            for (DType t : List.of(DType.F32, DType.F16, DType.BF16)) assertTrue(seen.contains(op + "/" + t), op + " " + t);
        }
    }
}
