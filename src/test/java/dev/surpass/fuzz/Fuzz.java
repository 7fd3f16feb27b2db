package dev.surpass.fuzz;

import dev.surpass.Device;
import dev.surpass.cuda.CudaException;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;

/**
 * The contract every fuzzed call is held to (issue 8), and the counts the closing note reports.
 *
 * <p>A call either returns (the caller then checks the result against the reference where that is
 * cheap) or throws {@link IllegalArgumentException}, {@link IllegalStateException} or
 * {@link CudaException} with a message; when the fuzzer broke one known argument, the message must
 * name it. Anything else — an {@code IndexOutOfBoundsException}, {@code NegativeArraySizeException},
 * {@code ArithmeticException}, a bare {@code NullPointerException}, an {@code OutOfMemoryError} — or a
 * call that runs past {@link #TIMEOUT_S} seconds (a hang) fails the property with the input in the
 * message.
 *
 * <p>Each property is a plain JUnit test that runs {@link #forAll} for a bounded number of tries,
 * each try drawing its inputs from its own {@link Gen} seeded from the fixed seed ({@link #SEED},
 * or {@code -Dsurpass.fuzz.seed}), the property's name and the try index, so that CI is deterministic
 * and quick and a failure replays alone: the failure message gives the seed and the try
 * ({@code -Dsurpass.fuzz.seed=S -Dsurpass.fuzz.try=I} runs only that try). Raise the tries with
 * {@code -Dsurpass.fuzz.tries=N} (every property runs N tries) to fuzz longer locally.
 */
public final class Fuzz {
    private Fuzz() {}

    /** The seed every property derives its tries' seeds from (a fixed seed: the same inputs in every CI run). */
    public static final String SEED = "20261127";

    /** The seed in use: {@code -Dsurpass.fuzz.seed}, else {@link #SEED}. */
    public static long seed() {
        return Long.getLong("surpass.fuzz.seed", Long.parseLong(SEED));
    }

    /** One try of a property: draws its inputs from {@code g}; returns early to skip an input (an assumption). */
    @FunctionalInterface
    public interface Try {
        void run(Gen g) throws Exception;
    }

    /**
     * Runs {@code body} {@code tries} times (or {@code -Dsurpass.fuzz.tries}), try {@code i} with a
     * {@link Gen} seeded by {@link #trySeed}; only try {@code -Dsurpass.fuzz.try} when that is set. A
     * failure is rethrown as an {@link AssertionError} naming the property, the seed and the try.
     */
    public static void forAll(String property, int tries, Try body) {
        long seed = seed();
        int n = Integer.getInteger("surpass.fuzz.tries", tries);
        Integer only = Integer.getInteger("surpass.fuzz.try");
        for (int i = only == null ? 0 : only; i < (only == null ? n : only + 1); i++) {
            try {
                body.run(new Gen(trySeed(seed, property, i)));
            } catch (Throwable t) {
                throw new AssertionError(property + ": try " + i + " of " + n + " failed (seed " + seed + "; replay it alone with -Dsurpass.fuzz.seed="
                        + seed + " -Dsurpass.fuzz.try=" + i + "): " + t, t);
            }
        }
    }

