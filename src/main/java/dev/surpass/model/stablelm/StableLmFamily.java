package dev.surpass.model.stablelm;

import dev.surpass.model.decoder.DecoderFamily;

/** {@code surpass forward} / {@code generate} for StableLM folders (config.json model_type "stablelm"). */
public final class StableLmFamily extends DecoderFamily {
    public StableLmFamily() {
        super("stablelm", StableLmConfig::looksLikeStableLm, StableLm::load);
    }
}
