package dev.surpass.model.llama;

import dev.surpass.Device;
import dev.surpass.model.decoder.DecoderFamily;
import dev.surpass.model.decoder.DecoderModel;
import java.nio.file.Path;

/** {@code surpass forward} / {@code generate} for Llama folders (config.json model_type "llama"). */
public final class LlamaFamily extends DecoderFamily {
    @Override
    public String family() {
        return "llama";
    }

    @Override
    protected boolean recognises(Path dir) {
        return LlamaConfig.looksLikeLlama(dir);
    }

    @Override
    protected DecoderModel load(Device device, Path dir) {
        return Llama.load(device, dir);
    }
}
