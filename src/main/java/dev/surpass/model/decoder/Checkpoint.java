package dev.surpass.model.decoder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.io.SafeTensors;
import dev.surpass.io.SafeTensorsFile;
import dev.surpass.io.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The safetensors of an HF checkpoint folder, opened for loading: the shards named by
 * {@code model.safetensors.index.json}'s (diffusers: {@code diffusion_pytorch_model.safetensors.index.json}'s)
 * {@code weight_map} when that file exists, else every {@code *.safetensors} in the folder. Tensors are read by name with a shape check and widened to
 * fp32 (F32/F16/BF16 stored). Errors name the file and tensor. One loader per load; {@link #close}
 * unmaps the files.
 */
public final class Checkpoint implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final List<SafeTensorsFile> opened = new ArrayList<>();
    private final Map<String, SafeTensorsFile> byName = new LinkedHashMap<>();

    private Checkpoint(Path dir) {
        this.dir = dir;
    }

    /** Opens the weights of {@code dir}. */
    /**
     * The folder a model component loads from: {@code dir} itself, or {@code dir/sub} when {@code dir}
     * has no config.json but {@code dir/sub} has one (a diffusers pipeline root and its
     * {@code unet/}, {@code vae/}, {@code text_encoder/} …).
     *
     * @throws IllegalArgumentException "{@code who}: DIR is not a folder ({@code what})" when dir is null or not a folder
     */
    public static Path componentFolder(String who, Path dir, String sub, String what) {
        if (dir == null || !Files.isDirectory(dir)) throw new IllegalArgumentException(who + ": " + dir + " is not a folder (" + what + ")");
        if (!Files.isRegularFile(dir.resolve("config.json")) && Files.isRegularFile(dir.resolve(sub).resolve("config.json"))) return dir.resolve(sub);
        return dir;
    }

    public static Checkpoint open(Path dir) {
        if (dir == null || !Files.isDirectory(dir)) throw new IllegalArgumentException(dir + ": not a folder with config.json and *.safetensors");
        Checkpoint c = new Checkpoint(dir);
        try {
            Path index = dir.resolve("model.safetensors.index.json");
            // diffusers' name for it: the index decides between plain shards and .fp16 variant shards lying beside them
            if (!Files.isRegularFile(index)) index = dir.resolve("diffusion_pytorch_model.safetensors.index.json");
            if (Files.isRegularFile(index)) {
                JsonNode n;
                try {
                    n = JSON.readTree(index.toFile());
                } catch (IOException e) {
                    throw new IllegalArgumentException(index + ": not valid JSON: " + e.getMessage(), e);
                }
                JsonNode map = n == null ? null : n.get("weight_map");
                if (map == null || !map.isObject() || map.isEmpty()) {
                    throw new IllegalArgumentException(index + ": field \"weight_map\" (tensor name → shard file) is missing or empty");
                }
                Map<String, SafeTensorsFile> shards = new LinkedHashMap<>();
                for (var it = map.fields(); it.hasNext(); ) {
                    var e = it.next();
                    String file = e.getValue().asText("");
                    Path p = dir.resolve(file).normalize();
                    if (file.isEmpty() || !p.startsWith(dir.normalize()) || !Files.isRegularFile(p)) {
                        throw new IllegalArgumentException(index + ": tensor '" + e.getKey() + "' maps to shard \"" + file
                                + "\", which is not a file in " + dir);
                    }
                    SafeTensorsFile st = shards.get(file);
                    if (st == null) {
                        st = SafeTensors.open(p);
                        c.opened.add(st);
                        shards.put(file, st);
                    }
                    if (!st.names().contains(e.getKey())) {
                        throw new IllegalArgumentException(index + ": tensor '" + e.getKey() + "' is mapped to " + file + " but that shard lacks it");
                    }
                    c.byName.put(e.getKey(), st);
                }
            } else {
                // *.safetensors, or else PyTorch *.bin / *.pt converted as they are opened
                for (Path f : dev.surpass.io.PyTorchCheckpoint.weightFiles(dir)) {
                    SafeTensorsFile st = dev.surpass.io.PyTorchCheckpoint.openAsSafeTensors(f);
                    c.opened.add(st);
                    for (String n : st.names()) c.byName.put(n, st);
                }
            }
            return c;
        } catch (RuntimeException | Error e) {
            c.close();
            throw e;
        }
    }

    /**
     * The one safetensors file {@code file} opened for loading (a single-file checkpoint such as
     * BFL's {@code flux1-dev.safetensors}); {@link #dir} is its folder.
     */
    public static Checkpoint openFile(Path file) {
        if (file == null || !Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": not a safetensors file");
        Checkpoint c = new Checkpoint(file.toAbsolutePath().getParent());
        SafeTensorsFile st = SafeTensors.open(file);
        c.opened.add(st);
        for (String n : st.names()) c.byName.put(n, st);
        return c;
    }

    public Path dir() {
        return dir;
    }

    public boolean has(String name) {
        return byName.containsKey(name);
    }

    /** Every tensor name, in file order. */
    public Set<String> names() {
        return new LinkedHashSet<>(byName.keySet());
    }

    public TensorInfo info(String name) {
        SafeTensorsFile f = byName.get(name);
        if (f == null) throw new IllegalArgumentException(dir + ": tensor '" + name + "' is missing from the checkpoint");
        return f.info(name);
    }

    /** The tensor's values widened to fp32, after checking its shape is {@code shape}. */
    public float[] read(String name, long... shape) {
        check(name, shape);
        try (Device cpu = Device.cpu(); Tensor t = byName.get(name).tensor(name, cpu)) {
            return t.toFloatArray();
        }
    }

    /** The tensor's info, after checking its shape is {@code shape} and its dtype floating. */
    private TensorInfo check(String name, long... shape) {
        TensorInfo i = info(name);
        String where = byName.get(name).path().toString();
        if (!Arrays.equals(i.shape(), shape)) {
            throw new IllegalArgumentException(where + ": tensor '" + name + "' has shape " + Arrays.toString(i.shape())
                    + " but the config expects " + Arrays.toString(shape));
        }
        if (i.dtype() == null || !i.dtype().isFloating()) {
            throw new IllegalArgumentException(where + ": tensor '" + name + "' has dtype " + i.dtypeName() + "; expected F32, F16 or BF16");
        }
        return i;
    }

    /** {@link #read} uploaded as F32 to {@code device}. */
    public Tensor upload(Device device, String name, long... shape) {
        return device.upload(DType.F32, read(name, shape), shape);
    }

    /**
     * Whether {@link #uploadLinear} keeps 16-bit linear weights as they are stored on the CPU
     * ({@code -Dsurpass.cpu.weights16=true}): half the memory, and a decode step reads half the
     * bytes ({@link dev.surpass.layers.Gemm#linear} takes an F32 x with a BF16 or F16 weight); the
     * logits then differ from the widened weights' in the last bits (another summation order).
     */
    public static boolean keepSixteenBitOnCpu() {
        return Boolean.getBoolean("surpass.cpu.weights16");
    }

    /**
     * A linear layer's weight {@code [out, in]}: F32 like {@link #upload}, or, on the CPU with
     * {@link #keepSixteenBitOnCpu}, in its stored BF16 / F16 (exactly the stored values).
     */
    public Tensor uploadLinear(Device device, String name, long out, long in) {
        return uploadLinearSplit(device, name, in, out)[0];
    }

    /**
     * A fused linear weight {@code [Σ rows, in]} (Phi-3's qkv_proj and gate_up_proj) cut into row
     * blocks of {@code rows[i]} rows, each as {@link #uploadLinear} gives a whole weight; the
     * tensor is read once for all of them.
     */
    public Tensor[] uploadLinearSplit(Device device, String name, long in, long... rows) {
        long out = 0;
        for (long r : rows) {
            if (r <= 0) throw new IllegalArgumentException("uploadLinearSplit: row block of " + r + " rows for tensor '" + name + "'");
            out += r;
        }
        return blocks(device, name, new long[] {out, in}, in, rows);
    }

    /**
     * A linear weight {@code [out, Σ cols]} cut by columns into {@code [out, cols[i]]} blocks (a layer
     * fed a concatenation of features, as Flux's single blocks' proj_out on cat[attn, mlp]:
     * {@code linear(cat[x, y]) = linear(x, first) + linear(y, second)}), each as {@link #uploadLinear}
     * gives a whole weight: F32, or on the CPU with {@link #keepSixteenBitOnCpu} its stored 16-bit values.
     */
    public Tensor[] uploadLinearColumns(Device device, String name, long out, long... cols) {
        long in = 0;
        for (long c : cols) {
            if (c <= 0) throw new IllegalArgumentException("uploadLinearColumns: column block of " + c + " columns for tensor '" + name + "'");
            in += c;
        }
        DType stored = check(name, out, in).dtype();
        boolean keep = device.isCpu() && keepSixteenBitOnCpu() && (stored == DType.BF16 || stored == DType.F16);
        Tensor[] parts = new Tensor[cols.length];
        try (Device cpu = Device.cpu(); Tensor t = byName.get(name).tensor(name, cpu)) {
            float[] all = keep ? null : t.toFloatArray();
            long col0 = 0;
            for (int i = 0; i < cols.length; i++) {
                long c = cols[i];
                if (keep) { // row by row out of the mapped file (which closes after loading)
                    parts[i] = device.allocate(stored, out, c);
                    long es = stored.byteSize();
                    for (long r = 0; r < out; r++) {
                        java.lang.foreign.MemorySegment.copy(t.hostSegment(), (r * in + col0) * es, parts[i].hostSegment(), r * c * es, c * es);
                    }
                } else {
                    float[] v = new float[Math.toIntExact(out * c)];
                    for (long r = 0; r < out; r++) System.arraycopy(all, (int) (r * in + col0), v, (int) (r * c), (int) c);
                    parts[i] = device.upload(DType.F32, v, out, c);
                }
                col0 += c;
            }
            return parts;
        } catch (RuntimeException | Error e) {
            for (Tensor p : parts) if (p != null) p.close();
            throw e;
        }
    }

    /**
     * Stacked linear weights {@code [n, Σ rows, in]} (transformers 5's fused mixture-of-experts
     * tensors: {@code experts.gate_up_proj [E, 2F, H]}, {@code experts.down_proj [E, H, F]}):
     * for each of the {@code n} matrices its row blocks, as {@link #uploadLinearSplit} gives them
     * ({@code [matrix][block]}); the tensor is read one block at a time.
     */
    public Tensor[][] uploadLinearStacked(Device device, String name, long n, long in, long... rows) {
        long per = 0;
        for (long r : rows) {
            if (r <= 0) throw new IllegalArgumentException("uploadLinearStacked: row block of " + r + " rows for tensor '" + name + "'");
            per += r;
        }
        long[] all = new long[(int) n * rows.length];
        for (int i = 0; i < n; i++) System.arraycopy(rows, 0, all, i * rows.length, rows.length);
        Tensor[] flat = blocks(device, name, new long[] {n, per, in}, in, all);
        Tensor[][] out = new Tensor[(int) n][];
        for (int i = 0; i < n; i++) out[i] = Arrays.copyOfRange(flat, i * rows.length, (i + 1) * rows.length);
        return out;
    }

    /**
     * The tensor (checked to be {@code shape}, rows of {@code in} values) cut into consecutive row
     * blocks {@code [rows[i], in]}: each widened to F32, or on the CPU with
     * {@link #keepSixteenBitOnCpu} kept in its stored 16-bit dtype; read from the mapped file one
     * block at a time.
     */
    private Tensor[] blocks(Device device, String name, long[] shape, long in, long[] rows) {
        DType stored = check(name, shape).dtype();
        boolean keep = device.isCpu() && keepSixteenBitOnCpu() && (stored == DType.BF16 || stored == DType.F16);
        Tensor[] parts = new Tensor[rows.length];
        try (Device cpu = Device.cpu(); Tensor t = byName.get(name).tensor(name, cpu)) {
            long row0 = 0;
            for (int i = 0; i < rows.length; i++) {
                try (Tensor block = t.view(row0 * in, rows[i], in)) {
                    if (keep) { // the stored bytes copied out of the mapped file (which closes after loading)
                        parts[i] = device.allocate(stored, rows[i], in);
                        java.lang.foreign.MemorySegment.copy(block.hostSegment(), 0, parts[i].hostSegment(), 0, block.byteSize());
                    } else {
                        parts[i] = device.upload(DType.F32, block.toFloatArray(), rows[i], in);
                    }
                }
                row0 += rows[i];
            }
            return parts;
        } catch (RuntimeException | Error e) {
            for (Tensor p : parts) if (p != null) p.close();
            throw e;
        }
    }

    /**
     * A Conv1D weight stored {@code [in, out]} (GPT-2), columns {@code [col0, col0 + cols)}, as the
     * {@code [cols, in]} F32 matrix {@link dev.surpass.layers.Gemm#linear} takes.
     */
    public Tensor uploadConv1d(Device device, String name, long in, long out, int col0, int cols) {
        float[] w = read(name, in, out);
        float[] t = new float[(int) (cols * in)];
        for (int r = 0; r < in; r++) for (int c = 0; c < cols; c++) t[(int) (c * in + r)] = w[(int) (r * out + col0 + c)];
        return device.upload(DType.F32, t, cols, in);
    }

    /** Elements {@code [from, from + count)} of a 1-D tensor of length {@code len}, uploaded as F32. */
    public Tensor uploadRange(Device device, String name, long len, int from, int count) {
        float[] v = read(name, len);
        return device.upload(DType.F32, Arrays.copyOfRange(v, from, from + count), count);
    }

    /** Unmaps the files; idempotent. */
    @Override
    public void close() {
        for (SafeTensorsFile f : opened) f.close();
        opened.clear();
    }
}
