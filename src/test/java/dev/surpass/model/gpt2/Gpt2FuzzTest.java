package dev.surpass.model.gpt2;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes GPT-2's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint (and weights) of {@link Gpt2Test}
 * (vocab 96, context 40): forward against the float64 reference, generate and sessions with bad ids,
 * lengths, sizes and options.
 */
class Gpt2FuzzTest extends DecoderFuzzSuite {
    Gpt2FuzzTest() {
        super("gpt2", Gpt2Test.V, 44, d -> RefMath.writeCheckpoint(d, Gpt2Test.CONFIG, Gpt2Test.entries(Gpt2Test.w, "transformer."), DType.F32, 1),
                Gpt2::load, seq -> Gpt2Test.reference(Gpt2Test.w, seq));
    }
}
