package dev.surpass.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Large host blocks backed by transparent huge pages (Linux): anonymous memory from {@code mmap},
 * aligned to 2 MiB and advised {@code MADV_HUGEPAGE}, unmapped when its arena closes.
 *
 * <p>Why: the first touch of fresh memory is where the time goes, the kernel faulting in and
 * zeroing one 4 KiB page at a time — 0.25–0.33 s for 64 MiB on the development VMs (a cold VAE
 * decode spent 35–50% of its time there). With huge pages the same 64 MiB faults in as 32 pages
 * in ~7 ms when the kernel has free 2 MiB pages (no better than 4 KiB pages when it has to compact
 * memory first), and the big GEMM operands then need 512× fewer TLB entries. {@code mmap}'s pages
 * are zero, and nothing else touches them first: {@code Arena.allocate} would zero them itself.
 *
 * <p>Used only where it can work: Linux on x86-64 or AArch64 (whose {@code mmap} flag values are
 * the ones below), {@code /sys/kernel/mm/transparent_hugepage/enabled} set to {@code always} or
 * {@code madvise}, native access allowed, and not switched off with
 * {@code -Dsurpass.cpu.hugePages=false}; otherwise {@link #map} returns null and the caller uses
 * {@link Arena#allocate}. Thread-safe (the calls are the OS's).
 */
final class HugePages {
    /** The huge page size on x86-64 and AArch64 with 4 KiB base pages. */
    static final long SIZE = 2L << 20;

    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
    private static final int MADV_HUGEPAGE = 14;
    private static final long MAP_FAILED = -1;

    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;
    private static final MethodHandle MADVISE;

    static {
        MethodHandle mmap = null, munmap = null, madvise = null;
        if (wanted()) {
            try {
                Linker l = Linker.nativeLinker();
                var libc = l.defaultLookup();
                mmap = l.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_LONG));
                munmap = l.downcallHandle(libc.find("munmap").orElseThrow(),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
                madvise = l.downcallHandle(libc.find("madvise").orElseThrow(),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            } catch (RuntimeException | LinkageError e) { // no such symbol, no linker, native access denied: plain arenas
                mmap = munmap = madvise = null;
            }
        }
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
    }

    private HugePages() {}

    private static boolean wanted() {
        if (!Boolean.parseBoolean(System.getProperty("surpass.cpu.hugePages", "true"))) return false;
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.startsWith("linux") || !(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"))) return false;
        try {
            String mode = Files.readString(Path.of("/sys/kernel/mm/transparent_hugepage/enabled"));
            return mode.contains("[always]") || mode.contains("[madvise]");
        } catch (Exception e) {
            return false;
        }
    }

    /** True when {@link #map} can give huge-page blocks. */
    static boolean available() {
        return MMAP != null;
    }

    /**
     * {@code bytes} (a multiple of {@link #SIZE}) of zeroed memory aligned to {@link #SIZE},
     * unmapped when {@code arena} closes; null when unavailable or when the OS refuses the mapping.
     */
    static MemorySegment map(long bytes, Arena arena) {
        if (MMAP == null || bytes <= 0 || bytes % SIZE != 0) return null;
        long total = bytes + SIZE; // room to align the start to a huge page
        long base;
        try {
            base = (long) MMAP.invokeExact(0L, total, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0L);
        } catch (Throwable t) {
            return null;
        }
        if (base == MAP_FAILED || base == 0) return null;
        long start = (base + SIZE - 1) & -SIZE;
        try {
            int ignored = (int) MADVISE.invokeExact(start, bytes, MADV_HUGEPAGE); // advice only: 4 KiB pages if refused
            return MemorySegment.ofAddress(start).reinterpret(bytes, arena, s -> unmap(base, total));
        } catch (Throwable t) {
            unmap(base, total);
            return null;
        }
    }

    private static void unmap(long base, long total) {
        try {
            int ignored = (int) MUNMAP.invokeExact(base, total);
        } catch (Throwable t) {
            // munmap of a mapping we made cannot fail in a way we could act on; the bytes stay mapped
        }
    }
}
