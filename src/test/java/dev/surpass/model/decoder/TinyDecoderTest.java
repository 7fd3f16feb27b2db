package dev.surpass.model.decoder;

import dev.surpass.Device;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.BiFunction;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A decoder model's tiny random checkpoint, written to {@link #dir} in the class's temp folder and
 * loaded on {@link #cpu} once per test class (one instance per class), closed after its tests: the
 * fixture of {@link DecoderModelSuite} and {@link DecoderFuzzSuite}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class TinyDecoderTest<M extends DecoderModel> {
    /** Writes a checkpoint folder (config.json and safetensors). */
    @FunctionalInterface
    public interface CheckpointWriter {
        void write(Path dir) throws IOException;
    }

    /** The class's temp folder: the checkpoint's and any the tests write. */
    protected Path tmp;
    protected Device cpu;
    protected Path dir;
    protected M model;

    private final String family;
    private final CheckpointWriter writer;
    private final BiFunction<Device, Path, M> loader;

    /** The checkpoint goes to {@code tmp/family}. */
    protected TinyDecoderTest(String family, CheckpointWriter writer, BiFunction<Device, Path, M> loader) {
        this.family = family;
        this.writer = writer;
        this.loader = loader;
    }

    /** The family's name ("gpt2", "llama"). */
    protected final String family() {
        return family;
    }

    /** Loads the checkpoint in {@code folder} on {@code device} (the caller closes the model). */
    protected final M load(Device device, Path folder) {
        return loader.apply(device, folder);
    }

    @BeforeAll
    protected void setUp(@TempDir Path classTmp) throws IOException {
        tmp = classTmp;
        cpu = Device.cpu();
        dir = tmp.resolve(family);
        writer.write(dir);
        model = loader.apply(cpu, dir);
    }

    @AfterAll
    protected void tearDown() {
        if (model != null) model.close();
        cpu.close();
    }
}
