package dev.surpass.soak;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Resources;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.attention.PagedKvCache;
import dev.surpass.backend.CpuBackend;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.model.bert.BertModel;
import dev.surpass.model.decoder.DecoderSession;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.gpt2.Gpt2;
import dev.surpass.model.mamba.MambaLM;
import dev.surpass.model.mamba.MambaState;
import dev.surpass.model.mamba.Sampling;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Ownership on the CPU: the process-wide accounting ({@link Device#allocations()},
 * {@link Resources}), closing twice is harmless and use after close throws
 * {@link IllegalStateException} for every closeable (tensor, device, scope, models, states,
 * sessions, KV caches, safetensors files), a refused huge host allocation, and load → run → close
 * loops of the tiny models that end where they started.
 */
class ResourceLifecycleTest {
    static TinyModels models;

    @BeforeAll
    static void write() {
        models = new TinyModels(7);
    }

    @AfterAll
    static void delete() {
        models.close();
    }

    static void closedThrows(String what, Executable e) {
        IllegalStateException x = assertThrows(IllegalStateException.class, e, what + " after close");
        assertTrue(x.getMessage() != null && x.getMessage().contains("closed"), what + ": " + x.getMessage());
    }

    @Test
    void allocationsAreCountedOverEveryHandleAndGivenBack() {
        Resources start = Resources.now();
        try (Device a = Device.cpu(); Device b = Device.cpu()) {
            Device.Allocations before = a.allocations();
            Tensor x = a.allocate(DType.F32, 3, 5);
            Tensor y = b.zeros(DType.BF16, 7);
            Tensor v = x.reshape(15); // a view shares x's allocation
            assertEquals(new Device.Allocations(before.count() + 2, before.bytes() + 60 + 14), b.allocations());
            assertEquals(a.allocations(), Resources.now().on("cpu"));
            assertEquals(1, a.liveAllocations(), "one handle counts its own");
            x.close();
            assertEquals(before.count() + 2, a.allocations().count(), "the view keeps the memory");
            v.close();
            y.close();
            assertEquals(before, a.allocations());
        }
        assertEquals("", Resources.now().changesSince(start));
    }

    @Test
    void scopesAreCountedAndCloseOnce() {
        Resources start = Resources.now();
        Scope s = Scope.open();
        assertEquals(start.openScopes() + 1, Resources.now().openScopes());
        assertTrue(Resources.now().changesSince(start).contains("1 more open scope"), Resources.now().changesSince(start));
        s.close();
        s.close();
        assertEquals(start.openScopes(), Scope.openCount());
        assertThrows(IllegalStateException.class, () -> s.track(() -> {}));
    }

    @Test
    void tensorsAndDevicesCloseTwiceAndThrowAfterClose() {
        Device dev = Device.cpu();
        Tensor t = dev.upload(DType.F32, new float[] {1, 2, 3}, 3);
        Tensor kept = dev.upload(new int[] {4, 5}, 2);
        t.close();
        assertDoesNotThrow(t::close);
        closedThrows("toFloatArray", t::toFloatArray);
        closedThrows("reshape", () -> t.reshape(1, 3));
        closedThrows("to(Device)", () -> t.to(dev));
        dev.close();
        assertDoesNotThrow(dev::close);
        closedThrows("allocate", () -> dev.allocate(DType.F32, 2));
        closedThrows("upload", () -> dev.upload(new int[] {1}, 1));
        closedThrows("synchronize", dev::synchronize);
        assertThrows(IllegalStateException.class, kept::toIntArray, "a tensor of a closed device");
        assertTrue(kept.isClosed());
        assertDoesNotThrow(kept::close);
        assertEquals(0, dev.liveAllocations());
    }

    @Test
    void modelsSessionsStatesAndCachesCloseTwiceAndThrowAfterClose() {
        try (Device cpu = Device.cpu()) {
            Device.Allocations start = cpu.allocations();
            Gpt2 gpt2 = Gpt2.load(cpu, models.gpt2);
            DecoderSession session = DecoderSession.create(gpt2, 32, 8);
            int id = session.add(DecoderSession.Request.greedy(new int[] {1, 2, 3}, 2));
            session.step();
            session.close();
            assertDoesNotThrow(session::close);
            closedThrows("DecoderSession.step", session::step);
            closedThrows("DecoderSession.add", () -> session.add(DecoderSession.Request.greedy(new int[] {1}, 1)));
            closedThrows("DecoderSession.remove", () -> session.remove(id));
            gpt2.close();
            assertDoesNotThrow(gpt2::close);
            closedThrows("Gpt2 forward", () -> Decoding.forward(gpt2, new int[][] {{1, 2}}));
            closedThrows("Gpt2 generate", () -> Decoding.generate(gpt2, new int[][] {{1, 2}}, 2, Sampling.greedy(), 1, null, null));

            BertModel bert = BertModel.load(cpu, models.bert);
            bert.close();
            assertDoesNotThrow(bert::close);
            closedThrows("BertModel.forward", () -> bert.forward(new int[][] {{1, 2}}, null, null));

            MambaLM mamba = MambaLM.load(cpu, models.mamba);
            MambaState state = mamba.newState(1);
            try (Tensor logits = state.prefill(new int[][] {{1, 2, 3}})) {
                assertEquals(3, logits.rank());
            }
            state.close();
            assertDoesNotThrow(state::close);
            closedThrows("MambaState.step", () -> state.step(new int[] {4}));
            MambaState orphan = mamba.newState(1);
            mamba.close();
            assertDoesNotThrow(mamba::close);
            closedThrows("MambaLM.forward", () -> mamba.forward(new int[][] {{1, 2}}));
            closedThrows("MambaLM.newState", () -> mamba.newState(1));
            closedThrows("MambaLM.generate", () -> mamba.generate(new int[] {1}, 2, Sampling.greedy(), null));
            closedThrows("MambaState of a closed model", () -> orphan.step(new int[] {1}));
            orphan.close();

            PagedKvCache cache = PagedKvCache.create(cpu, DType.F32, 4, 8, 2, 32);
            cache.newSequence();
            cache.close();
            assertDoesNotThrow(cache::close);
            closedThrows("PagedKvCache.newSequence", cache::newSequence);

            SafeTensorsFile f = SafeTensors.open(models.gpt2.resolve("model.safetensors"));
            f.close();
            assertDoesNotThrow(f::close);
            closedThrows("SafeTensorsFile.names", f::names);

            assertEquals(start, cpu.allocations(), "everything closed gave its memory back");
            assertEquals(0, cpu.liveAllocations());
        }
    }

    @Test
    void aHugeHostAllocationIsRefusedBeforeItIsMade() {
        try (Device cpu = Device.cpu()) {
            Device.Allocations start = cpu.allocations();
            long limit = ((CpuBackend) cpu.backend()).memoryLimit();
            long elements = 1L << 42; // 16 TiB of F32: more than any test machine has
            assertTrue(elements * 4 > limit, "limit " + limit);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> cpu.allocate(DType.F32, 1L << 21, 1L << 21));
            assertTrue(e.getMessage().contains(Long.toString(elements * 4) + " bytes") && e.getMessage().contains("limit"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> cpu.zeros(DType.F32, elements));
            // a shape whose byte count overflows is an argument error, found before any allocation
            IllegalArgumentException o = assertThrows(IllegalArgumentException.class, () -> cpu.allocate(DType.F32, 1L << 40, 1L << 30));
            assertTrue(o.getMessage().contains("2^63") || o.getMessage().contains("overflows"), o.getMessage());
            assertEquals(start, cpu.allocations(), "nothing was allocated");
            try (Tensor t = cpu.upload(new int[] {1, 2, 3}, 3)) {
                assertArrayEquals(new int[] {1, 2, 3}, t.toIntArray(), "the device stays usable");
            }
        }
    }

    /** N rounds of load → run → close of each tiny model end with the allocations they started with. */
    @Test
    void loadRunCloseLoopsKeepMemoryFlat() {
        int rounds = Integer.getInteger("surpass.soak.loadRounds", 10);
        try (Device cpu = Device.cpu()) {
            Device.Allocations start = cpu.allocations();
            Device.Allocations peak = start;
            for (int i = 0; i < rounds; i++) {
                try (Gpt2 g = Gpt2.load(cpu, models.gpt2)) {
                    int[][] out = Decoding.generate(g, new int[][] {{1, 2, 3}, {4, 5}}, 3, Sampling.temperature(0.8, i), 1, null, null);
                    assertEquals(3, out[0].length);
                    if (i == 0) peak = cpu.allocations();
                }
                try (BertModel b = BertModel.load(cpu, models.bert); Tensor h = b.forward(new int[][] {{1, 2, 3, 4}}, null, null)) {
                    assertEquals(4 * 64, h.numel());
                }
                try (MambaLM m = MambaLM.load(cpu, models.mamba)) {
                    assertEquals(2, m.generate(new int[] {1, 2}, 2, Sampling.greedy(), null).length);
                }
                assertEquals(start, cpu.allocations(), "round " + i);
            }
            System.out.println("load -> run -> close x " + rounds + " (gpt2, bert, mamba) on cpu: allocations at start " + start
                    + ", with a gpt2 loaded " + peak + ", at the end " + cpu.allocations());
        }
    }
}
