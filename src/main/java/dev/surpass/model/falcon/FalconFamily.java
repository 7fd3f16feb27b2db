package dev.surpass.model.falcon;

import dev.surpass.model.decoder.DecoderFamily;

/** {@code surpass forward} / {@code generate} for Falcon folders (config.json model_type "falcon"). */
public final class FalconFamily extends DecoderFamily {
    public FalconFamily() {
        super("falcon", FalconConfig::looksLikeFalcon, Falcon::load);
    }
}
