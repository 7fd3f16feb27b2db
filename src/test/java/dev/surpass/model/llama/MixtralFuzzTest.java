package dev.surpass.model.llama;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes a mixture-of-experts model's entries ({@link DecoderFuzzCases}) on {@link MixtralTest}'s tiny
 * checkpoint (4 experts, top-2): forward against the float64 reference, generate and sessions with bad
 * ids, lengths, sizes and options (any batch of tokens routes through the experts).
 */
class MixtralFuzzTest extends DecoderFuzzSuite {
    MixtralFuzzTest() {
        super("mixtral", LlamaTest.V, 68, d -> RefMath.writeCheckpoint(d, MixtralTest.config(""), MixtralTest.entries(MixtralTest.wm), DType.F32, 1),
                Llama::load, seq -> MixtralTest.reference(MixtralTest.wm, seq, MoeRef.Routing.HF));
    }
}
