package dev.surpass.model.gptj;

import dev.surpass.model.decoder.DecoderFamily;

/** {@code surpass forward} / {@code generate} for GPT-J folders (config.json model_type "gptj"). */
public final class GptJFamily extends DecoderFamily {
    public GptJFamily() {
        super("gptj", GptJConfig::looksLikeGptJ, GptJ::load);
    }
}