    /** The seed of try {@code i} of {@code property} (SplitMix64's finalizer over the three). */
    public static long trySeed(long seed, String property, int i) {
        long z = seed + 0x9E3779B97F4A7C15L * (property.hashCode() + 0x100000000L * (i + 1));
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Seconds after which a single call counts as a hang. */
    public static final long TIMEOUT_S = 60;

    /** Per property: calls made, calls that returned, calls rejected with a documented exception. */
    private record Stats(LongAdder calls, LongAdder returned, LongAdder rejected) {
        Stats() {
            this(new LongAdder(), new LongAdder(), new LongAdder());
        }
    }

    private static final Map<String, Stats> STATS = new ConcurrentSkipListMap<>();

    /** Calls run here so that a hang is caught (daemon threads: a stuck call cannot keep the JVM up). */
    private static final ExecutorService RUNNER = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "fuzz-call");
        t.setDaemon(true);
        return t;
    });

    /**
     * Runs {@code body} under the contract. Returns its result, or {@code null} when it was rejected
     * with a documented exception whose message contains one of {@code mustName} (any message when
     * none is given). {@code input} describes the input for the failure message.
     */
    public static <T> T call(String property, String input, Callable<T> body, String... mustName) {
        Stats s = STATS.computeIfAbsent(property, k -> new Stats());
        s.calls.increment();
        Throwable thrown;
        try {
            T r = run(body);
            s.returned.increment();
            return r;
        } catch (Throwable t) {
            thrown = t;
        }
        check(property, input, thrown, mustName);
        s.rejected.increment();
        return null;
    }

    /** Like {@link #call} for a call whose input is known to be invalid: returning fails too. */
    public static void reject(String property, String input, Callable<?> body, String... mustName) {
        Stats s = STATS.computeIfAbsent(property, k -> new Stats());
        s.calls.increment();
        Object r;
        try {
            r = run(body);
        } catch (Throwable t) {
            check(property, input, t, mustName);
            s.rejected.increment();
            return;
        }
        s.returned.increment();
        throw new AssertionError(property + ": invalid input accepted (returned " + r + "): " + input);
    }

    /** Counts a file (or input) the property mutated, for the closing note. */
    public static void count(String property) {
        Stats s = STATS.computeIfAbsent(property, k -> new Stats());
        s.calls.increment();
        s.returned.increment();
    }

    /** Whether a throwable is one the public entries document (and has a message to read). */
    public static boolean documented(Throwable t) {
        return (t instanceof IllegalArgumentException || t instanceof IllegalStateException || t instanceof CudaException)
                && t.getMessage() != null && !t.getMessage().isBlank();
    }

    private static void check(String property, String input, Throwable t, String[] mustName) {
        if (!documented(t)) {
            throw new AssertionError(property + ": undocumented " + t + " for " + input, t);
        }
        if (mustName.length == 0) return;
        String msg = t.getMessage();
        for (String n : mustName) if (msg.contains(n)) return;
        throw new AssertionError(property + ": the message does not name " + String.join(" / ", mustName) + ": \"" + msg
                + "\" for " + input, t);
    }

    private static volatile Device syncDevice;

    /**
     * Calls run on another thread (to catch hangs); on CUDA a tensor crosses threads after
     * {@link Device#synchronize()}: the CUDA twins set their GPU here, and each call then synchronizes
     * the caller's stream before and its own after. Null (the CPU): nothing to do.
     */
    public static void synchronizeWith(Device dev) {
        syncDevice = dev != null && dev.isCuda() ? dev : null;
    }

    private static <T> T run(Callable<T> body) throws Throwable {
        Device sync = syncDevice;
        if (sync != null) sync.synchronize();
        Future<T> f = RUNNER.submit(sync == null ? body : () -> {
            try {
                return body.call();
            } finally {
                sync.synchronize();
            }
        });
        try {
            return f.get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause();
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new AssertionError("call did not finish in " + TIMEOUT_S + " s (a hang?)");
        }
    }

    /** Prints one line per property whose name starts with {@code prefix}, and a total. */
    public static void printSummary(String prefix) {
        long calls = 0, returned = 0, rejected = 0;
        for (var e : STATS.entrySet()) {
            if (!e.getKey().startsWith(prefix)) continue;
            Stats s = e.getValue();
            System.out.printf("fuzz %-48s %6d calls: %6d returned, %6d rejected (seed %s)%n", e.getKey(), s.calls.sum(),
                    s.returned.sum(), s.rejected.sum(), seed());
            calls += s.calls.sum();
            returned += s.returned.sum();
            rejected += s.rejected.sum();
        }
        System.out.printf("fuzz %-48s %6d calls: %6d returned, %6d rejected%n", prefix + " total", calls, returned, rejected);
    }

    /** At the end of a fuzz class: {@link #printSummary} then {@link #assertBothOutcomes} for {@code prefix}. */
    public static void finish(String prefix) {
        printSummary(prefix);
        assertBothOutcomes(prefix);
    }

    /**
     * At the end of a model's fuzz class: prints the summaries of the model's entries
     * ({@code family.}) and of its mutated files ({@code files.family.}), then asserts
     * {@link #assertBothOutcomes} for the entries.
     */
    public static void finishModel(String family) {
        printSummary(family + ".");
        printSummary("files." + family + ".");
        assertBothOutcomes(family + ".");
    }

    /**
     * Asserts that the properties whose name starts with {@code prefix} saw calls return and calls
     * refused (the fuzzer exercised both outcomes); not when one try is replayed
     * ({@code -Dsurpass.fuzz.try}).
     */
    public static void assertBothOutcomes(String prefix) {
        if (System.getProperty("surpass.fuzz.try") != null) return;
        if (!(rejected(prefix) > 0 && returned(prefix) > 0)) {
            throw new AssertionError(prefix + ": the fuzzer did not exercise both outcomes (" + returned(prefix) + " returned, "
                    + rejected(prefix) + " rejected)");
        }
    }

    /** Calls made by properties whose name starts with {@code prefix} (for assertions that the fuzzer ran). */
    public static long calls(String prefix) {
        return STATS.entrySet().stream().filter(e -> e.getKey().startsWith(prefix)).mapToLong(e -> e.getValue().calls.sum()).sum();
    }

    /** Calls rejected by properties whose name starts with {@code prefix}. */
    public static long rejected(String prefix) {
        return STATS.entrySet().stream().filter(e -> e.getKey().startsWith(prefix)).mapToLong(e -> e.getValue().rejected.sum()).sum();
    }

    /** Calls that returned, for properties whose name starts with {@code prefix}. */
    public static long returned(String prefix) {
        return STATS.entrySet().stream().filter(e -> e.getKey().startsWith(prefix)).mapToLong(e -> e.getValue().returned.sum()).sum();
    }
}
