package dev.surpass.backend;

import dev.surpass.DeviceKind;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Host memory from a shared arena per allocation (through {@link HostPool}: freed blocks are kept
 * for reuse, large fresh ones are huge pages where the OS offers them), returned to the pool when
 * the allocation is released.
 *
 * <p>Limit: an allocation that would take the live bytes past {@link #memoryLimit()} is refused
 * before any memory is touched, with an {@link IllegalStateException} naming the sizes. The limit is
 * {@code -Dsurpass.cpu.maxBytes} (bytes, or with a k/m/g/t suffix) when set, else the machine's
 * physical memory (the cgroup's {@code memory.max} when lower), else unlimited. Without it a lying
 * shape could ask the OS for more than the machine has; with Linux overcommit that succeeds and the
 * process is killed later, when the pages are touched.
 */
public final class CpuBackend implements Backend {
    public static final CpuBackend INSTANCE = new CpuBackend();

    private CpuBackend() {}

    @Override
    public DeviceKind kind() {
        return DeviceKind.CPU;
    }

    @Override
    public int ordinal() {
        return 0;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String describe() {
        return "cpu: " + Runtime.getRuntime().availableProcessors() + " cores, Vector API float species "
                + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length() + " lanes";
    }

    private final LiveCounter live = new LiveCounter();
    private static final String LIMIT_PROPERTY = "surpass.cpu.maxBytes";
    private final long limit = limitFromEnvironment();
    /** The most host bytes live at once so far: what a workload has shown it needs again. */
    private final AtomicLong peakLive = new AtomicLong();
    private final HostPool pool = new HostPool(this::poolCap);

    /**
     * How many freed bytes the pool may keep when {@code -Dsurpass.cpu.poolBytes} is not set: the
     * peak of live bytes so far (a model that needed that much will ask for it again: a VAE of
     * sd-vae-ft-mse's shape decoding 256×256 peaks at 0.5 GiB live with its weights, four times the
     * activations at 512×512), at least 1 GiB and at most a quarter of {@link #memoryLimit()}. The
     * peak only grows; {@link #trimPool()} hands the parked blocks back.
     */
    private long poolCap() {
        return Math.max(1L << 30, Math.min(peakLive.get(), limit / 4));
    }

    /**
     * Host memory, 64-byte aligned; contents unspecified (a reused block keeps old bytes).
     *
     * @throws IllegalStateException when the allocation would pass {@link #memoryLimit()} or the
     *     JVM cannot get the memory; the message names the requested and live bytes
     */
    @Override
    public Storage allocate(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("bytes must be >= 0, got " + bytes);
        long held = live.bytes();
        if (bytes > limit - Math.max(0, held)) {
            throw new IllegalStateException("cannot allocate " + bytes + " bytes (" + human(bytes) + ") of host memory: "
                    + human(held) + " are live and the limit is " + human(limit) + " (-D" + LIMIT_PROPERTY
                    + ", default the machine's memory)");
        }
        HostPool.Block b = pool.take(bytes);
        live.add(bytes);
        long now = live.bytes();
        if (now > peakLive.get()) peakLive.accumulateAndGet(now, Math::max);
        return new HostStorage(b.segment().asSlice(0, bytes), () -> {
            live.remove(bytes);
            pool.give(b);
        });
    }

    @Override
    public LiveCounter live() {
        return live;
    }

    /** The most host bytes that may be live at once (see the class comment). */
    public long memoryLimit() {
        return limit;
    }

    private static long limitFromEnvironment() {
        String p = System.getProperty(LIMIT_PROPERTY, "").trim().toLowerCase(Locale.ROOT);
        if (!p.isEmpty()) { // a bad value is logged and ignored: this runs in a class initializer
            long unit = switch (p.charAt(p.length() - 1)) {
                case 'k' -> 1L << 10;
                case 'm' -> 1L << 20;
                case 'g' -> 1L << 30;
                case 't' -> 1L << 40;
                default -> 1;
            };
            String digits = unit == 1 ? p : p.substring(0, p.length() - 1);
            try {
                long v = Math.multiplyExact(Long.parseLong(digits.trim()), unit);
                if (v > 0) return v;
            } catch (NumberFormatException | ArithmeticException e) {
                // fall through to the error
            }
            System.getLogger("dev.surpass").log(System.Logger.Level.WARNING, "surpass: ignoring -D" + LIMIT_PROPERTY + "=" + p
                    + ": expected a positive byte count such as 8g; using the machine's memory");
        }
        long limit = Long.MAX_VALUE;
        long mem = firstNumber(Path.of("/proc/meminfo"), "MemTotal:", 1024);
        if (mem > 0) limit = mem;
        long cgroup = firstNumber(Path.of("/sys/fs/cgroup/memory.max"), "", 1);
        if (cgroup > 0) limit = Math.min(limit, cgroup);
        return limit;
    }

    /** The number after {@code prefix} on the first line that starts with it, times {@code scale}; -1 when absent. */
    private static long firstNumber(Path file, String prefix, long scale) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (!line.startsWith(prefix)) continue;
                String[] parts = line.substring(prefix.length()).trim().split("\\s+");
                return Math.multiplyExact(Long.parseLong(parts[0]), scale);
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, no cgroup limit ("max"), unreadable: no limit from this source
        }
        return -1;
    }

    static String human(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int u = 0;
        while (Math.abs(v) >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    /** Bytes of freed blocks kept for reuse. */
    public long pooledBytes() {
        return pool.parkedBytes();
    }

    /**
     * Bytes of host memory taken fresh from the JVM so far (requests no parked block could serve), a
     * debug figure: fresh memory costs the OS's page faults on first touch, reused memory does not.
     */
    public long freshBytes() {
        return pool.freshBytes();
    }

    /** Returns the blocks kept for reuse to the JVM. */
    public void trimPool() {
        pool.trim();
    }

    @Override
    public void copyFromHost(MemorySegment src, Storage dst, long dstOffset, long bytes) {
        MemorySegment.copy(src, 0, dst.hostSegment(), dstOffset, bytes);
    }

    @Override
    public void copyToHost(Storage src, long srcOffset, MemorySegment dst, long bytes) {
        MemorySegment.copy(src.hostSegment(), srcOffset, dst, 0, bytes);
    }

    @Override
    public void copy(Storage src, long srcOffset, Storage dst, long dstOffset, long bytes) {
        MemorySegment.copy(src.hostSegment(), srcOffset, dst.hostSegment(), dstOffset, bytes);
    }

    @Override
    public void zero(Storage dst, long offset, long bytes) {
        dst.hostSegment().asSlice(offset, bytes).fill((byte) 0);
    }

    @Override
    public void synchronize() {}

    @Override
    public void close() {}
}
