package dev.surpass.attention;

import dev.surpass.Tensor;

/**
 * The output of an attention call and its natural-log LSE (fp32; −∞ for rows that see no key), or
 * a null {@code lse} when it was not asked for. Closing closes both tensors.
 *
 * @param out the attention output, in the input dtype
 * @param lse prefill [B, Hq, Nq]; varlen [Hq, totalQ]; decode [B, Hq]; or null
 */
public record AttentionOutput(Tensor out, Tensor lse) implements AutoCloseable {
    @Override
    public void close() {
        try {
            if (lse != null) lse.close();
        } finally {
            out.close();
        }
    }
}
