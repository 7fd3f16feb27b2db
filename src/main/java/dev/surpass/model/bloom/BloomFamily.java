package dev.surpass.model.bloom;

import dev.surpass.model.decoder.DecoderFamily;

/** {@code surpass forward} / {@code generate} for BLOOM folders (config.json model_type "bloom"). */
public final class BloomFamily extends DecoderFamily {
    public BloomFamily() {
        super("bloom", BloomConfig::looksLikeBloom, Bloom::load);
    }
}
