package dev.surpass.model.bert;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parts of an ONNX model file that loading weights needs, read with a small protobuf wire
 * reader (no ONNX or protobuf library): {@code ModelProto.graph} (field 7) → {@code GraphProto}
 * nodes (field 1: input 1, output 2, name 3, op_type 4) and initializers (field 5:
 * {@code TensorProto} dims 1, data_type 2, float_data 4, int32_data 5, int64_data 7, name 8,
 * raw_data 9, double_data 10, data_location 14). Every other field is skipped by its wire type.
 * Tensor bytes are kept as slices of the file's bytes until asked for.
 *
 * <p>Errors: {@link IllegalArgumentException} naming the message and field for a truncated or
 * malformed file, and the tensor for data whose length does not match its dims.
 */
public final class OnnxGraph {
    /** TensorProto.DataType values read here. */
    public static final int FLOAT = 1, INT32 = 6, INT64 = 7, DOUBLE = 11;

    /** A graph node: its op, name and the value names it reads and writes. */
    public record Node(String opType, String name, List<String> inputs, List<String> outputs) {}

    /**
     * An initializer: name, element type, dims, and its data as stored — raw little-endian bytes
     * ({@code raw}, a slice of the file) or a typed repeated field.
     */
    public static final class Initializer {
        private final String name;
        private final int dataType;
        private final long[] dims;
        private final ByteBuffer raw;       // raw_data, or null
        private final float[] floatData;    // float_data (and double_data narrowed), or null
        private final long[] intData;       // int64_data / int32_data, or null

        Initializer(String name, int dataType, long[] dims, ByteBuffer raw, float[] floatData, long[] intData) {
            this.name = name;
            this.dataType = dataType;
            this.dims = dims;
            this.raw = raw;
            this.floatData = floatData;
            this.intData = intData;
        }

        public String name() {
            return name;
        }

        public int dataType() {
            return dataType;
        }

        public long[] dims() {
            return dims.clone();
        }

        public long numel() {
            long n = 1;
            for (long d : dims) n = Math.multiplyExact(n, d);
            return n;
        }

        /** The values of a FLOAT tensor, after checking the data's length against the dims. */
        public float[] floats() {
            if (dataType != FLOAT) {
                throw new IllegalArgumentException("ONNX initializer '" + name + "': data_type is " + dataType + "; expected FLOAT (1)");
            }
            long n = numel();
            if (raw != null) {
                if (raw.remaining() != n * 4) {
                    throw new IllegalArgumentException("ONNX initializer '" + name + "': raw_data has " + raw.remaining()
                            + " bytes but dims " + Arrays.toString(dims) + " need " + n * 4);
                }
                float[] out = new float[(int) n];
                raw.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
                return out;
            }
            if (floatData == null || floatData.length != n) {
                throw new IllegalArgumentException("ONNX initializer '" + name + "': float_data has "
                        + (floatData == null ? 0 : floatData.length) + " values but dims " + Arrays.toString(dims) + " need " + n);
            }
            return floatData.clone();
        }

        /** The values of an INT64 or INT32 tensor, after checking the data's length against the dims. */
        public long[] longs() {
            if (dataType != INT64 && dataType != INT32) {
                throw new IllegalArgumentException("ONNX initializer '" + name + "': data_type is " + dataType + "; expected INT64 (7) or INT32 (6)");
            }
            long n = numel();
            int width = dataType == INT64 ? 8 : 4;
            if (raw != null) {
                if (raw.remaining() != n * width) {
                    throw new IllegalArgumentException("ONNX initializer '" + name + "': raw_data has " + raw.remaining()
                            + " bytes but dims " + Arrays.toString(dims) + " need " + n * width);
                }
                ByteBuffer b = raw.duplicate().order(ByteOrder.LITTLE_ENDIAN);
                long[] out = new long[(int) n];
                for (int i = 0; i < n; i++) out[i] = width == 8 ? b.getLong() : b.getInt();
                return out;
            }
            if (intData == null || intData.length != n) {
                throw new IllegalArgumentException("ONNX initializer '" + name + "': int data has "
                        + (intData == null ? 0 : intData.length) + " values but dims " + Arrays.toString(dims) + " need " + n);
            }
            return intData.clone();
        }

        @Override
        public String toString() {
            return name + " " + Arrays.toString(dims) + " type " + dataType;
        }
    }

    private final List<Node> nodes;
    private final Map<String, Initializer> initializers;

    private OnnxGraph(List<Node> nodes, Map<String, Initializer> initializers) {
        this.nodes = Collections.unmodifiableList(nodes);
        this.initializers = Collections.unmodifiableMap(initializers);
    }

