package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.surpass.Device;
import org.junit.jupiter.api.Test;

class MainTest {
    @Test
    void helpListsEveryCommand() {
        CliRun r = CliRun.run("--help");
        assertEquals(0, r.code(), r::toString);
        for (String c : new String[] {"info", "parity", "bench", "demo", "forward", "bundle", "attention-map", "generate", "sample"}) {
            assertTrue(r.out().contains(c), () -> "help lacks " + c + "\n" + r);
        }
    }

    @Test
    void noCommandPrintsUsage() {
        CliRun r = CliRun.run();
        assertEquals(0, r.code(), r::toString);
        assertTrue(r.out().contains("Usage: surpass"), r::toString);
    }

    @Test
    void subcommandHelp() {
        CliRun r = CliRun.run("parity", "--help");
        assertEquals(0, r.code(), r::toString);
        assertTrue(r.out().contains("--filter"), r::toString);
        assertTrue(r.out().contains("--seed"), r::toString);
    }

    @Test
    void versionNamesJava() {
        CliRun r = CliRun.run("--version");
        assertEquals(0, r.code(), r::toString);
        assertTrue(r.out().contains("surpass"), r::toString);
        assertTrue(r.out().contains("Java " + Runtime.version().feature()), r::toString);
    }

    private static void assertUsageError(CliRun r, String expected) {
        assertEquals(Main.USAGE, r.code(), r::toString);
        String err = r.err().strip();
        assertEquals(1, err.lines().filter(l -> !l.startsWith("surpass: device")).count(), () -> "want one line\n" + r);
        assertTrue(err.contains(expected), () -> "want '" + expected + "'\n" + r);
        assertFalse(err.contains("\tat "), () -> "stack trace without --verbose\n" + r);
    }

    @Test
    void unknownOptionIsAUsageError() {
        assertUsageError(CliRun.run("--bogus"), "Unknown option: '--bogus'");
        assertUsageError(CliRun.run("parity", "--bogus"), "surpass parity: Unknown option");
    }

    @Test
    void unknownCommandIsAUsageError() {
        assertUsageError(CliRun.run("frobnicate"), "frobnicate");
    }

    @Test
    void badValuesAreUsageErrors() {
        assertUsageError(CliRun.run("parity", "--seed", "abc"), "--seed");
        assertUsageError(CliRun.run("parity", "--device", "tpu"), "--device tpu: expected cpu, cuda, cuda:N, all or best");
        assertUsageError(CliRun.run("bench", "--device", "cuda:x"), "--device cuda:x");
        assertUsageError(CliRun.run("forward", "--model", "m"), "Missing required option");
        assertUsageError(CliRun.run("bundle"), "Missing required parameter: 'DIR'");
    }

    @Test
    void cudaWithoutAGpuIsAUsageError() {
        assumeTrue(Device.cudaDeviceCount() == 0, "this host has a GPU");
        assertUsageError(CliRun.run("parity", "--device", "cuda"), "--device cuda: no CUDA device: ");
        assertUsageError(CliRun.run("bench", "--device", "cuda:1", "--quick"), "--device cuda:1: no CUDA device: ");
    }

    @Test
    void verboseIsAcceptedEverywhere() {
        CliRun r = CliRun.run("--verbose", "info");
        assertEquals(0, r.code(), r::toString);
        CliRun s = CliRun.run("info", "--verbose");
        assertEquals(0, s.code(), s::toString);
    }

    @Test
    void oneLineKeepsTheFirstLine() {
        assertEquals("a b", Main.oneLine("  a b\n c"));
        assertEquals("(no message)", Main.oneLine(null));
    }
}
