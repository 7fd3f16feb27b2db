package dev.surpass.model.llama;

import dev.surpass.DType;
import dev.surpass.model.decoder.DecoderFuzzCases;
import dev.surpass.model.decoder.DecoderFuzzSuite;
import dev.surpass.model.decoder.RefMath;

/**
 * Fuzzes {@link Qwen2MoeTest}'s checkpoint ({@link DecoderFuzzCases}): a dense layer beside a mixture
 * with a shared expert, so mutated {@code mlp_only_layers}, {@code decoder_sparse_step} and expert
 * counts in config.json must load or be refused by name.
 */
class Qwen2MoeFuzzTest extends DecoderFuzzSuite {
    Qwen2MoeFuzzTest() {
        super("qwen2_moe", LlamaTest.V, 68, d -> RefMath.writeCheckpoint(d, Qwen2MoeTest.config(""), Qwen2MoeTest.entries(Qwen2MoeTest.wm), DType.F32, 1),
                Llama::load, seq -> Qwen2MoeTest.reference(Qwen2MoeTest.wm, seq, MoeRef.Routing.HF));
    }
}
