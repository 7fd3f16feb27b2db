package dev.surpass.scan;

import dev.surpass.Tensor;

/**
 * The output of {@link CausalConv1d#causalConv1d}: {@code out [Bt, Dm, L]} in the input dtype and
 * {@code finalState [Bt, Dm, W-1]} fp32, the last W-1 inputs (oldest first, the initial state's
 * values where L < W-1): pass it as the {@code convState} of {@link CausalConv1d#update} to decode
 * on. Closing closes both.
 */
public record ConvOutput(Tensor out, Tensor finalState) implements AutoCloseable {
    @Override
    public void close() {
        try {
            finalState.close();
        } finally {
            out.close();
        }
    }
}
