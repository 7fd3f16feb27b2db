package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.bench.BenchCase;
import dev.surpass.bench.Peaks;
import dev.surpass.bench.Workload;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchCommandTest {
    private static Workload copyWorkload(Device d) {
        Tensor x = d.upload(DType.F32, new float[] {1, 2, 3, 4}, 4);
        return new Workload() {
            public Tensor run() { return x.to(d); }
            public void close() { x.close(); }
        };
    }

    private static final BenchCase MEM = new BenchCase("copy", "[4]", DType.F32, 32, 0, BenchCommandTest::copyWorkload);
    private static final BenchCase FLOPS = new BenchCase("fake_mm", "[2, 2]x[2, 2]", DType.F32, 48, 16, BenchCommandTest::copyWorkload);
    private static final BenchCase BROKEN = new BenchCase("broken", "[1]", DType.F32, 8, 0, d -> {
        throw new UnsupportedOperationException("not yet");
    });
    private static final Peaks PEAKS = new Peaks(100, "fake fma", 10, "fake copy");

    private static CliRun bench(List<BenchCase> cases, String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "bench";
        System.arraycopy(args, 0, all, 1, args.length);
        return CliRun.run(CliRun.with(BenchCommand.class, new BenchCommand((d, q) -> cases, (d, q) -> PEAKS)), all);
    }

    @Test
    void opFilterKeepsOnlyTheNamedOps() {
        CliRun r = bench(List.of(MEM, FLOPS), "--device", "cpu", "--quick", "--op", MEM.op());
        assertEquals(0, r.code(), r::toString);
        assertTrue(r.out().contains(MEM.shape()), r::toString);
        assertFalse(r.out().contains(FLOPS.shape()), r::toString);
    }

    @Test
    void unknownOpIsAUsageErrorNamingTheKnownOnes() {
        CliRun r = CliRun.run("bench", "--device", "cpu", "--op", "attention,flashy");
        assertEquals(2, r.code(), r::toString);
        assertTrue(r.err().contains("flashy") && r.err().contains("attn_decode"), r::toString);
    }

    @Test
    void jsonHasTheDocumentedShape(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("sub/bench.json");
        CliRun r = bench(List.of(MEM, FLOPS), "--device", "cpu", "--quick", "--json", json.toString());
        assertEquals(0, r.code(), r::toString);
        assertTrue(r.out().contains("bench: all ops ran"), r::toString);
        JsonNode root = new ObjectMapper().readTree(Files.readString(json));
        assertEquals("surpass-bench/1", root.path("schema").asText());
        assertTrue(root.path("quick").asBoolean());
        assertEquals(Runtime.getRuntime().availableProcessors(), root.path("host").path("cores").asInt());
        assertTrue(root.path("host").path("vectorFloatLanes").asInt() > 0);
        JsonNode dev = root.path("devices").get(0);
        assertEquals("cpu", dev.path("device").asText());
        assertEquals(100.0, dev.path("peak").path("gflops").asDouble());
        assertEquals(10.0, dev.path("peak").path("gbps").asDouble());
        assertEquals("fake copy", dev.path("peak").path("gbpsMethod").asText());
        JsonNode mem = dev.path("results").get(0);
        assertEquals("copy", mem.path("op").asText());
        assertEquals("[4]", mem.path("shape").asText());
        assertEquals("F32", mem.path("dtype").asText());
        assertEquals("GB/s", mem.path("metric").asText());
        assertEquals(32, mem.path("bytes").asLong());
        double median = mem.path("medianMs").asDouble();
        assertTrue(median > 0, mem::toString);
        assertTrue(mem.path("minMs").asDouble() <= median, mem::toString);
        assertTrue(mem.path("samples").asInt() >= 3, mem::toString);
        double gbps = 32 / (median * 1e6);
        assertEquals(gbps, mem.path("value").asDouble(), gbps * 1e-9);
        assertEquals(gbps / 10, mem.path("fractionOfPeak").asDouble(), gbps * 1e-9);
        JsonNode mm = dev.path("results").get(1);
        assertEquals("GFLOP/s", mm.path("metric").asText());
        assertEquals(16.0, mm.path("flops").asDouble());
        assertEquals(mm.path("value").asDouble() / 100, mm.path("fractionOfPeak").asDouble(), 1e-12);
    }

    @Test
    void aBrokenOpIsReportedAndFailsTheRun(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("bench.json");
        CliRun r = bench(List.of(MEM, BROKEN), "--device", "cpu", "--quick", "--json", json.toString());
        assertEquals(Main.FAILURE, r.code(), r::toString);
        assertTrue(r.out().contains("ERROR UnsupportedOperationException: not yet"), r::toString);
        assertEquals("bench: 1 op(s) failed", r.lastLine(), r::toString);
        JsonNode broken = new ObjectMapper().readTree(json.toFile()).path("devices").get(0).path("results").get(1);
        assertEquals("broken", broken.path("op").asText());
        assertEquals("UnsupportedOperationException: not yet", broken.path("error").asText());
        assertTrue(broken.path("medianMs").isMissingNode(), broken::toString);
    }

    @Test
    void cpuPeaksAreMeasured() {
        Peaks p;
        try (Device cpu = Device.cpu()) {
            p = Peaks.measure(cpu, true);
        }
        assertTrue(p.gflops() > 0.1, p::toString);
        assertTrue(p.gbps() > 0.1, p::toString);
    }
}
