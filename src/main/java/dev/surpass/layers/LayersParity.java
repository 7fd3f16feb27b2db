package dev.surpass.layers;

import dev.surpass.parity.ParityCase;
import java.util.List;

/** Parity cases for elementwise, activation, softmax and norm ops (STUB: filled by the CPU-ops work). */
public final class LayersParity {
    private LayersParity() {}

    public static List<ParityCase> cases() {
        return List.of();
    }
}
