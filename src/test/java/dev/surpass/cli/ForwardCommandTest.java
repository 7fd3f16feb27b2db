package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ForwardCommandTest {
    /** A toy family: accepts folders holding "toy.json"; outputs 2·x for each F32 input x (computed here, not by an op). */
    private static final class Toy implements ModelForward {
        public String family() { return "toy"; }
        public boolean accepts(Path model) { return Files.isRegularFile(model.resolve("toy.json")); }
        public Map<String, Tensor> forward(Device device, Path model, Map<String, Tensor> inputs) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (var e : inputs.entrySet()) {
                float[] x = e.getValue().toFloatArray();
                for (int i = 0; i < x.length; i++) x[i] *= 2;
                out.put(e.getKey() + ".doubled", device.upload(DType.F32, x, e.getValue().shape()));
            }
            return out;
        }
    }

    private static Path inputs(Path dir) {
        Path f = dir.resolve("inputs.safetensors");
        try (Device cpu = Device.cpu(); Tensor x = cpu.upload(DType.F32, new float[] {1, -2, 3, 0.5f, 7, 8}, 2, 3)) {
            SafeTensors.write(f, Map.of("x", x));
        }
        return f;
    }

    @Test
    void noFamilyAcceptingTheModelIsAUsageError(@TempDir Path dir) throws Exception {
        Path model = Files.createDirectories(dir.resolve("model"));
        CliRun r = CliRun.run("forward", "--model", model.toString(), "--inputs", inputs(dir).toString(),
                "--out", dir.resolve("out.safetensors").toString(), "--device", "cpu");
        assertEquals(Main.USAGE, r.code(), r::toString);
        assertTrue(r.err().contains("no registered model family accepts " + model + "; registered families: " + ModelFamilies.names()),
                r::toString);
        assertEquals(1, r.err().strip().lines().count(), r::toString);
        if (ModelFamilies.all().isEmpty()) assertTrue(r.err().contains("registered families: none yet"), r::toString);
        assertTrue(Files.notExists(dir.resolve("out.safetensors")));
    }

    @Test
    void missingFilesAreUsageErrors(@TempDir Path dir) {
        CliRun r = CliRun.run("forward", "--model", dir.resolve("nope").toString(), "--inputs", "x", "--out", "y");
        assertEquals(Main.USAGE, r.code(), r::toString);
        assertTrue(r.err().contains("--model " + dir.resolve("nope") + ": no such file or folder"), r::toString);
        CliRun s = CliRun.run("forward", "--model", dir.toString(), "--inputs", dir.resolve("in.safetensors").toString(), "--out", "y");
        assertEquals(Main.USAGE, s.code(), s::toString);
        assertTrue(s.err().contains("--inputs"), s::toString);
    }

    @Test
    void malformedInputsAreUsageErrors(@TempDir Path dir) throws Exception {
        Path model = Files.createDirectories(dir.resolve("model"));
        Files.writeString(model.resolve("toy.json"), "{}");
        Path bad = Files.write(dir.resolve("bad.safetensors"), new byte[] {1, 2, 3});
        Toy toy = new Toy();
        ModelFamilies.register(toy);
        try {
            CliRun r = CliRun.run("forward", "--model", model.toString(), "--inputs", bad.toString(),
                    "--out", dir.resolve("out.safetensors").toString(), "--device", "cpu");
            assertEquals(Main.USAGE, r.code(), r::toString);
            assertTrue(r.err().contains("bad.safetensors"), r::toString);
        } finally {
            ModelFamilies.unregister(toy);
        }
    }

    @Test
    void aRegisteredFamilyRunsAndEveryOutputIsWritten(@TempDir Path dir) throws Exception {
        Path model = Files.createDirectories(dir.resolve("model"));
        Files.writeString(model.resolve("toy.json"), "{}");
        Path out = dir.resolve("out.safetensors");
        Toy toy = new Toy();
        ModelFamilies.register(toy);
        try {
            assertTrue(ModelFamilies.names().contains("toy"));
            CliRun r = CliRun.run("forward", "--model", model.toString(), "--inputs", inputs(dir).toString(),
                    "--out", out.toString(), "--device", "cpu");
            assertEquals(0, r.code(), r::toString);
            assertTrue(r.out().contains("wrote 1 output(s) to " + out), r::toString);
            try (SafeTensorsFile f = SafeTensors.open(out); Device cpu = Device.cpu()) {
                assertEquals(java.util.List.of("x.doubled"), f.names());
                assertEquals("toy", f.metadata().get("family"));
                try (Tensor y = f.tensor("x.doubled", cpu)) {
                    assertArrayEquals(new long[] {2, 3}, y.shape());
                    assertArrayEquals(new float[] {2, -4, 6, 1, 14, 16}, y.toFloatArray());
                }
            }
        } finally {
            ModelFamilies.unregister(toy);
        }
    }
}
