package dev.surpass.soak;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import dev.surpass.Resources;
import org.junit.jupiter.api.Test;

/**
 * The concurrency soak on the CPU ({@link Soak}): 32 threads share {@link Device#cpu()} and the
 * tiny models for {@code -Dsurpass.soak.seconds} (default 20); every result must equal, bit for
 * bit, the single-threaded result of the same input; nothing may stall; everything allocated must
 * be given back. {@code -Dsurpass.soak.threads} changes the thread count.
 */
class SoakTest {
    static final int THREADS = Integer.getInteger("surpass.soak.threads", 32);
    static final double SECONDS = Double.parseDouble(System.getProperty("surpass.soak.seconds", "20"));
    static final double STALL_SECONDS = Double.parseDouble(System.getProperty("surpass.soak.stallSeconds", "60"));

    @Test
    void threadsSharingTheCpuGetTheSingleThreadedResults() throws Exception {
        Resources before = Resources.now();
        Soak.Report report;
        Soak soak = null;
        try (TinyModels models = new TinyModels(20261127L); Device cpu = Device.cpu()) {
            soak = new Soak(cpu, models);
            try {
                report = soak.run(THREADS, SECONDS, 0, STALL_SECONDS);
            } finally {
                soak.close();
            }
            System.out.print(report.summary(cpu.name(), soak.jobs) + "  " + soak.miniLmNote + "\n");
            assertEquals(0, cpu.liveAllocations(), "the soak left tensors on its device handle");
        }
        assertEquals(0, report.errors(), () -> "errors: " + report.problems());
        assertEquals(0, report.mismatches(), () -> "mismatches: " + report.problems());
        assertTrue(report.operations() >= THREADS, "every thread ran at least once: " + report.operations());
        for (long n : report.perJob()) assertTrue(n > 0, "every job ran");
        assertEquals("", Resources.now().changesSince(before));
    }
}
