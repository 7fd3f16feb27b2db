package dev.surpass.fuzz;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The named tensor arguments of one fuzzed call, with at most one of them broken. A property builds
 * the valid arguments (seeded values, kept as float arrays for the reference), then {@link #breakOne}
 * replaces one by a tensor of another shape, rank or dtype, a closed one or null, and the call must
 * then be refused with a message naming that argument.
 */
public final class Args implements AutoCloseable {
    /** How one argument is broken. */
    public enum Break { NONE, DIM, RANK, DTYPE, CLOSED, NULL }

    private final Device dev;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final Map<String, float[]> values = new LinkedHashMap<>();
    private final List<Tensor> owned = new ArrayList<>();
    private final java.util.Set<String> optional = new java.util.HashSet<>();
    private String broken;
    private Break how = Break.NONE;

    public Args(Device dev) {
        this.dev = dev;
    }

    /** Adds argument {@code name}: seeded values in [−scale, scale] of {@code dtype} and {@code shape}. */
    public Args add(String name, DType dtype, long seed, double scale, long... shape) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        float[] v = Gen.floats(seed, n, scale);
        for (int i = 0; i < n; i++) v[i] = dtype.round(v[i]);
        Tensor t = dev.upload(dtype, v, shape);
        owned.add(t);
        tensors.put(name, t);
        values.put(name, v);
        return this;
    }

    /** Adds optional argument {@code name}, present or absent (null); breaking it to null keeps the call valid. */
    public Args optional(boolean present, String name, DType dtype, long seed, double scale, long... shape) {
        optional.add(name);
        if (present) return add(name, dtype, seed, scale, shape);
        tensors.put(name, null);
        values.put(name, null);
        return this;
    }

    /** The tensor passed as {@code name} (null when absent or broken to null). */
    public Tensor t(String name) {
        return tensors.get(name);
    }

    /** The values of the valid argument {@code name} (null when absent). */
    public float[] v(String name) {
        return values.get(name);
    }

    /** The argument names, in order. */
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    /** Which argument was broken (null: none). */
    public String broken() {
        return broken;
    }

    public Break how() {
        return how;
    }

    /**
     * Breaks argument number {@code which} (modulo the count; absent ones are skipped: nothing
     * broken) in way {@code how}; {@code pick} chooses the dim. Returns this.
     */
    public Args breakOne(int which, Break how, int pick) {
        if (how == Break.NONE || tensors.isEmpty()) return this;
        String name = names().get(Math.floorMod(which, tensors.size()));
        Tensor t = tensors.get(name);
        if (t == null || (how == Break.NULL && optional.contains(name))) return this;
        long[] s = t.shape();
        Tensor r;
        switch (how) {
            case DIM -> {
                if (s.length == 0) return this;
                s[Math.floorMod(pick, s.length)] += 1;
                r = dev.zeros(t.dtype(), s);
            }
            case RANK -> {
                long[] s2 = Math.floorMod(pick, 2) == 0 || s.length == 0 ? Arrays.copyOf(s, s.length + 1) : Arrays.copyOf(s, s.length - 1);
                if (s2.length > s.length) s2[s.length] = 1;
                r = dev.zeros(t.dtype(), s2);
            }
            case DTYPE -> r = dev.zeros(t.dtype() == DType.F32 ? DType.BF16 : DType.F32, s);
            case CLOSED -> {
                r = dev.zeros(t.dtype(), s);
                r.close();
            }
            case NULL -> r = null;
            default -> throw new AssertionError(how);
        }
        if (r != null) owned.add(r);
        tensors.put(name, r);
        broken = name;
        this.how = how;
        return this;
    }

    /**
     * The phrases a message naming {@code name} contains ("B has", "B's", "B must", "B is", "B (",
     * "but B"), so that a one-letter name does not match inside another word.
     */
    public static String[] naming(String name) {
        return new String[] {name + " has", name + "'s", name + " must", name + " is", " " + name + " (", "but " + name, name + " (", ": " + name + " ",
                name + " F", name + " BF", name + " I"}; // the last three: "weight F32[3, 1]@cpu" (a tensor described)
    }

    /** "u F32[1, 2, 3], B null, ..." for failure messages. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        for (var e : tensors.entrySet()) {
            if (sb.length() > 0) sb.append(", ");
            sb.append(e.getKey()).append(' ').append(e.getValue() == null ? "null" : e.getValue().isClosed() ? "closed" : e.getValue().describe());
        }
        if (broken != null) sb.append(" [broken: ").append(broken).append(' ').append(how).append(']');
        return sb.toString();
    }

    @Override
    public void close() {
        for (Tensor t : owned) t.close();
    }
}
