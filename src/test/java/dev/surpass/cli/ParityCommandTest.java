package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.parity.ParityCase;
import dev.surpass.parity.ParityRegistry;
import dev.surpass.parity.ParityResult;
import java.util.List;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

class ParityCommandTest {
    private static ParityCase fake(String op, String shape, BiFunction<Device, Long, ParityResult> run) {
        return new ParityCase() {
            public String op() { return op; }
            public String shape() { return shape; }
            public DType dtype() { return DType.F32; }
            public ParityResult run(Device device, long seed) { return run.apply(device, seed); }
        };
    }

    private static final ParityCase PASS = fake("fake_pass", "[3, 5]", (d, s) -> new ParityResult(1e-7, 2e-7, 1e-5, false));
    private static final ParityCase FAIL = fake("fake_fail", "[13]", (d, s) -> new ParityResult(3e-2, 0.5, 1e-5, false));
    private static final ParityCase NAN = fake("fake_nan", "[1]", (d, s) -> new ParityResult(0, 0, 1e-5, true));
    private static final ParityCase BOOM = fake("fake_boom", "[2]", (d, s) -> {
        throw new IllegalStateException("kernel exploded\nsecond line");
    });

    private static CliRun parity(List<ParityCase> cases, String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "parity";
        System.arraycopy(args, 0, all, 1, args.length);
        return CliRun.run(CliRun.with(ParityCommand.class, new ParityCommand(() -> cases)), all);
    }

    @Test
    void allPassingExitsZeroWithTheClosingLine() {
        CliRun r = parity(List.of(PASS, PASS), "--device", "cpu");
        assertEquals(0, r.code(), r::toString);
        assertEquals("2 passed, 0 failed", r.lastLine(), r::toString);
        String header = r.out().lines().filter(l -> l.startsWith("op")).findFirst().orElseThrow();
        assertTrue(header.matches("op\\s+\\| shape\\s+\\| dtype \\| device\\s+\\| relL2\\s+\\| maxAbs\\s+\\| tol\\s+\\| ok"), header);
        String row = r.out().lines().filter(l -> l.startsWith("fake_pass")).findFirst().orElseThrow();
        String[] cols = row.split("\\|");
        assertEquals(8, cols.length, row);
        assertEquals("[3, 5]", cols[1].strip());
        assertEquals("F32", cols[2].strip());
        assertEquals("cpu", cols[3].strip());
        assertEquals("1.000e-07", cols[4].strip());
        assertEquals("2.000e-07", cols[5].strip());
        assertEquals("1.0e-05", cols[6].strip());
        assertEquals("ok", cols[7].strip());
        assertTrue(r.err().contains("surpass: device cpu"), r::toString);
    }

    @Test
    void failuresExitOneAndAreListedWithTheSeed() {
        CliRun r = parity(List.of(PASS, FAIL, NAN, BOOM), "--device", "cpu", "--seed", "7");
        assertEquals(Main.FAILURE, r.code(), r::toString);
        assertEquals("1 passed, 3 failed", r.lastLine(), r::toString);
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("fake_fail") && l.strip().endsWith("| FAIL")), r::toString);
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("fake_nan") && l.contains("non-finite")), r::toString);
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("fake_boom") && l.strip().endsWith("| ERROR")), r::toString);
        assertTrue(r.out().contains("failures (seed 7):"), r::toString);
        assertTrue(r.out().contains("IllegalStateException: kernel exploded"), r::toString);
        assertTrue(r.out().contains("rerun: surpass parity --seed 7 --filter fake_fail,fake_nan,fake_boom"), r::toString);
    }

    @Test
    void filterSelectsByOpName() {
        CliRun r = parity(List.of(PASS, FAIL), "--device", "cpu", "--filter", "PASS");
        assertEquals(0, r.code(), r::toString);
        assertEquals("1 passed, 0 failed", r.lastLine(), r::toString);
        CliRun both = parity(List.of(PASS, FAIL), "--device", "cpu", "--filter", "pass, fail");
        assertEquals("1 passed, 1 failed", both.lastLine(), both::toString);
    }

    @Test
    void filterMatchingNothingIsAUsageError() {
        CliRun r = parity(List.of(PASS, FAIL), "--device", "cpu", "--filter", "nope");
        assertEquals(Main.USAGE, r.code(), r::toString);
        assertTrue(r.err().contains("no parity case matches --filter 'nope'; ops: fake_pass, fake_fail"), r::toString);
    }

    @Test
    void seedReachesTheCases() {
        long[] seen = new long[1];
        ParityCase c = fake("seeded", "[1]", (d, s) -> {
            seen[0] = s;
            return new ParityResult(0, 0, 1e-5, false);
        });
        assertEquals(0, parity(List.of(c), "--device", "cpu", "--seed", "123456789").code());
        assertEquals(123456789L, seen[0]);
    }

    @Test
    void allRunsOnTheCpuAtLeast() {
        CliRun r = parity(List.of(PASS), "--device", "all");
        assertEquals(0, r.code(), r::toString);
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("fake_pass") && l.contains("| cpu ")), r::toString);
    }

    @Test
    void realRegistryWithATinyFilter() {
        assumeTrue(ParityRegistry.all().stream().anyMatch(c -> c.op().equals("softmax")), "no softmax parity cases yet");
        CliRun r = CliRun.run("parity", "--device", "cpu", "--filter", "softmax");
        assertTrue(r.lastLine().matches("\\d+ passed, \\d+ failed"), r::toString);
        assertEquals(0, r.code(), r::toString);
    }
}
