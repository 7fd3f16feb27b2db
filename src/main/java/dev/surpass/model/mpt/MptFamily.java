package dev.surpass.model.mpt;

import dev.surpass.model.decoder.DecoderFamily;

/** {@code surpass forward} / {@code generate} for MPT folders (config.json model_type "mpt"). */
public final class MptFamily extends DecoderFamily {
    public MptFamily() {
        super("mpt", MptConfig::looksLikeMpt, Mpt::load);
    }
}
