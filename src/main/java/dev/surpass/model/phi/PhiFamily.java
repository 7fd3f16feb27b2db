package dev.surpass.model.phi;

import dev.surpass.model.decoder.DecoderFamily;

/** {@code surpass forward} / {@code generate} for Phi-1 / 1.5 / 2 folders (config.json model_type "phi"). */
public final class PhiFamily extends DecoderFamily {
    public PhiFamily() {
        super("phi", PhiConfig::looksLikePhi, Phi::load);
    }
}
