package dev.surpass.attention;

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

/** The attention parity cases on the CPU (the registry test runs them too, on CUDA as well). */
class AttentionParityTest {
    static final long SEED = Long.getLong("surpass.seed", 0x5eed_2025L);

    @TestFactory
    Stream<DynamicTest> cpu() {
        return ParityTests.dynamicTests(AttentionParity.cases(), SEED + 1000, Device::cpu);
    }

    @Test
    void casesCoverEveryOpAndDtypeOnce() {
        Set<String> names = new HashSet<>(), seen = new HashSet<>();
        for (ParityCase c : AttentionParity.cases()) {
            assertTrue(names.add(c.op() + " " + c.shape() + " " + c.dtype()), "duplicate case " + c);
            seen.add(c.op() + "/" + c.dtype());
        }
        for (String op : List.of("attention_prefill", "attention_varlen", "attention_decode")) {
            for (DType t : List.of(DType.F32, DType.F16, DType.BF16)) assertTrue(seen.contains(op + "/" + t), op + " " + t);
        }
    }
}
