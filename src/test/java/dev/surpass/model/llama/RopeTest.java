package dev.surpass.model.llama;

import dev.surpass.model.decoder.Rope;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.ConfigJson;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * RoPE against HF transformers' own arithmetic: {@code hf_rope_fp32.txt} holds the fp32 bit
 * patterns torch computes for the frequencies and cos/sin tables with transformers' operations
 * ({@code hf_rope_fp32.py}); and the config forms transformers 4 and 5 write.
 */
class RopeTest {
    static final int[] POSITIONS = {0, 1, 7, 1000, 4095, 131071};

    /** name → {inv, cos, sin} from the resource, cos/sin rows [position][D/2]. */
    static Map<String, float[][]> hf() throws IOException {
        Map<String, float[][]> m = new LinkedHashMap<>();
        try (var in = RopeTest.class.getResourceAsStream("hf_rope_fp32.txt");
             var r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII))) {
            for (String line; (line = r.readLine()) != null; ) {
                String[] p = line.trim().split(" ");
                float[] v = new float[p.length - 2];
                for (int i = 0; i < v.length; i++) v[i] = Float.intBitsToFloat(Integer.parseUnsignedInt(p[i + 2], 16));
                float[][] e = m.computeIfAbsent(p[1], k -> new float[3][]);
                e[switch (p[0]) { case "inv" -> 0; case "cos" -> 1; default -> 2; }] = v;
            }
        }
        return m;
    }

    static LlamaConfig parse(String json) throws IOException {
        return LlamaConfig.parse(new ConfigJson(new ObjectMapper().readTree(json), "cfg"));
    }

    /** A config of head dim {@code d} with the extra fields {@code extra} (a JSON fragment). */
    static String config(int d, String extra) {
        return "{\"model_type\": \"llama\", \"hidden_size\": " + 2 * d + ", \"intermediate_size\": 8, \"num_hidden_layers\": 1,"
                + " \"num_attention_heads\": 2, \"vocab_size\": 10, \"max_position_embeddings\": 8192" + extra + "}";
    }

    static final String LLAMA31 = "\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0";

    /** The configs (transformers 4 form) of the resource's cases, by name. */
    static final Map<String, String> CONFIGS = Map.of(
            "default,theta=10000,D=64", config(64, ""),
            "linear,theta=500000,D=128,factor=4", config(128, ", \"rope_theta\": 500000.0, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}"),
            "llama3,theta=500000,D=128,factor=8,lo=1,hi=4,old=8192", config(128, ", \"rope_theta\": 500000.0, \"rope_scaling\": {" + LLAMA31
                    + ", \"original_max_position_embeddings\": 8192}"),
            "llama3,theta=10000,D=16,factor=8,lo=1,hi=4,old=16", config(16, ", \"rope_scaling\": {" + LLAMA31
                    + ", \"original_max_position_embeddings\": 16}"),
            // transformers 5 form; original_max_position_embeddings from the top level
            "yarn,theta=1000000,D=128,factor=4,old=32768", config(128, ", \"original_max_position_embeddings\": 32768,"
                    + " \"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 1000000.0, \"factor\": 4.0}"),
            "yarn,theta=10000,D=64,factor=16,old=4096,mscale=0.707,all=0.707,fast=24,slow=2,notruncate", config(64,
                    ", \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 16.0, \"original_max_position_embeddings\": 4096,"
                    + " \"mscale\": 0.707, \"mscale_all_dim\": 0.707, \"beta_fast\": 24, \"beta_slow\": 2, \"truncate\": false}"));

    static void assertUlps(float[] want, float[] got, int ulps, String what) {
        assertEquals(want.length, got.length, what + ": length");
        for (int i = 0; i < want.length; i++) {
            float tol = ulps * Math.ulp(Math.max(Math.abs(want[i]), Float.MIN_NORMAL));
            assertTrue(Math.abs(want[i] - got[i]) <= tol, what + "[" + i + "]: HF " + want[i] + ", here " + got[i]);
        }
    }

    @Test
    void frequenciesAndTablesMatchHfFp32() throws IOException {
        Map<String, float[][]> hf = hf();
        assertEquals(CONFIGS.keySet(), hf.keySet());
        try (Device cpu = Device.cpu(); Tensor rot = Rope.rotation(cpu, 128)) {
            for (var e : hf.entrySet()) {
                LlamaConfig c = parse(CONFIGS.get(e.getKey()));
                float[] inv = new float[c.invFreq().length];
                for (int i = 0; i < inv.length; i++) inv[i] = (float) c.invFreq()[i];
                // torch's fp32 pow may round the last bit the other way (one yarn frequency does)
                assertUlps(e.getValue()[0], inv, 1, e.getKey() + " invFreq");
                int d = c.headDim(), h = d / 2;
                Tensor[] t = new Rope(rot, c.invFreq(), d, c.ropeAttentionFactor()).tables(POSITIONS, 1);
                try (Tensor cos = t[0]; Tensor sin = t[1]) {
                    float[] cs = cos.toFloatArray(), sn = sin.toFloatArray();
                    float[] wantC = e.getValue()[1], wantS = e.getValue()[2], gotC = new float[wantC.length], gotS = new float[wantC.length];
                    for (int p = 0; p < POSITIONS.length; p++) {
                        for (int f = 0; f < h; f++) {
                            gotC[p * h + f] = cs[p * d + f];
                            gotS[p * h + f] = sn[p * d + f];
                            assertEquals(cs[p * d + f], cs[p * d + f + h]);
                        }
                    }
                    // angles agree to the frequency's last bit times the position: at 131071 that is
                    // up to ~1e-2 rad where a 1-ulp pow difference lands, so compare absolutely
                    for (int i = 0; i < wantC.length; i++) {
                        // a last-bit difference in a frequency moves the angle by position × ulp
                        double tol = POSITIONS[i / h] * Math.ulp(e.getValue()[0][i % h]) * 1.01 + 2.5e-7;
                        assertEquals(wantC[i], gotC[i], tol, e.getKey() + " cos at position " + POSITIONS[i / h] + ", frequency " + i % h);
                        assertEquals(wantS[i], gotS[i], tol, e.getKey() + " sin at position " + POSITIONS[i / h] + ", frequency " + i % h);
                    }
                }
            }
        }
    }

    @Test
    void transformers5RopeParametersReadAsRopeScaling() throws IOException {
        Map<String, float[][]> hf = hf();
        String k = "llama3,theta=500000,D=128,factor=8,lo=1,hi=4,old=8192";
        // transformers 5: theta inside rope_parameters, no top-level rope_theta
        LlamaConfig v5 = parse(config(128, ", \"rope_parameters\": {\"rope_theta\": 500000.0, " + LLAMA31
                + ", \"original_max_position_embeddings\": 8192}"));
        LlamaConfig v4 = parse(CONFIGS.get(k));
        assertEquals(500000.0, v5.ropeTheta());
        assertEquals("llama3", v5.ropeType());
        assertEquals(java.util.Arrays.toString(v4.invFreq()), java.util.Arrays.toString(v5.invFreq()));
        // original_max_position_embeddings defaults to max_position_embeddings (8192 here)
        LlamaConfig noOld = parse(config(128, ", \"rope_theta\": null, \"rope_parameters\": {\"rope_theta\": 500000.0, " + LLAMA31 + "}"));
        assertEquals(java.util.Arrays.toString(v4.invFreq()), java.util.Arrays.toString(noOld.invFreq()));
        // a plain transformers 5 config: the default type, theta from the object
        LlamaConfig plain = parse(config(64, ", \"rope_parameters\": {\"rope_theta\": 10000.0, \"rope_type\": \"default\"}"));
        assertEquals("default", plain.ropeType());
        LlamaConfig top = parse(config(64, ""));
        assertEquals(java.util.Arrays.toString(top.invFreq()), java.util.Arrays.toString(plain.invFreq()));
        LlamaConfig big = parse(config(64, ", \"rope_parameters\": {\"rope_theta\": 1000000.0, \"rope_type\": \"default\"}"));
        assertEquals(1e6, big.ropeTheta());
        assertTrue(big.invFreq()[1] < plain.invFreq()[1], "theta from rope_parameters is used");
        // what cannot be run is named
        var e = assertThrows(IllegalArgumentException.class,
                () -> parse(config(64, ", \"rope_parameters\": {\"rope_theta\": 10000.0, \"rope_type\": \"ntk\", \"factor\": 4.0}")));
        assertTrue(e.getMessage().contains("ntk") && e.getMessage().contains("rope_parameters"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> parse(config(64, ", \"rope_parameters\": {\"rope_theta\": 10000.0, \"partial_rotary_factor\": 0.5}")));
        assertTrue(e.getMessage().contains("partial_rotary_factor"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> parse(config(64, ", \"rope_parameters\": {\"rope_theta\": -1}")));
        assertTrue(e.getMessage().contains("rope_parameters.rope_theta"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> parse(config(64, ", \"rope_parameters\": 3")));
        assertTrue(e.getMessage().contains("rope_parameters"), e.getMessage());
    }

    /** cos / sin tables {@code [positions, D]} (one head) of {@code rope} at {@code positions}, on the CPU. */
    static float[][] tables(Rope rope, int[] positions) {
        Tensor[] t = rope.tables(positions, 1);
        try (Tensor cos = t[0]; Tensor sin = t[1]) {
            return new float[][] {cos.toFloatArray(), sin.toFloatArray()};
        }
    }

    /**
     * The tables against float64 {@code scale·cos(p·inv_i)} (and sin) at each position: the fp32
     * angle rounds to ~p·|inv|·2^-23 (plus the frequency's own fp32 rounding, {@code relInv}).
     */
    static void assertTables(float[][] got, int[] positions, double[] inv, double scale, int d, double relInv, String what) {
        int h = inv.length;
        for (int p = 0; p < positions.length; p++) {
            for (int f = 0; f < d; f++) {
                double ang = positions[p] * inv[f % h];
                double tol = positions[p] * inv[f % h] * (relInv + 1.2e-7) * 1.01 + 4e-7;
                assertEquals(scale * Math.cos(ang), got[0][p * d + f], tol * scale, what + " cos at position " + positions[p] + ", dim " + f);
                assertEquals(scale * Math.sin(ang), got[1][p * d + f], tol * scale, what + " sin at position " + positions[p] + ", dim " + f);
            }
        }
    }

    static final String SHORT = "[1.0, 1.02, 1.1, 1.3, 1.7, 2.5, 3.9, 6.0]", LONG = "[1.0, 1.5, 2.25, 4.0, 8.0, 16.0, 23.0, 31.5]";

    /**
     * LongRoPE (transformers' {@code _compute_longrope_parameters} with {@code longrope_frequency_update}):
     * a pass reaching at most original_max_position_embeddings tokens takes the short factors at every
     * position, a longer pass the long ones at every position; cos and sin scaled by √(1 + ln(factor) / ln(old)).
     */
    @Test
    void longRopeSwitchesWholePassesAtTheOriginalContext() throws IOException {
        // head dim 16; max 8192 over the original 1024: factor 8
        LlamaConfig c = parse(config(16, ", \"original_max_position_embeddings\": 1024, \"rope_scaling\": {\"type\": \"longrope\","
                + " \"short_factor\": " + SHORT + ", \"long_factor\": " + LONG + "}"));
        double[] sf = new ObjectMapper().readValue(SHORT, double[].class), lf = new ObjectMapper().readValue(LONG, double[].class);
        double[] shortInv = new double[8], longInv = new double[8];
        for (int i = 0; i < 8; i++) {
            shortInv[i] = 1 / (sf[i] * Math.pow(10000, i / 8.0));
            longInv[i] = 1 / (lf[i] * Math.pow(10000, i / 8.0));
        }
        double att = Math.sqrt(1 + Math.log(8) / Math.log(1024));
        assertEquals(att, c.ropeAttentionFactor(), 1e-7);
        assertEquals(8192, c.maxPositions());
        try (Device cpu = Device.cpu(); Tensor rot = Rope.rotation(cpu, 16)) {
            Rope rope = new Rope(rot, c.ropeFrequencies(), 16, 16);
            int[] shortPass = {0, 5, 1023}, longPass = {0, 5, 1024};
            float[][] s = tables(rope, shortPass), l = tables(rope, longPass);
            assertTables(s, shortPass, shortInv, att, 16, 1.2e-7, "short");
            assertTables(l, longPass, longInv, att, 16, 1.2e-7, "long");
            // position 5 turns differently in the two passes: the switch is per pass, not per position
            assertTrue(Math.abs(s[1][16 + 2] - l[1][16 + 2]) > 0.1, "position 5, frequency 2");
        }
        // transformers 5 form: the factor given in rope_parameters (not the ratio of contexts) sets the scale
        LlamaConfig v5 = parse(config(16, ", \"rope_parameters\": {\"rope_type\": \"longrope\", \"rope_theta\": 10000.0, \"factor\": 4.0,"
                + " \"original_max_position_embeddings\": 1024, \"short_factor\": " + SHORT + ", \"long_factor\": " + LONG + "}"));
        assertEquals(Math.sqrt(1 + Math.log(4) / Math.log(1024)), v5.ropeAttentionFactor(), 1e-7);
        assertEquals(java.util.Arrays.toString(c.invFreq()), java.util.Arrays.toString(v5.invFreq()));
    }

    /**
     * Dynamic NTK (transformers' {@code _compute_dynamic_ntk_parameters} with
     * {@code dynamic_frequency_update}): a pass within max_position_embeddings takes the default
     * frequencies; a longer one of L tokens the base {@code θ·(factor·L/max − (factor−1))^(D/(D−2))};
     * the context runs to max · factor.
     */
    @Test
    void dynamicNtkRescalesTheBasePastMaxPositions() throws IOException {
        LlamaConfig c = parse(config(64, ", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.5}"));
        assertEquals("dynamic", c.ropeType());
        assertEquals(20480, c.maxPositions());
        double[] plain = new double[32];
        for (int i = 0; i < 32; i++) plain[i] = Math.pow(10000, -i / 32.0);
        int len = 13001;
        double base = 10000 * Math.pow(2.5 * len / 8192 - 1.5, 64.0 / 62);
        double[] grown = new double[32];
        for (int i = 0; i < 32; i++) grown[i] = Math.pow(base, -i / 32.0);
        try (Device cpu = Device.cpu(); Tensor rot = Rope.rotation(cpu, 64)) {
            Rope rope = new Rope(rot, c.ropeFrequencies(), 64, 64);
            int[] within = {0, 9, 8191}, beyond = {0, 9, len - 1};
            assertTables(tables(rope, within), within, plain, 1, 64, 1.2e-7, "within");
            // the base is computed in fp32 (HF's seq_len is a tensor): its rounding reaches the frequencies times i/32
            float[][] b = tables(rope, beyond);
            assertTables(b, beyond, grown, 1, 64, 6e-7, "beyond");
            // the growth matters: at the last position the slowest frequencies turn far less than the default ones
            assertTrue(Math.abs(b[1][2 * 64 + 31] - Math.sin((len - 1) * plain[31])) > 0.05, "the base grows");
        }
        var e = assertThrows(IllegalArgumentException.class, () -> parse(config(64, ", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 0.5}")));
        assertTrue(e.getMessage().contains("rope_scaling.factor"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> parse(config(64, ", \"rope_scaling\": {\"type\": \"dynamic\"}")));
        assertTrue(e.getMessage().contains("rope_scaling.factor"), e.getMessage());
    }
}
