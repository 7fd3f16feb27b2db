package dev.surpass.model.bloom;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes BLOOM's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint of {@link BloomTest}
 * (vocab 80, seq_length 64, ALiBi): forward against the float64 reference, generate and sessions with bad
 * ids, lengths, sizes and options.
 */
class BloomFuzzTest extends DecoderFuzzSuite {
    BloomFuzzTest() {
        super("bloom", BloomTest.V, 68, d -> RefMath.writeCheckpoint(d, BloomTest.config(false), BloomTest.W, DType.F32, 1),
                Bloom::load, seq -> BloomTest.reference(BloomTest.W, seq, false, BloomTest.Variant.HF));
    }
}
