package dev.surpass.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link DiffusersSampler.Kind#FLOW_EULER} ({@code FlowMatchEulerDiscreteScheduler}, Stable Diffusion 3):
 * the timesteps against values diffusers' own code printed (its {@code __init__} and
 * {@code set_timesteps} run in numpy / torch), the loop against {@link DiffusersReference#flowEuler}.
 */
class DiffusersSamplerFlowTest {

    static SchedulerConfig sd3(Path dir, String extra) throws IOException {
        Path f = dir.resolve("scheduler_config.json");
        Files.writeString(f, "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"_diffusers_version\": \"0.29.0.dev0\", "
                + "\"num_train_timesteps\": 1000, \"shift\": 3.0" + extra + "}");
        return SchedulerConfig.load(dir);
    }

    /** diffusers' timesteps for SD3's config (shift 3), printed by its scheduler code in torch 1.13 / numpy. */
    @Test
    void timestepsAreDiffusers(@TempDir Path dir) throws IOException {
        SchedulerConfig c = sd3(dir, "");
        assertEquals(3.0, c.shift());
        try (DiffusersSampler s = DiffusersSampler.create(c, null, 28, 0, 0)) {
            assertEquals(DiffusersSampler.Kind.FLOW_EULER, s.kind());
            assertEquals(28, s.evaluations());
            assertEquals(1000.0f, s.timestep(0));
            assertEquals(987.380615234375f, s.timestep(1));
            assertEquals(974.1077270507812f, s.timestep(2));
            assertEquals(960.1293334960938f, s.timestep(3));
            assertEquals(8.928571701049805f, s.timestep(27)); // σ_min shifted twice, as diffusers does
            assertEquals(1.0, s.initNoiseSigma());
            for (int i = 0; i < 28; i++) assertEquals(1.0, s.inputScale(i));
        }
        try (DiffusersSampler s = DiffusersSampler.create(sd3(dir, ", \"use_karras_sigmas\": true"), null, 7, 0, 0)) {
            float[] want = {1000.0f, 550.5515747070312f, 286.6939392089844f, 139.59912109375f, 62.58863067626953f, 25.290241241455078f,
                8.928571701049805f};
            for (int i = 0; i < 7; i++) assertEquals(want[i], s.timestep(i), "karras timestep " + i);
        }
        try (DiffusersSampler s = DiffusersSampler.create(c, DiffusersSampler.Kind.parse("flow-euler"), 1, 0, 0)) {
            assertEquals(1, s.evaluations());
            assertEquals(1000.0f, s.timestep(0));
        }
    }

    @ParameterizedTest(name = "flow steps={0} guidance={1} shift={2} karras={3}")
    @CsvSource({"28, 7, 3.0, false", "5, 1, 3.0, false", "13, 4.5, 1.0, false", "9, 2, 6.0, true", "1, 3, 3.0, false"})
    void loopMatchesTheFloat64Reference(int steps, double g, double shift, boolean karras, @TempDir Path dir) throws IOException {
        SchedulerConfig c = sd3(dir, ", \"shift\": " + shift + (karras ? ", \"use_karras_sigmas\": true" : ""));
        double[] got = DiffusersSamplerTest.runSampler(c, null, steps, g);
        double[] want = DiffusersReference.flowEuler(DiffusersSamplerTest.start(), DiffusersReference.flowSigmas(steps, shift, 1000, karras),
                1000, (x, t) -> DiffusersSamplerTest.out(x, t, g), 0);
        double err = DiffusersSamplerTest.relL2(got, want);
        assertTrue(err < 2e-6, "flow relL2 " + err);
        // the test can fail: one shift instead of diffusers' two moves the result far more than the tolerance
        double[] once = DiffusersReference.flowSigmas(steps, 1.0, 1000, karras);
        if (shift != 1.0 && steps > 1) {
            for (int i = 0; i < steps; i++) once[i] = (float) (shift * once[i] / (1 + (shift - 1) * once[i]));
            double[] off = DiffusersReference.flowEuler(DiffusersSamplerTest.start(), once, 1000, (x, t) -> DiffusersSamplerTest.out(x, t, g), 0);
            assertTrue(DiffusersSamplerTest.relL2(got, off) > 100 * Math.max(err, 1e-7), "a single shift should be told apart");
        }
    }

    /** Image-to-image: scale_noise at the begin index, then the loop from there. */
    @Test
    void beginAndScaleNoise(@TempDir Path dir) throws IOException {
        SchedulerConfig c = sd3(dir, "");
        Device dev = Device.cpu();
        double[] img = DiffusersSamplerTest.start();
        java.util.Random r = new java.util.Random(3);
        double[] noise = new double[img.length];
        for (int i = 0; i < noise.length; i++) noise[i] = r.nextGaussian();
        int steps = 10, begin = 4;
        double[] sg = DiffusersReference.flowSigmas(steps, 3.0, 1000, false);
        double[] noised = new double[img.length];
        for (int i = 0; i < img.length; i++) noised[i] = sg[begin] * noise[i] + (1 - sg[begin]) * img[i];
        double g = 5;
        double[] got = new double[img.length];
        try (DiffusersSampler s = DiffusersSampler.create(c, null, steps, 0, 0);
             Tensor x0 = dev.upload(DType.F32, floats(img), DiffusersSamplerTest.SHAPE);
             Tensor z = dev.upload(DType.F32, floats(noise), DiffusersSamplerTest.SHAPE)) {
            s.begin(begin);
            Tensor x = s.addNoise(x0, z, begin);
            float[] first = x.toFloatArray();
            for (int i = 0; i < img.length; i++) assertEquals(noised[i], first[i], 1e-6, "scale_noise " + i);
            for (int i = begin; i < s.evaluations(); i++) {
                float[] cur = x.toFloatArray();
                float t = s.timestep(i);
                float[] mo = new float[2 * img.length];
                for (int k = 0; k < img.length; k++) {
                    mo[k] = (float) DiffusersSamplerTest.model(cur[k], t, k, false);
                    mo[img.length + k] = (float) DiffusersSamplerTest.model(cur[k], t, k, true);
                }
                long[] ms = DiffusersSamplerTest.SHAPE.clone();
                ms[0] *= 2;
                Tensor next;
                try (Tensor m = dev.upload(DType.F32, mo, ms)) {
                    next = s.step(x, m, i, g);
                }
                x.close();
                x = next;
            }
            float[] r2 = x.toFloatArray();
            x.close();
            for (int i = 0; i < img.length; i++) got[i] = r2[i];
        }
        double[] want = DiffusersReference.flowEuler(noised, sg, 1000, (x, t) -> DiffusersSamplerTest.out(x, t, g), begin);
        double err = DiffusersSamplerTest.relL2(got, want);
        assertTrue(err < 2e-6, "flow image-to-image relL2 " + err);
    }

    @Test
    void familiesDoNotMix(@TempDir Path dir) throws IOException {
        SchedulerConfig flow = sd3(dir, "");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DiffusersSampler.create(flow, DiffusersSampler.Kind.EULER, 10, 0, 0));
        assertTrue(e.getMessage().contains("FlowMatchEulerDiscreteScheduler") && e.getMessage().contains("flow-matching"), e.getMessage());
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
                () -> DiffusersSampler.create(DiffusersSamplerTest.sd15(), DiffusersSampler.Kind.FLOW_EULER, 10, 0, 0));
        assertTrue(e2.getMessage().contains("PNDMScheduler"), e2.getMessage());
    }

    @Test
    void refusesWhatItDoesNotImplement(@TempDir Path dir) throws IOException {
        for (String extra : new String[] {", \"use_dynamic_shifting\": true", ", \"invert_sigmas\": true", ", \"stochastic_sampling\": true",
            ", \"shift_terminal\": 0.1", ", \"use_exponential_sigmas\": true"}) {
            SchedulerConfig c = sd3(dir, extra);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(c, null, 10, 0, 0), extra);
            String field = extra.substring(extra.indexOf('"') + 1, extra.indexOf('"', extra.indexOf('"') + 1));
            assertTrue(e.getMessage().contains(field), e.getMessage());
        }
        SchedulerConfig nullTerminal = sd3(dir, ", \"shift_terminal\": null, \"use_dynamic_shifting\": false");
        try (DiffusersSampler s = DiffusersSampler.create(nullTerminal, null, 4, 0, 0)) {
            assertEquals(4, s.evaluations());
        }
        assertThrows(IllegalArgumentException.class, () -> sd3(dir, ", \"shift\": -1"));
        assertThrows(IllegalArgumentException.class, () -> sd3(dir, ", \"shift\": \"3\""));
    }

    private static float[] floats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
