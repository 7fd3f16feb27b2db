package dev.surpass.model.neox;

import dev.surpass.model.decoder.DecoderFamily;

/** {@code surpass forward} / {@code generate} for GPT-NeoX folders (config.json model_type "gpt_neox"). */
public final class GptNeoXFamily extends DecoderFamily {
    public GptNeoXFamily() {
        super("gpt_neox", GptNeoXConfig::looksLikeNeoX, GptNeoX::load);
    }
}
