package dev.surpass.backend;

import dev.surpass.DType;
import java.util.ArrayList;
import java.util.List;

/**
 * The kernel naming rule of native/abi.txt: {@code surpass_<family>_<op>_<f32|f16|bf16>}, one
 * entry point per floating dtype, in {@code <family>.fatbin}.
 */
public final class KernelNames {
    private static final DType[] FLOATING = {DType.F32, DType.F16, DType.BF16};

    private KernelNames() {}

    /** The dtype's suffix in kernel names. */
    public static String suffix(DType dtype) {
        return switch (dtype) {
            case F32 -> "f32";
            case F16 -> "f16";
            case BF16 -> "bf16";
            default -> throw new IllegalArgumentException("no kernel variant for " + dtype + " (kernels take F32, F16 or BF16)");
        };
    }

    /** {@code surpass_<family>_<op>_<suffix>}. */
    public static String of(String family, String op, DType dtype) {
        return "surpass_" + family + "_" + op + "_" + suffix(dtype);
    }

    /** Every op's name in every floating dtype. */
    public static List<String> perDtype(String family, String... ops) {
        List<String> names = new ArrayList<>();
        for (String op : ops) {
            for (DType t : FLOATING) names.add(of(family, op, t));
        }
        return names;
    }
}
