package dev.surpass.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The fatbin reader on synthetic containers and on a real PTX snippet. */
class FatbinSymbolsTest {
    /** A container with one entry of the given kind, SM and flags around payload. */
    static byte[] container(int kind, int sm, long flags, int compressedSize, byte[] payload) {
        int eh = 64;
        ByteBuffer b = ByteBuffer.allocate(16 + eh + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(FatbinSymbols.MAGIC).putShort((short) 1).putShort((short) 16).putLong(eh + payload.length);
        b.putShort((short) kind).putShort((short) 0x101).putInt(eh).putLong(payload.length);
        b.putInt(compressedSize).putInt(0).putShort((short) 0).putShort((short) 0).putInt(sm);
        b.putInt(0).putInt(0).putLong(flags).putLong(0).putLong(0);
        b.put(payload);
        return b.array();
    }

    @Test
    void readsPtxEntryAndParameters() {
        String ptx = """
                .version 9.0
                .target sm_80
                .visible .entry surpass_t_a(
                .param .u64 surpass_t_a_param_0,
                .param .f32 surpass_t_a_param_1,
                .param .u32 surpass_t_a_param_2
                )
                { ret; }
                .visible .entry surpass_t_b()
                { ret; }
                """;
        byte[] c = container(1, 80, 0x11, 0, (ptx + "\0\0\0").getBytes());
        List<FatbinSymbols.Entry> entries = FatbinSymbols.read(c);
        assertEquals(1, entries.size());
        assertEquals("compute_80", entries.get(0).arch());
        Map<String, List<String>> e = FatbinSymbols.ptxEntries(entries.get(0).ptx());
        assertEquals(List.of("u64", "f32", "u32"), e.get("surpass_t_a"));
        assertEquals(List.of(), e.get("surpass_t_b"));
    }

    @Test
    void archSuffixAndCompression() {
        var e = FatbinSymbols.read(container(2, 90, 0x100011, 0, new byte[8])).get(0);
        assertEquals("sm_90a", e.arch());
        var z = FatbinSymbols.read(container(2, 80, 0x8011, 4, new byte[8])).get(0);
        assertTrue(z.compressed());
        var ex = assertThrows(IllegalStateException.class, z::kernels);
        assertTrue(ex.getMessage().contains("--no-compress"), ex.getMessage());
    }

    @Test
    void rejectsWrongMagic() {
        byte[] c = container(1, 80, 0x11, 0, new byte[8]);
        c[0] = 0;
        assertThrows(IllegalArgumentException.class, () -> FatbinSymbols.read(c));
    }

    @Test
    void abiParsing() {
        var abi = AbiFile.parse(List.of("# c", "[fam]", "surpass_fam_x_f32(const float* a, float* out, long long n, int c, float s)"));
        var k = abi.get("fam").get(0);
        assertEquals(List.of("const float*", "float*", "long long", "int", "float"), k.paramTypes());
        assertEquals(List.of("u64", "u64", "u64", "u32", "f32"), k.ptxTypes());
        assertThrows(IllegalArgumentException.class, () -> AbiFile.parse(List.of("surpass_x(int a)")));
    }
}
