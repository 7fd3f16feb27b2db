package dev.surpass.parity;

import dev.surpass.DType;
import dev.surpass.Device;

/** Builds {@link ParityCase}s from a name, a shape label, a dtype and a body. */
public final class ParityCases {
    private ParityCases() {}

    /** The body of one case: run the op on the device with inputs from the seed, compare with the reference. */
    @FunctionalInterface
    public interface Body {
        ParityResult run(Device device, long seed, DType dtype);
    }

    /** A case runnable on every device. */
    public static ParityCase of(String op, String shape, DType dtype, Body body) {
        return new Case(op, shape, dtype, body);
    }

    private record Case(String op, String shape, DType dtype, Body body) implements ParityCase {
        @Override
        public ParityResult run(Device device, long seed) {
            return body.run(device, seed, dtype);
        }

        @Override
        public String toString() {
            return op + " " + shape + " " + dtype;
        }
    }
}
