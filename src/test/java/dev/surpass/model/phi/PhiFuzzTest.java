package dev.surpass.model.phi;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes Phi's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint of {@link PhiTest}
 * (vocab 80, context 64, partial rotary, GQA): forward against the float64 reference, generate and sessions with
 * bad ids, lengths, sizes and options.
 */
class PhiFuzzTest extends DecoderFuzzSuite {
    PhiFuzzTest() {
        super("phi", PhiTest.V, 68, d -> RefMath.writeCheckpoint(d, PhiTest.config(false), PhiTest.W, DType.F32, 1),
                Phi::load, seq -> PhiTest.reference(PhiTest.W, seq, PhiTest.Drop.NONE));
    }
}
