package dev.surpass.scan;

import dev.surpass.Tensor;

/**
 * The output of {@link SelectiveScan#selectiveScan}: {@code y [Bt, Dm, L]} in the input dtype and
 * the state after the last token, {@code lastState [Bt, Dm, N]} fp32 (varlen: {@code [nseq, Dm, N]},
 * one row per sequence). Closing closes both.
 */
public record ScanOutput(Tensor y, Tensor lastState) implements AutoCloseable {
    @Override
    public void close() {
        try {
            lastState.close();
        } finally {
            y.close();
        }
    }
}
