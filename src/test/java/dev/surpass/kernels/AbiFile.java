package dev.surpass.kernels;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parsed {@code native/abi.txt}: for each fatbin ("[name]" group), its kernels with their C
 * parameter lists. Lines starting with '#' and blank lines are ignored.
 */
public final class AbiFile {
    /** One kernel: its name and C parameter types in order (e.g. "const float*", "long long"). */
    public record Kernel(String name, List<String> paramTypes, int line) {
        /** The PTX parameter type each C type must compile to: pointers u64, long long u64, int u32, float f32, CUtensorMap b8. */
        public List<String> ptxTypes() {
            List<String> out = new ArrayList<>();
            for (String t : paramTypes) out.add(ptxType(t));
            return out;
        }
    }

    private static final Pattern GROUP = Pattern.compile("\\[([a-z0-9_]+)]");
    private static final Pattern KERNEL = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)\\(([^)]*)\\)");

    private AbiFile() {}

    /** The checked-in ABI list of this checkout. */
    public static Path path() {
        return Path.of(System.getProperty("basedir", "")).toAbsolutePath().resolve("native/abi.txt");
    }

    public static Map<String, List<Kernel>> read() {
        try {
            return parse(Files.readAllLines(path()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path(), e);
        }
    }

    /** Group name → kernels, in file order. Throws on a malformed line, naming it. */
    public static Map<String, List<Kernel>> parse(List<String> lines) {
        Map<String, List<Kernel>> groups = new LinkedHashMap<>();
        List<Kernel> current = null;
        for (int i = 0; i < lines.size(); i++) {
            String s = lines.get(i).strip();
            if (s.isEmpty() || s.startsWith("#")) continue;
            Matcher g = GROUP.matcher(s);
            Matcher k = KERNEL.matcher(s);
            if (g.matches()) {
                current = groups.computeIfAbsent(g.group(1), n -> new ArrayList<>());
            } else if (k.matches()) {
                if (current == null) throw new IllegalArgumentException("abi.txt:" + (i + 1) + ": kernel before any [group]");
                List<String> types = new ArrayList<>();
                if (!k.group(2).isBlank()) {
                    for (String p : k.group(2).split(",")) types.add(paramType(p.strip(), i + 1));
                }
                current.add(new Kernel(k.group(1), List.copyOf(types), i + 1));
            } else {
                throw new IllegalArgumentException("abi.txt:" + (i + 1) + ": cannot parse '" + s + "'");
            }
        }
        return groups;
    }

    /** "const float* a" → "const float*"; "long long n" → "long long". */
    private static String paramType(String param, int line) {
        int cut = Math.max(param.lastIndexOf(' '), param.lastIndexOf('*'));
        if (cut < 0) throw new IllegalArgumentException("abi.txt:" + line + ": parameter without a name: " + param);
        String type = param.substring(0, cut + 1).strip();
        if (type.isEmpty()) throw new IllegalArgumentException("abi.txt:" + line + ": parameter without a type: " + param);
        return type.replaceAll("\\s+", " ");
    }

    static String ptxType(String cType) {
        if (cType.endsWith("*")) return "u64";
        return switch (cType.replace("const ", "").toLowerCase(Locale.ROOT)) {
            case "long long", "unsigned long long", "size_t" -> "u64";
            case "int", "unsigned", "unsigned int" -> "u32";
            case "float" -> "f32";
            case "double" -> "f64";
            case "__grid_constant__ cutensormap" -> "b8";  // a TMA tensor map by value: .param .align 64 .b8 x[128]
            default -> throw new IllegalArgumentException("no PTX mapping for C type '" + cType + "'");
        };
    }
}
