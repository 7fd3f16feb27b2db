package dev.surpass.model.decoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import dev.surpass.Tensor;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The tests every decoder model (GPT-2, Llama) runs on its tiny random checkpoint
 * ({@link TinyDecoderTest}): KV-cached decoding, batching, continuous batching and sampling against
 * the full forward ({@link DecoderChecks}), and CUDA against the CPU; and the forward check the
 * model's own test runs against its float64 reference ({@link #assertForwardMatches}). The token ids
 * are drawn from the same seeds for every model; the lengths are the model's ({@link Cases}).
 */
public abstract class DecoderModelSuite<M extends DecoderModel> extends TinyDecoderTest<M> {
    /**
     * The lengths of the shared checks: the sequence decoded token by token and where its prefill
     * ends; the 8 requests of the batch (seeds 5..8, 30..33) and the tokens each generates; the 4
     * requests of continuous batching (seeds 9..12) and their tokens; the prompt of the sampling check.
     */
    public record Cases(int incrementalLength, int prefill, int[] batchLengths, int batchNew, int[] continuousLengths, int continuousNew,
            int samplingLength) {}

    private final int vocab;
    private final Cases cases;

    /** The checkpoint goes to {@code tmp/family}; {@code vocab} is its vocabulary (the ids drawn). */
    protected DecoderModelSuite(String family, int vocab, CheckpointWriter writer, BiFunction<Device, Path, M> loader, Cases cases) {
        super(family, writer, loader);
        this.vocab = vocab;
        this.cases = cases;
    }

    /** {@code n} token ids in the vocabulary drawn from {@code seed}. */
    protected final int[] ids(long seed, int n) {
        Random r = new Random(seed);
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = r.nextInt(vocab);
        return a;
    }

    private int[][] ids(long[] seeds, int[] lengths) {
        int[][] a = new int[lengths.length][];
        for (int i = 0; i < a.length; i++) a[i] = ids(seeds[i], lengths[i]);
        return a;
    }

    /**
     * Forwards {@code batch} (rows of one length) and asserts logits of rank 3 and width vocab whose
     * rows of each sequence match {@code reference} (one sequence → logits {@code [L][V]}) within
     * {@code tol} of (1 + |ref|) ({@link RefMath#maxRelErr}).
     */
    protected final void assertForwardMatches(int[][] batch, Function<int[], double[][]> reference, double tol) {
        try (Tensor lg = Decoding.forward(model, batch)) {
            assertEquals(3, lg.rank());
            assertEquals(vocab, lg.dim(2));
            float[] all = lg.toFloatArray();
            int per = batch[0].length * vocab;
            for (int b = 0; b < batch.length; b++) {
                double err = RefMath.maxRelErr(Arrays.copyOfRange(all, b * per, (b + 1) * per), reference.apply(batch[b]));
                assertTrue(err <= tol, "sequence " + b + ": max rel err " + err);
            }
        }
    }

    @Test
    protected void incrementalDecodeEqualsFullForward() {
        // fp32 both ways, only summation orders differ: measured 6e-6 (GPT-2) and 1e-5 (Llama) abs on logits
        // of a few units; 1e-4 leaves margin for other vector widths while a wrong position or cache slot
        // moves them by ~1e-1
        DecoderChecks.incrementalEqualsFull(model, ids(4, cases.incrementalLength()), cases.prefill(), 1e-4);
    }

    @Test
    protected void batchOfDifferentLengthsEqualsEachAlone() {
        // 8 requests of different lengths, as the issue asks
        DecoderChecks.batchEqualsAlone(model, ids(new long[] {5, 6, 7, 8, 30, 31, 32, 33}, cases.batchLengths()), cases.batchNew());
    }

    @Test
    protected void continuousBatchingGivesEachRequestItsTokensAlone() {
        int[][] r = ids(new long[] {9, 10, 11, 12}, cases.continuousLengths());
        DecoderChecks.continuousBatching(model, r[0], r[1], r[2], r[3], cases.continuousNew());
    }

    @Test
    protected void samplingSeedsStopIdsAndRepetitionPenalty() {
        DecoderChecks.samplingStopsAndPenalty(model, ids(13, cases.samplingLength()));
    }

    @Test
    @Tag("gpu")
    protected void cudaMatchesCpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device gpu = Device.cuda(0); M g = load(gpu, dir)) {
            DecoderChecks.cudaMatchesCpu(g, model, new int[][] {ids(21, 11), ids(22, 11)}, new int[][] {ids(23, 2), ids(24, 9), ids(25, 5)});
        }
    }
}
