package dev.surpass.model.falcon;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes Falcon's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint of {@link FalconTest}
 * (vocab 80, context 64, the new architecture): forward against the float64 reference, generate and sessions with bad ids, lengths, sizes
 * and options.
 */
class FalconFuzzTest extends DecoderFuzzSuite {
    FalconFuzzTest() {
        super("falcon", FalconTest.V, 68, d -> RefMath.writeCheckpoint(d, FalconTest.config(FalconTest.Arch.NEW, true, false), FalconTest.W, DType.F32, 1), Falcon::load,
                seq -> FalconTest.reference(FalconTest.W, seq, FalconTest.Arch.NEW, FalconTest.Drop.NONE));
    }
}
