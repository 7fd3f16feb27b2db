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

    /**
     * Dynamic shifting (FLUX.1-dev's scheduler config) and the pipeline's own sigmas, linear time shift and
     * {@code shift_terminal}: timesteps equal to a literal numpy / torch transcription of diffusers'
     * {@code __init__} + {@code set_timesteps} (float32 custom sigmas, float64 otherwise; numpy 1.24, torch 1.13).
     */
    @Test
    void dynamicShiftingAsDiffusers(@TempDir Path dir) throws IOException {
        SchedulerConfig dev = sd3(dir, ", \"use_dynamic_shifting\": true, \"base_shift\": 0.5, \"max_shift\": 1.15, "
                + "\"base_image_seq_len\": 256, \"max_image_seq_len\": 4096");
        assertEquals(1.15, dev.flow().mu(4096), 1e-15);
        assertEquals(0.63, dev.flow().mu(1024), 1e-15);
        assertEquals(0.7275, dev.flow().mu(1600), 1e-15);
        float[] dev1024 = {1000.0f, 988.4086303710938f, 976.2224731445312f, 963.3944091796875f, 949.87255859375f, 935.5989379882812f,
            920.5089721679688f, 904.53076171875f, 887.5834350585938f, 869.575927734375f, 850.4057006835938f, 829.9564208984375f,
            808.0955200195312f, 784.671630859375f, 759.5109252929688f, 732.412841796875f, 703.1447143554688f, 671.434814453125f,
            636.9644775390625f, 599.356689453125f, 558.162841796875f, 512.8441162109375f, 462.7484130859375f, 407.07843017578125f,
            344.84893798828125f, 274.8279724121094f, 195.45458984375f, 104.72090148925781f};
        assertTimesteps(dev, 28, linspace(28), dev.flow().mu(4096), dev1024, "flux-dev 1024²");
        float[] dev512 = {1000.0f, 972.733154296875f, 944.1293334960938f, 914.087890625f, 882.4972534179688f, 849.2348022460938f,
            814.1641235351562f, 777.1334838867188f, 737.9740600585938f, 696.4967651367188f, 652.4894409179688f, 605.7134399414062f,
            555.8990478515625f, 502.7401428222656f, 445.8883056640625f, 384.9447326660156f, 319.4513244628906f, 248.87879943847656f,
            172.61241149902344f, 89.93417358398438f};
        assertTimesteps(dev, 20, linspace(20), dev.flow().mu(1024), dev512, "flux-dev 512²");
        // the timesteps spaced by the scheduler itself (SD3 with dynamic shifting passes no sigmas), float64 throughout
        float[] noSigmas = {1000.0f, 973.888671875f, 946.2764892578125f, 917.0302734375f, 886.0004272460938f, 853.018798828125f,
            817.8952026367188f, 780.4139404296875f, 740.3294067382812f, 697.360595703125f, 651.1846313476562f, 601.4285278320312f,
            547.6591186523438f, 489.370361328125f, 425.967529296875f, 356.74676513671875f, 280.8686828613281f, 197.32440185546875f,
            104.89028930664062f, 2.0676872730255127f};
        assertTimesteps(dev, 20, null, dev.flow().mu(1600), noSigmas, "dynamic, scheduler's spacing");
        // FLUX.1-schnell: shift 1, no dynamic shifting; the pipeline's sigmas pass through
        SchedulerConfig schnell = sd3(dir, ", \"shift\": 1.0, \"use_dynamic_shifting\": false");
        assertTimesteps(schnell, 4, linspace(4), schnell.flow().mu(4096), new float[] {1000f, 750f, 500f, 250f}, "schnell");
        SchedulerConfig lin = sd3(dir, ", \"use_dynamic_shifting\": true, \"time_shift_type\": \"linear\"");
        assertTimesteps(lin, 7, linspace(7), 2.5, new float[] {1000.0f, 937.5000610351562f, 862.0689697265625f, 769.2307739257812f,
            652.1739501953125f, 500.0f, 294.1176452636719f}, "linear time shift");
        SchedulerConfig term = sd3(dir, ", \"shift_terminal\": 0.1");
        assertTimesteps(term, 10, null, Double.NaN, new float[] {1000.0f, 963.7930908203125f, 921.3115234375f, 870.7692260742188f,
            809.6317138671875f, 734.17724609375f, 638.7096557617188f, 514.049560546875f, 344.3902282714844f, 100.0f}, "shift_terminal");

        // dynamic shifting without μ is refused, naming the field; so are bad sigmas and a noise-prediction config
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.create(dev, null, 10, 0, 0));
        assertTrue(e.getMessage().contains("use_dynamic_shifting") && e.getMessage().contains("createFlow"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.createFlow(dev, 10, null, Double.NaN, 0));
        assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.createFlow(dev, 3, linspace(4), 1, 0));
        assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.createFlow(dev, 2, new double[] {1, 0}, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.createFlow(dev, 2, new double[] {1, Double.NaN}, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> DiffusersSampler.createFlow(DiffusersSamplerTest.sd15(), 2, null, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> dev.flow().mu(0));
    }

    /** FluxPipeline's default sigmas, {@code np.linspace(1.0, 1 / N, N)}. */
    static double[] linspace(int n) {
        double[] s = new double[n];
        double lo = 1.0 / n, step = n == 1 ? 0 : (lo - 1.0) / (n - 1);
        for (int i = 0; i < n; i++) s[i] = (n > 1 && i == n - 1) ? lo : 1.0 + i * step;
        return s;
    }

    private static void assertTimesteps(SchedulerConfig c, int steps, double[] sigmas, double mu, float[] want, String what) {
        try (DiffusersSampler s = DiffusersSampler.createFlow(c, steps, sigmas, mu, 0)) {
            assertEquals(steps, s.evaluations(), what);
            for (int i = 0; i < steps; i++) assertEquals(want[i], s.timestep(i), what + ": timestep " + i);
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
            ", \"use_exponential_sigmas\": true"}) {
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
        assertThrows(IllegalArgumentException.class, () -> sd3(dir, ", \"time_shift_type\": \"cubic\""));
        assertThrows(IllegalArgumentException.class, () -> sd3(dir, ", \"shift_terminal\": 1.5"));
        assertThrows(IllegalArgumentException.class, () -> sd3(dir, ", \"shift\": \"3\""));
    }

    private static float[] floats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
