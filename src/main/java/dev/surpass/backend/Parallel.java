package dev.surpass.backend;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Splits CPU work over a team of {@code threads() - 1} worker threads plus the caller.
 * {@code -Dsurpass.cpu.threads=N} sets the number of threads (default: available processors).
 * Small ranges run on the calling thread.
 *
 * <p>Why not the common fork-join pool: its idle workers park, and waking one takes tens of
 * microseconds on a VM, as long as a whole product of a sentence's few rows; the workers then
 * joined too late to share the work (a two-thread sentence embedding ran at one-thread speed).
 * These workers keep polling for the next region for {@link #SPIN_NANOS} after each one (a
 * forward pass issues them back to back) and only then park.
 *
 * <p>One region runs on the team at a time: a region started while another is running (from
 * another thread, or from inside a part) runs its parts on its own caller, in order. Parts are
 * claimed one at a time by whichever thread is free, so a part may wait (briefly) only for work
 * another part is doing right now, never for one that has not started.
 */
public final class Parallel {
    private static final int THREADS = Math.max(1, Integer.getInteger("surpass.cpu.threads",
            Runtime.getRuntime().availableProcessors()));

    /** How long an idle worker keeps polling for the next region before it parks. */
    private static final long SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(200);

    private Parallel() {}

    /** Body over the half-open range {@code [lo, hi)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(long lo, long hi);
    }

    /** Body of one of the parts of {@link #forParts}. */
    @FunctionalInterface
    public interface PartBody {
        void run(int part);
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
        long step = (n + chunks - 1) / chunks;
        forParts(chunks, c -> {
            long lo = c * step, hi = Math.min(n, lo + step);
            if (lo < hi) body.run(lo, hi);
        });
    }

    /**
     * Runs {@code body(0 .. parts-1)}, on the team when it is free, and returns when all parts are
     * done; the first exception a part throws is rethrown once every part has finished.
     */
    public static void forParts(int parts, PartBody body) {
        if (parts <= 1 || THREADS <= 1 || IN_REGION.get() || !BUSY.compareAndSet(false, true)) {
            for (int p = 0; p < parts; p++) body.run(p);
            return;
        }
        Region r = new Region(body, parts);
        try {
            IN_REGION.set(true);
            Team.TEAM.start(r);
            r.work();
            while (r.done.get() < parts) Thread.onSpinWait();
        } finally {
            Team.TEAM.current = null;
            IN_REGION.set(false);
            BUSY.set(false);
        }
        if (r.error instanceof RuntimeException e) throw e;
        if (r.error instanceof Error e) throw e;
    }

    /** Set on the team's workers, and on a caller while its region runs: a nested region runs inline. */
    private static final ThreadLocal<Boolean> IN_REGION = ThreadLocal.withInitial(() -> false);
    /** Held by the caller whose region is on the team. */
    private static final AtomicBoolean BUSY = new AtomicBoolean();

    /** One call of {@link #forParts}: parts are claimed through {@code next}. */
    private static final class Region {
        final PartBody body;
        final int parts;
        final AtomicInteger next = new AtomicInteger(), done = new AtomicInteger();
        volatile Throwable error;

        Region(PartBody body, int parts) {
            this.body = body;
            this.parts = parts;
        }

        /** Runs parts until none is left unclaimed. */
        void work() {
            for (int p; (p = next.getAndIncrement()) < parts; ) {
                try {
                    body.run(p);
                } catch (Throwable t) {
                    if (error == null) error = t;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    /** The worker threads, started on first use. */
    private static final class Team {
        static final Team TEAM = new Team(THREADS - 1);

        final Thread[] workers;
        /** Set once per region, read by every worker (Dekker-style with {@code sleeping}: both volatile). */
        volatile Region current;
        final AtomicInteger[] sleeping;

        Team(int n) {
            workers = new Thread[n];
            sleeping = new AtomicInteger[n];
            for (int i = 0; i < n; i++) {
                final int id = i;
                sleeping[i] = new AtomicInteger();
                workers[i] = Thread.ofPlatform().daemon().name("surpass-cpu-" + (i + 1)).unstarted(() -> loop(id));
                workers[i].start();
            }
        }

        void start(Region r) {
            current = r;
            for (int i = 0; i < workers.length; i++) {
                if (sleeping[i].get() != 0) LockSupport.unpark(workers[i]);
            }
        }

        private void loop(int id) {
            IN_REGION.set(true);
            Region last = null;
            long idleSince = System.nanoTime();
            while (true) {
                Region r = current;
                if (r != null && r != last) {
                    last = r;
                    r.work();
                    idleSince = System.nanoTime();
                } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    sleeping[id].set(1);
                    r = current;
                    if (r == null || r == last) LockSupport.park(this);
                    sleeping[id].set(0);
                    idleSince = System.nanoTime();
                }
            }
        }
    }
}
