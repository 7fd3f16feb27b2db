package dev.surpass;

/**
 * Element types of a {@link Tensor}. Floating types are stored in their IEEE (or bfloat16) bit
 * layout, little-endian, contiguous; I32/I64 hold indices (token ids, page tables, lengths).
 *
 * <p>Conversions: fp32 → bf16 rounds to nearest even (NaN stays a quiet NaN); fp32 ⇄ fp16 uses the
 * JDK's {@link Float#floatToFloat16}/{@link Float#float16ToFloat} (also round to nearest even).
 */
public enum DType {
    F32(4, true, "F32"),
    F16(2, true, "F16"),
    BF16(2, true, "BF16"),
    I32(4, false, "I32"),
    I64(8, false, "I64");

    private final int byteSize;
    private final boolean floating;
    private final String safetensorsName;

    DType(int byteSize, boolean floating, String safetensorsName) {
        this.byteSize = byteSize;
        this.floating = floating;
        this.safetensorsName = safetensorsName;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** True for F32, F16 and BF16. */
    public boolean isFloating() {
        return floating;
    }

    /** The dtype's name in a safetensors header ("F32", "BF16", …). */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** The dtype named {@code name} in a safetensors header, or null when surpass has none. */
    public static DType fromSafetensorsName(String name) {
        for (DType t : values()) {
            if (t.safetensorsName.equals(name)) return t;
        }
        return null;
    }

    /** fp32 → bfloat16 bits, round to nearest even; NaN maps to a quiet NaN of the same sign. */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** bfloat16 bits → fp32 (exact). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** fp32 → fp16 bits, round to nearest even (the JDK's conversion). */
    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    /** fp16 bits → fp32 (exact). */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** Rounds {@code f} to this floating dtype and back: what storing it in this dtype keeps. */
    public float round(float f) {
        return switch (this) {
            case F32 -> f;
            case F16 -> f16ToFloat(floatToF16(f));
            case BF16 -> bf16ToFloat(floatToBf16(f));
            default -> throw new IllegalArgumentException("dtype " + this + " is not floating");
        };
    }
}
