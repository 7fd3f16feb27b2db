package dev.surpass.model.gpt2;

import dev.surpass.model.decoder.DecoderFamily;

/** {@code surpass forward} / {@code generate} for GPT-2 folders (config.json model_type "gpt2"). */
public final class Gpt2Family extends DecoderFamily {
    public Gpt2Family() {
        super("gpt2", Gpt2Config::looksLikeGpt2, Gpt2::load);
    }
}