    public List<Node> nodes() {
        return nodes;
    }

    /** Initializers by name, in file order. */
    public Map<String, Initializer> initializers() {
        return initializers;
    }

    /** Reads an {@code .onnx} file. */
    public static OnnxGraph read(Path file) {
        if (file == null) throw new IllegalArgumentException("file is null");
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": no such ONNX file");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage(), e);
        }
        try {
            return parse(bytes);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** Parses the bytes of a serialized {@code ModelProto}. */
    public static OnnxGraph parse(byte[] bytes) {
        if (bytes == null) throw new IllegalArgumentException("bytes is null");
        Wire m = new Wire(bytes, 0, bytes.length, "ModelProto");
        Wire graph = null;
        while (m.more()) {
            int tag = m.tag();
            if (tag >>> 3 == 7 && (tag & 7) == 2) graph = m.message("graph", "GraphProto");
            else m.skip(tag);
        }
        if (graph == null) throw new IllegalArgumentException("ModelProto.graph (field 7) is missing: not an ONNX model");
        List<Node> nodes = new ArrayList<>();
        Map<String, Initializer> inits = new LinkedHashMap<>();
        while (graph.more()) {
            int tag = graph.tag();
            int field = tag >>> 3;
            if (field == 1 && (tag & 7) == 2) {
                nodes.add(node(graph.message("node", "NodeProto")));
            } else if (field == 5 && (tag & 7) == 2) {
                Initializer t = tensor(graph.message("initializer", "TensorProto"));
                if (inits.put(t.name(), t) != null) {
                    throw new IllegalArgumentException("GraphProto.initializer: name '" + t.name() + "' appears twice");
                }
            } else {
                graph.skip(tag);
            }
        }
        return new OnnxGraph(nodes, inits);
    }

    private static Node node(Wire w) {
        List<String> in = new ArrayList<>(), out = new ArrayList<>();
        String name = "", op = "";
        while (w.more()) {
            int tag = w.tag();
            switch (tag) {
                case (1 << 3) | 2 -> in.add(w.string("input"));
                case (2 << 3) | 2 -> out.add(w.string("output"));
                case (3 << 3) | 2 -> name = w.string("name");
                case (4 << 3) | 2 -> op = w.string("op_type");
                default -> w.skip(tag);
            }
        }
        return new Node(op, name, List.copyOf(in), List.copyOf(out));
    }

    private static Initializer tensor(Wire w) {
        List<Long> dims = new ArrayList<>();
        int dataType = 0;
        String name = null;
        ByteBuffer raw = null;
        FloatList floats = null;
        LongList ints = null;
        while (w.more()) {
            int tag = w.tag();
            int field = tag >>> 3, wt = tag & 7;
            switch (field) {
                case 1 -> { // dims: int64, packed or not
                    if (wt == 2) {
                        Wire p = w.message("dims", "packed int64");
                        while (p.more()) dims.add(p.varint("dims"));
                    } else if (wt == 0) {
                        dims.add(w.varint("dims"));
                    } else {
                        throw w.bad("dims", "wire type " + wt);
                    }
                }
                case 2 -> dataType = (int) w.expectVarint(wt, "data_type");
                case 4 -> { // float_data: packed fixed32 or single
                    if (floats == null) floats = new FloatList();
                    if (wt == 2) {
                        Wire p = w.message("float_data", "packed float");
                        while (p.more()) floats.add(Float.intBitsToFloat(p.fixed32("float_data")));
                    } else if (wt == 5) {
                        floats.add(Float.intBitsToFloat(w.fixed32("float_data")));
                    } else {
                        throw w.bad("float_data", "wire type " + wt);
                    }
                }
                case 5, 7 -> { // int32_data / int64_data: varints, packed or not
                    String f = field == 5 ? "int32_data" : "int64_data";
                    if (ints == null) ints = new LongList();
                    if (wt == 2) {
                        Wire p = w.message(f, "packed varint");
                        while (p.more()) ints.add(field == 5 ? (int) p.varint(f) : p.varint(f));
                    } else if (wt == 0) {
                        ints.add(field == 5 ? (int) w.varint(f) : w.varint(f));
                    } else {
                        throw w.bad(f, "wire type " + wt);
                    }
                }
                case 8 -> name = w.expectString(wt, "name");
                case 9 -> {
                    if (wt != 2) throw w.bad("raw_data", "wire type " + wt);
                    raw = w.bytes("raw_data");
                }
                case 10 -> { // double_data: packed fixed64, narrowed to float
                    if (floats == null) floats = new FloatList();
                    if (wt == 2) {
                        Wire p = w.message("double_data", "packed double");
                        while (p.more()) floats.add((float) Double.longBitsToDouble(p.fixed64("double_data")));
                    } else if (wt == 1) {
                        floats.add((float) Double.longBitsToDouble(w.fixed64("double_data")));
                    } else {
                        throw w.bad("double_data", "wire type " + wt);
                    }
                }
                case 14 -> {
                    long loc = w.expectVarint(wt, "data_location");
                    if (loc != 0) {
                        throw new IllegalArgumentException("TensorProto.data_location (field 14) is " + loc
                                + " (EXTERNAL) for tensor '" + name + "'; external data files are not supported");
                    }
                }
                default -> w.skip(tag);
            }
        }
        if (name == null) throw new IllegalArgumentException("TensorProto.name (field 8) is missing for an initializer");
        if (dataType == 0) throw new IllegalArgumentException("TensorProto.data_type (field 2) is missing for tensor '" + name + "'");
        long[] d = new long[dims.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = dims.get(i);
            if (d[i] < 0 || d[i] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("TensorProto.dims (field 1) of tensor '" + name + "' has " + d[i] + " at " + i);
            }
        }
        return new Initializer(name, dataType, d, raw, floats == null ? null : floats.toArray(), ints == null ? null : ints.toArray());
    }

    /** A bounded cursor over protobuf wire data; {@code what} names the message in errors. */
    private static final class Wire {
        private final byte[] b;
        private int pos;
        private final int end;
        private final String what;

        Wire(byte[] b, int pos, int end, String what) {
            this.b = b;
            this.pos = pos;
            this.end = end;
            this.what = what;
        }

        boolean more() {
            return pos < end;
        }

        int tag() {
            long t = varint("tag");
            if (t >>> 3 == 0 || t > Integer.MAX_VALUE) throw bad("tag", "invalid tag " + t);
            return (int) t;
        }

        long varint(String field) {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) throw bad(field, "varint runs past the end");
                int x = b[pos++];
                v |= (long) (x & 0x7F) << shift;
                if ((x & 0x80) == 0) return v;
            }
            throw bad(field, "varint longer than 10 bytes");
        }

        long expectVarint(int wireType, String field) {
            if (wireType != 0) throw bad(field, "wire type " + wireType + ", expected 0 (varint)");
            return varint(field);
        }

        int fixed32(String field) {
            if (end - pos < 4) throw bad(field, "fixed32 runs past the end");
            int v = (b[pos] & 0xFF) | (b[pos + 1] & 0xFF) << 8 | (b[pos + 2] & 0xFF) << 16 | (b[pos + 3] & 0xFF) << 24;
            pos += 4;
            return v;
        }

        long fixed64(String field) {
            long lo = fixed32(field) & 0xFFFFFFFFL;
            long hi = fixed32(field) & 0xFFFFFFFFL;
            return hi << 32 | lo;
        }

        /** A length-delimited field's extent, checked to lie inside this message. */
        private int length(String field) {
            long len = varint(field);
            if (len < 0 || len > end - pos) {
                throw bad(field, "length " + len + " runs past the end (" + (end - pos) + " bytes left)");
            }
            return (int) len;
        }

        Wire message(String field, String type) {
            int len = length(field);
            Wire m = new Wire(b, pos, pos + len, type);
            pos += len;
            return m;
        }

        ByteBuffer bytes(String field) {
            int len = length(field);
            ByteBuffer s = ByteBuffer.wrap(b, pos, len).slice();
            pos += len;
            return s;
        }

        String string(String field) {
            int len = length(field);
            String s = new String(b, pos, len, StandardCharsets.UTF_8);
            pos += len;
            return s;
        }

        String expectString(int wireType, String field) {
            if (wireType != 2) throw bad(field, "wire type " + wireType + ", expected 2 (length-delimited)");
            return string(field);
        }

        /** Skips one field of any supported wire type. */
        void skip(int tag) {
            int field = tag >>> 3;
            String f = "field " + field;
            switch (tag & 7) {
                case 0 -> varint(f);
                case 1 -> fixed64(f);
                case 2 -> {
                    int len = length(f); // read first: `pos += length(f)` would add to the old pos
                    pos += len;
                }
                case 5 -> fixed32(f);
                default -> throw bad(f, "unsupported wire type " + (tag & 7));
            }
        }

        IllegalArgumentException bad(String field, String problem) {
            return new IllegalArgumentException(what + "." + field + ": " + problem + " (at byte " + pos + ")");
        }
    }

    private static final class FloatList {
        float[] a = new float[16];
        int n;

        void add(float v) {
            if (n == a.length) a = Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }

        float[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }

    private static final class LongList {
        long[] a = new long[16];
        int n;

        void add(long v) {
            if (n == a.length) a = Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }

        long[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
