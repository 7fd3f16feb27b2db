package dev.surpass.parity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;

/**
 * Turns parity cases into JUnit dynamic tests: case {@code i} runs with seed {@code seedBase + i}
 * on a fresh device from {@code open}, must pass its tolerance and must leave no allocation behind.
 * A case with no kernel on the device yet is skipped with its reason. Replay a failure with
 * {@code -Dsurpass.seed=N} (the base the failure message names).
 */
public final class ParityTests {
    /** Base seed of every parity test; {@code -Dsurpass.seed=N} replays a run. */
    public static final long SEED = Long.getLong("surpass.seed", 0x5eed_2025L);

    private ParityTests() {}

    public static Stream<DynamicTest> dynamicTests(List<ParityCase> cases, long seedBase, Supplier<Device> open) {
        return IntStream.range(0, cases.size()).mapToObj(i -> {
            ParityCase c = cases.get(i);
            long seed = seedBase + i;
            String what = c.op() + " " + c.shape() + " " + c.dtype();
            return DynamicTest.dynamicTest(what, () -> {
                try (Device d = open.get()) {
                    String unsupported = c.unsupportedOn(d);
                    Assumptions.assumeTrue(unsupported == null, () -> what + " on " + d.name() + ": " + unsupported);
                    ParityResult r = c.run(d, seed);
                    assertTrue(r.passed(), () -> what + " on " + d.name() + " seed=" + seed
                            + ": relL2=" + r.relL2() + " maxAbs=" + r.maxAbs() + " tolerance=" + r.tolerance()
                            + " nonFinite=" + r.nonFinite() + " (replay with -Dsurpass.seed=" + (seed - i) + ")");
                    assertEquals(0, d.liveAllocations(), what + " seed=" + seed + " leaked device allocations");
                }
            });
        });
    }
}
