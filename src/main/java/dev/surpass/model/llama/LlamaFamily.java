package dev.surpass.model.llama;

import dev.surpass.model.decoder.DecoderFamily;

/** {@code surpass forward} / {@code generate} for Llama folders (config.json model_type "llama"). */
public final class LlamaFamily extends DecoderFamily {
    public LlamaFamily() {
        super("llama", LlamaConfig::looksLikeLlama, Llama::load);
    }
}
