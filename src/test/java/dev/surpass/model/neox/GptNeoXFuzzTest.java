package dev.surpass.model.neox;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes GPT-NeoX's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint of {@link GptNeoXTest}
 * (vocab 80, context 64, partial rotary): forward against the float64 reference, generate and sessions with bad
 * ids, lengths, sizes and options.
 */
class GptNeoXFuzzTest extends DecoderFuzzSuite {
    GptNeoXFuzzTest() {
        super("gpt_neox", GptNeoXTest.V, 68, d -> RefMath.writeCheckpoint(d, GptNeoXTest.config(true), GptNeoXTest.W, DType.F32, 1),
                GptNeoX::load, seq -> GptNeoXTest.reference(seq, true, true, GptNeoXTest.ROT));
    }
}
