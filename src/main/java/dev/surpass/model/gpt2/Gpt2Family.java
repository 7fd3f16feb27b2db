package dev.surpass.model.gpt2;

import dev.surpass.Device;
import dev.surpass.model.decoder.DecoderFamily;
import dev.surpass.model.decoder.DecoderModel;
import java.nio.file.Path;

/** {@code surpass forward} / {@code generate} for GPT-2 folders (config.json model_type "gpt2"). */
public final class Gpt2Family extends DecoderFamily {
    @Override
    public String family() {
        return "gpt2";
    }

    @Override
    protected boolean recognises(Path dir) {
        return Gpt2Config.looksLikeGpt2(dir);
    }

    @Override
    protected DecoderModel load(Device device, Path dir) {
        return Gpt2.load(device, dir);
    }
}
