package dev.surpass.model.mpt;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes MPT's entries ({@link DecoderFuzzCases}) on the tiny random checkpoint of {@link MptTest}
 * (vocab 80, max_seq_len 128, ALiBi with 6 heads): forward against the float64 reference, generate and
 * sessions with bad ids, lengths, sizes and options.
 */
class MptFuzzTest extends DecoderFuzzSuite {
    MptFuzzTest() {
        super("mpt", MptTest.V, 132, d -> RefMath.writeCheckpoint(d, MptTest.config(""), MptTest.W, DType.F32, 1),
                Mpt::load, seq -> MptTest.reference(seq, MptTest.MAX_BIAS, false, false));
    }
}
