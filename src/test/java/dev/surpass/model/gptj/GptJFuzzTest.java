package dev.surpass.model.gptj;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes GptJ's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint of {@link GptJTest}
 * (vocab 80, context 64, interleaved rotary): forward against the float64 reference, generate and sessions with bad ids, lengths, sizes
 * and options.
 */
class GptJFuzzTest extends DecoderFuzzSuite {
    GptJFuzzTest() {
        super("gptj", GptJTest.V, 68, d -> RefMath.writeCheckpoint(d, GptJTest.config(), GptJTest.W, DType.F32, 1), GptJ::load,
                seq -> GptJTest.reference(GptJTest.W, seq, GptJTest.Drop.NONE));
    }
}
