package dev.surpass.model.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The protobuf wire reader on a ModelProto built byte by byte here (packed and unpacked fields,
 * unknown fields of every wire type, truncation), and on the real all-MiniLM-L6-v2 export.
 */
class OnnxGraphTest {
    /** A minimal protobuf writer for building test messages. */
    static final class Pb {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Pb varint(long v) {
            while ((v & ~0x7FL) != 0) {
                out.write((int) (v & 0x7F) | 0x80);
                v >>>= 7;
            }
            out.write((int) v);
            return this;
        }

        Pb tag(int field, int wire) {
            return varint((long) field << 3 | wire);
        }

        Pb intField(int field, long v) {
            return tag(field, 0).varint(v);
        }

        Pb bytes(int field, byte[] b) {
            tag(field, 2).varint(b.length);
            out.writeBytes(b);
            return this;
        }

        Pb string(int field, String s) {
            return bytes(field, s.getBytes(StandardCharsets.UTF_8));
        }

        Pb message(int field, Pb m) {
            return bytes(field, m.toBytes());
        }

        Pb fixed32(int field, int v) {
            tag(field, 5);
            out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
            return this;
        }

        Pb fixed64(int field, long v) {
            tag(field, 1);
            out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
            return this;
        }

        byte[] toBytes() {
            return out.toByteArray();
        }
    }

    static byte[] le(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    static byte[] model(byte[] wRaw) {
        Pb packedDims = new Pb().varint(2).varint(3);
        Pb w = new Pb().bytes(1, packedDims.toBytes()).intField(2, 1).string(8, "W").bytes(9, wRaw)
                .fixed64(99, 42).fixed32(98, 7); // unknown fields: skipped
        Pb packedFloats = new Pb();
        for (float f : new float[] {0.5f, -1.25f}) packedFloats.out.writeBytes(le(f));
        Pb b = new Pb().intField(1, 2).intField(2, 1).bytes(4, packedFloats.toBytes()).string(8, "b"); // unpacked dims
        Pb packedLongs = new Pb().varint(7).varint(300).varint(-1L);
        Pb ids = new Pb().intField(1, 3).intField(2, 7).bytes(7, packedLongs.toBytes()).string(8, "ids");
        Pb node = new Pb().string(1, "x").string(1, "W").string(2, "y").string(3, "/layer/MatMul").string(4, "MatMul")
                .intField(77, 5);
        Pb graph = new Pb().message(1, node).string(2, "g").message(5, w).message(5, b).message(5, ids);
        return new Pb().intField(1, 7).string(2, "test").message(7, graph).intField(8, 0).toBytes();
    }

    @Test
    void readsAHandBuiltModel() {
        float[] wv = {1, 2, 3, 4.5f, -5, 6e-3f};
        OnnxGraph g = OnnxGraph.parse(model(le(wv)));
        assertEquals(1, g.nodes().size());
        OnnxGraph.Node n = g.nodes().getFirst();
        assertEquals("MatMul", n.opType());
        assertEquals("/layer/MatMul", n.name());
        assertEquals(List.of("x", "W"), n.inputs());
        assertEquals(List.of("y"), n.outputs());
        assertEquals(List.of("W", "b", "ids"), List.copyOf(g.initializers().keySet()));
        OnnxGraph.Initializer w = g.initializers().get("W");
        assertArrayEquals(new long[] {2, 3}, w.dims());
        assertArrayEquals(wv, w.floats());
        assertArrayEquals(new float[] {0.5f, -1.25f}, g.initializers().get("b").floats());
        assertArrayEquals(new long[] {7, 300, -1}, g.initializers().get("ids").longs());
    }

    @Test
    void errorsNameTheFieldOrTensor() {
        var e = assertThrows(IllegalArgumentException.class, () -> OnnxGraph.parse(model(le(1, 2, 3))).initializers().get("W").floats());
        assertTrue(e.getMessage().contains("'W'") && e.getMessage().contains("raw_data"), e.getMessage());
        byte[] full = model(le(1, 2, 3, 4, 5, 6));
        for (int cut : new int[] {full.length - 1, full.length / 2, 9}) {
            byte[] part = Arrays.copyOf(full, cut);
            e = assertThrows(IllegalArgumentException.class, () -> OnnxGraph.parse(part));
            assertTrue(e.getMessage().contains("past the end") || e.getMessage().contains("graph"), e.getMessage());
        }
        e = assertThrows(IllegalArgumentException.class, () -> OnnxGraph.parse(new Pb().intField(1, 7).toBytes()));
        assertTrue(e.getMessage().contains("ModelProto.graph"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OnnxGraph.parse(new byte[] {(byte) 0x0B, 1}));
        assertTrue(e.getMessage().contains("wire type 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> OnnxGraph.parse(model(le(1, 2, 3, 4, 5, 6))).initializers().get("ids").floats());
        assertTrue(e.getMessage().contains("'ids'") && e.getMessage().contains("data_type"), e.getMessage());
    }

    @Test
    void readsAndMapsTheRealMiniLm() {
        MiniLmFixture.assumeMiniLm();
        MiniLm.Artifact a = MiniLm.find();
        OnnxGraph g = OnnxGraph.parse(a.onnx());
        assertEquals(102, g.initializers().size());
        long floats = 0;
        int f32 = 0, matmulWeights = 0;
        for (OnnxGraph.Initializer t : g.initializers().values()) {
            if (t.dataType() == OnnxGraph.FLOAT) {
                f32++;
                floats += t.numel();
            }
            if (t.name().startsWith("onnx::MatMul_")) {
                matmulWeights++;
                long[] d = t.dims();
                assertTrue(Arrays.equals(d, new long[] {384, 384}) || Arrays.equals(d, new long[] {384, 1536})
                        || Arrays.equals(d, new long[] {1536, 384}), t.toString());
            }
        }
        assertEquals(101, f32);
        assertEquals(22_565_376L, floats);
        assertEquals(36, matmulWeights);
        assertArrayEquals(new long[] {30522, 384}, g.initializers().get("embeddings.word_embeddings.weight").dims());
        OnnxGraph.Initializer pos = g.initializers().get("embeddings.position_ids");
        assertEquals(OnnxGraph.INT64, pos.dataType());
        long[] p = pos.longs();
        assertEquals(512, p.length);
        assertEquals(511, p[511]);
        OnnxBertWeights w = OnnxBertWeights.map(g, "minilm", MiniLm.HEADS, MiniLm.LAYER_NORM_EPS);
        assertEquals(new BertConfig(384, 6, 12, 1536, 512, 2, 30522, 1e-12f), w.config());
        assertEquals(5 + 6 * 16, w.names().size());
        // The query weight of layer 3 is onnx::MatMul_826 transposed ([in, out] → [out, in]).
        float[] raw = g.initializers().get("onnx::MatMul_826").floats();
        float[] q = w.read("encoder.layer.3.attention.self.query.weight", 384, 384);
        for (int[] rc : new int[][] {{0, 1}, {5, 300}, {383, 2}}) assertEquals(raw[rc[0] * 384 + rc[1]], q[rc[1] * 384 + rc[0]]);
        var e = assertThrows(IllegalArgumentException.class, () -> w.read("encoder.layer.3.intermediate.dense.weight", 384, 1536));
        assertTrue(e.getMessage().contains("intermediate.dense.weight"), e.getMessage());
    }
}
