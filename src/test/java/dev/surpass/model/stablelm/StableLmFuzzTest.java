package dev.surpass.model.stablelm;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes StableLm's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint of {@link StableLmTest}
 * (vocab 80, context 64, partial rotary, per-head q/k LayerNorms): forward against the float64 reference, generate and sessions with bad ids, lengths, sizes
 * and options.
 */
class StableLmFuzzTest extends DecoderFuzzSuite {
    StableLmFuzzTest() {
        super("stablelm", StableLmTest.V, 68, d -> RefMath.writeCheckpoint(d, StableLmTest.config(true, true, false), StableLmTest.W, DType.F32, 1), StableLm::load,
                seq -> StableLmTest.reference(StableLmTest.W, seq, false, StableLmTest.Drop.NONE));
    }
}
