package dev.surpass.model.starcoder2;

import dev.surpass.model.decoder.DecoderFamily;

/** {@code surpass forward} / {@code generate} for StarCoder2 folders (config.json model_type "starcoder2"). */
public final class Starcoder2Family extends DecoderFamily {
    public Starcoder2Family() {
        super("starcoder2", Starcoder2Config::looksLikeStarcoder2, Starcoder2::load);
    }
}
