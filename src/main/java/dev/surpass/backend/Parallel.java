package dev.surpass.backend;

import java.util.concurrent.RecursiveAction;

/**
 * Splits CPU work over the common fork-join pool. {@code -Dsurpass.cpu.threads=N} caps the number
 * of chunks (default: available processors). Small ranges run on the calling thread.
 */
public final class Parallel {
    private static final int THREADS = Math.max(1, Integer.getInteger("surpass.cpu.threads",
            Runtime.getRuntime().availableProcessors()));

    private Parallel() {}

    /** Body over the half-open range {@code [lo, hi)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(long lo, long hi);
    }

    /** Threads the CPU ops use. */
    public static int threads() {
        return THREADS;
    }

    /**
     * Runs {@code body} over {@code [0, n)} in at most {@link #threads()} chunks of at least
     * {@code grain} items each; returns when all chunks are done (exceptions propagate).
     */
    public static void forRange(long n, long grain, RangeBody body) {
        if (n <= 0) return;
        long g = Math.max(1, grain);
        int chunks = (int) Math.min(THREADS, Math.max(1, n / g));
        if (chunks <= 1) {
            body.run(0, n);
            return;
        }
        long step = (n + chunks - 1) / chunks;
        RecursiveAction[] tasks = new RecursiveAction[chunks];
        for (int c = 0; c < chunks; c++) {
            long lo = c * step, hi = Math.min(n, lo + step);
            tasks[c] = new RecursiveAction() {
                @Override
                protected void compute() {
                    if (lo < hi) body.run(lo, hi);
                }
            };
        }
        // invokeAll runs one chunk on the caller and forks the rest; from outside the pool the
        // caller joins, from inside it helps — either way no thread idles while chunks wait.
        RecursiveAction.invokeAll(tasks);
    }
}
