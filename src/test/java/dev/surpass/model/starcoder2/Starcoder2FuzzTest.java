package dev.surpass.model.starcoder2;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes Starcoder2's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint of {@link Starcoder2Test}
 * (vocab 80, context 64, GQA, a sliding window of 7): forward against the float64 reference, generate and sessions with bad ids, lengths, sizes
 * and options.
 */
class Starcoder2FuzzTest extends DecoderFuzzSuite {
    Starcoder2FuzzTest() {
        super("starcoder2", Starcoder2Test.V, 68, d -> RefMath.writeCheckpoint(d, Starcoder2Test.config(true), Starcoder2Test.W, DType.F32, 1), Starcoder2::load,
                seq -> Starcoder2Test.reference(Starcoder2Test.W, seq, Starcoder2Test.Drop.NONE));
    }
}
