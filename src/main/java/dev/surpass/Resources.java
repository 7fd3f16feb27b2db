package dev.surpass;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A snapshot of what surpass holds in this process: per device ("cpu", "cuda:0", …) the
 * allocations not yet freed ({@link Device#allocations()}), the CUDA device handles not yet closed
 * and the {@link Scope}s not yet closed. A debug aid: take one before a piece of work and compare
 * after it (the test suite does so around every test class). Tensors left to the {@code Cleaner}
 * are counted until it has run.
 *
 * @param allocations     per device used so far, sorted by name
 * @param openGpuHandles  {@link Device#cuda(int)} handles not yet closed
 * @param openScopes      {@link Scope#open()} scopes not yet closed
 */
public record Resources(Map<String, Device.Allocations> allocations, int openGpuHandles, int openScopes) {
    private static final Device.Allocations NONE = new Device.Allocations(0, 0);

    public Resources {
        allocations = Collections.unmodifiableMap(new TreeMap<>(allocations));
    }

    /** The figures now. */
    public static Resources now() {
        return new Resources(Device.allAllocations(), Device.openGpuHandles(), Scope.openCount());
    }

    /** Allocations on {@code device} ("cpu", "cuda:0"); zero for a device not used yet. */
    public Device.Allocations on(String device) {
        return allocations.getOrDefault(device, NONE);
    }

    /** What differs from {@code earlier}, e.g. "cpu: 2 allocation(s), 96 bytes more"; empty when nothing does. */
    public String changesSince(Resources earlier) {
        StringBuilder s = new StringBuilder();
        TreeSet<String> names = new TreeSet<>(allocations.keySet());
        names.addAll(earlier.allocations.keySet());
        for (String d : names) {
            Device.Allocations a = on(d), b = earlier.on(d);
            if (!a.equals(b)) {
                append(s, d + ": " + (a.count() - b.count()) + " allocation(s), " + (a.bytes() - b.bytes()) + " bytes more (now " + a + ")");
            }
        }
        if (openGpuHandles != earlier.openGpuHandles) append(s, (openGpuHandles - earlier.openGpuHandles) + " more open CUDA device handle(s)");
        if (openScopes != earlier.openScopes) append(s, (openScopes - earlier.openScopes) + " more open scope(s)");
        return s.toString();
    }

    private static void append(StringBuilder s, String what) {
        if (!s.isEmpty()) s.append("; ");
        s.append(what);
    }
}
