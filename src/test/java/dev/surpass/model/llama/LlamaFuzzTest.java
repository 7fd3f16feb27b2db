package dev.surpass.model.llama;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes Llama's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint (and weights) of {@link LlamaTest}
 * (vocab 80, context 64, GQA 4:2): forward against the float64 reference, generate and sessions with bad ids,
 * lengths, sizes and options.
 */
class LlamaFuzzTest extends DecoderFuzzSuite {
    LlamaFuzzTest() {
        super("llama", LlamaTest.V, 68, d -> RefMath.writeCheckpoint(d, LlamaTest.config("null", false), LlamaTest.entries(LlamaTest.w, true), DType.F32, 1),
                Llama::load, seq -> LlamaTest.reference(LlamaTest.w, seq, false, false));
    }
}
