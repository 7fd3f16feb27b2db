package dev.surpass.io;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * A PyTorch checkpoint as {@code torch.save} writes it since PyTorch 1.6 (a zip holding
 * {@code <archive>/data.pkl} and one {@code <archive>/data/<key>} entry per storage): HF's
 * {@code pytorch_model.bin}, the official DiT {@code .pt} files, mamba_ssm's checkpoints. The
 * pickle is read by a restricted interpreter that runs no code ({@link TorchPickle}); the tensors
 * it names are listed with their dtype and shape, copied out on request, or written to a
 * safetensors file ({@link #writeSafeTensors}), after which every safetensors loader of the library
 * takes them.
 *
 * <p>Names: nested dicts are flattened with dots ({@code {"ema": {"x_embedder.proj.weight": …}}}
 * lists {@code ema.x_embedder.proj.weight}; list items by index); a tensor under two names (a
 * tied head) is listed under both. Non-tensor values (ints, an
 * {@code argparse.Namespace}, optimizer settings) are left out.
 *
 * <p>Dtypes: float32, float16, bfloat16, int32 and int64 tensors keep theirs; float64 ones are
 * rounded to F32 (surpass has no F64); bool, uint8, int8, int16 and complex tensors are
 * {@link #skipped() skipped} with a reason. Non-contiguous views are copied row-major.
 *
 * <p>Errors: {@link IllegalArgumentException} naming the file (and the tensor or entry) for a file
 * that is not such a zip (the legacy pre-1.6 format, a safetensors file, a truncated download), a
 * malformed pickle, a storage entry missing or shorter than its tensors need, a big-endian archive,
 * or a name asked for that is not listed; {@link UncheckedIOException} when the file cannot be read.
 *
 * <p>Thread rules: one thread at a time; close it to release the zip.
 */
public final class PyTorchCheckpoint implements AutoCloseable {
    /** One tensor: its flattened name, dtype (after rounding float64 to F32) and shape. */
    public record Entry(String name, DType dtype, long[] shape) {
        public Entry {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }
    }

    private final Path path;
    private final ZipFile zip;
    private final String archive;
    private final Map<String, TorchPickle.TensorRef> refs = new LinkedHashMap<>();
    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final List<String> skipped = new ArrayList<>();
    private boolean closed;

    private PyTorchCheckpoint(Path path, ZipFile zip, String archive) {
        this.path = path;
        this.zip = zip;
        this.archive = archive;
    }

    /** Largest data.pkl read (the pickle holds names and shapes, not weights). */
    static final int MAX_PICKLE_BYTES = 256 << 20;

    /**
     * Opens {@code file} and reads its pickle.
     *
     * @throws IllegalArgumentException when it is not a PyTorch zip checkpoint (naming what it looks like)
     * @throws UncheckedIOException     when it cannot be read
     */
    public static PyTorchCheckpoint open(Path file) {
        if (file == null) throw new IllegalArgumentException("file is null");
        if (!Files.isRegularFile(file)) {
            throw new UncheckedIOException(file + ": no such file", new NoSuchFileException(file.toString()));
        }
        ZipFile zip;
        try {
            zip = new ZipFile(file.toFile());
        } catch (ZipException e) {
            throw new IllegalArgumentException(file + ": not a PyTorch checkpoint zip (" + e.getMessage() + ")" + hint(file), e);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read: " + e.getMessage(), e);
        }
        try {
            String archive = null;
            for (Enumeration<? extends ZipEntry> en = zip.entries(); en.hasMoreElements(); ) {
                String n = en.nextElement().getName();
                if (n.endsWith("/data.pkl") && n.indexOf('/') == n.length() - "/data.pkl".length()) {
                    if (archive != null) throw new IllegalArgumentException(file + ": two data.pkl entries (" + archive + ", " + n + ")");
                    archive = n.substring(0, n.length() - "data.pkl".length());
                }
            }
            if (archive == null) throw new IllegalArgumentException(file + ": a zip without <archive>/data.pkl, so not a torch.save file");
            PyTorchCheckpoint c = new PyTorchCheckpoint(file, zip, archive);
            c.readIndex();
            return c;
        } catch (RuntimeException | Error e) {
            try {
                zip.close();
            } catch (IOException ignored) {
                // the failure being reported matters more
            }
            throw e;
        }
    }

    /**
     * The weight files of a model folder, each to be opened with {@link #openAsSafeTensors}: its
     * {@code *.safetensors} when it has any, else its PyTorch files ({@code *.bin}, {@code *.pt},
     * {@code *.pth}: HF's {@code pytorch_model*.bin}, mamba_ssm's releases), which are then
     * converted as they are opened.
     *
     * @throws IllegalArgumentException when the folder has neither (naming it)
     */
    public static List<Path> weightFiles(Path dir) {
        try (java.util.stream.Stream<Path> s = Files.list(dir)) {
            List<Path> all = s.filter(Files::isRegularFile).sorted().toList();
            List<Path> st = all.stream().filter(p -> p.getFileName().toString().endsWith(".safetensors")).toList();
            if (!st.isEmpty()) return st;
            List<Path> pt = all.stream().filter(p -> p.getFileName().toString().matches(".*\\.(bin|pt|pth)") && looksLikeTorchZip(p)).toList();
            if (!pt.isEmpty()) return pt;
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot list: " + e.getMessage(), e);
        }
        throw new IllegalArgumentException(dir + ": no *.safetensors weights (nor PyTorch *.bin / *.pt ones)");
    }

    /** True when {@code file} starts as a zip does ("PK"): a torch.save checkpoint, not safetensors. */
    public static boolean looksLikeTorchZip(Path file) {
        try (InputStream s = Files.newInputStream(file)) {
            byte[] b = s.readNBytes(2);
            return b.length == 2 && b[0] == 'P' && b[1] == 'K';
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * {@code file} opened as safetensors: as it is, or, when it is a PyTorch zip
     * ({@link #looksLikeTorchZip}), converted into a temporary file in {@code java.io.tmpdir} that is
     * mapped and then deleted (the mapping keeps its bytes until the result is closed). For
     * single-file checkpoints such as DiT's {@code .pt}; it costs one conversion per open.
     */
    public static SafeTensorsFile openAsSafeTensors(Path file) {
        if (!looksLikeTorchZip(file)) return SafeTensors.open(file);
        Path tmp = null;
        try {
            tmp = Files.createTempFile("surpass-" + file.getFileName() + "-", ".safetensors");
            try (PyTorchCheckpoint c = open(file)) {
                c.writeSafeTensors(tmp, null, Map.of("format", "pt", "converted_from", file.getFileName().toString()));
            }
            return SafeTensors.open(tmp);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot convert to a temporary safetensors file: " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // left in the temp folder
                }
            }
        }
    }

    private static String hint(Path file) {
        try (InputStream s = Files.newInputStream(file)) {
            byte[] b = s.readNBytes(2);
            if (b.length == 2 && (b[0] & 0xff) == 0x80) return "; this looks like the legacy torch.save format (PyTorch < 1.6): re-save it with a newer PyTorch";
        } catch (IOException ignored) {
            // no hint
        }
        return "";
    }

    private void readIndex() {
        String order = text(archive + "byteorder", 16);
        if (order != null && !order.strip().equals("little")) {
            throw new IllegalArgumentException(path + ": byteorder is " + order.strip() + "; only little-endian checkpoints are read");
        }
        byte[] pkl = bytesOf(archive + "data.pkl", MAX_PICKLE_BYTES);
        Object root = TorchPickle.load(pkl, path.toString());
        flatten("", root, java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>()), 0);
    }

    /** Most tensors and containers one checkpoint may list (a pickle's memo can make a small file name a huge tree). */
    static final int MAX_NODES = 1 << 22;
    private int nodes;

    /** Lists the tensors under {@code o}; {@code path} holds the containers above it (a container inside itself is skipped). */
    private void flatten(String prefix, Object o, java.util.Set<Object> onPath, int depth) {
        if (depth > 64) throw new IllegalArgumentException(path + ": containers nested over 64 deep at '" + prefix + "'");
        if (++nodes > MAX_NODES) throw new IllegalArgumentException(path + ": over " + MAX_NODES + " values in the checkpoint's containers");
        boolean container = o instanceof Map<?, ?> || o instanceof List<?> || o instanceof TorchPickle.Tuple;
        if (container && !onPath.add(o)) return;
        try {
            flattenValue(prefix, o, onPath, depth);
        } finally {
            if (container) onPath.remove(o);
        }
    }

    private void flattenValue(String prefix, Object o, java.util.Set<Object> onPath, int depth) {
        if (o instanceof TorchPickle.TensorRef t) {
            String name = prefix.isEmpty() ? "tensor" : prefix;
            DType dt = dtypeOf(t.storage().type());
            if (dt == null) {
                skipped.add(name + " (" + t.storage().type() + ")");
                return;
            }
            refs.put(name, t);
            entries.put(name, new Entry(name, dt, t.size()));
        } else if (o instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) flatten(join(prefix, String.valueOf(e.getKey())), e.getValue(), onPath, depth + 1);
        } else if (o instanceof List<?> l) {
            for (int i = 0; i < l.size(); i++) flatten(join(prefix, String.valueOf(i)), l.get(i), onPath, depth + 1);
        } else if (o instanceof TorchPickle.Tuple t) {
            for (int i = 0; i < t.items().size(); i++) flatten(join(prefix, String.valueOf(i)), t.items().get(i), onPath, depth + 1);
        }
    }

    private static String join(String prefix, String key) {
        return prefix.isEmpty() ? key : prefix + "." + key;
    }

    /** The surpass dtype a torch storage type is read as, or null when skipped. */
    static DType dtypeOf(String storageType) {
        return switch (storageType) {
            case "FloatStorage", "DoubleStorage" -> DType.F32;
            case "HalfStorage" -> DType.F16;
            case "BFloat16Storage" -> DType.BF16;
            case "IntStorage" -> DType.I32;
            case "LongStorage" -> DType.I64;
            default -> null;
        };
    }

    /** Bytes per element as stored. */
    private static int storedSize(String storageType) {
        return switch (storageType) {
            case "DoubleStorage", "LongStorage" -> 8;
            case "FloatStorage", "IntStorage" -> 4;
            default -> 2;
        };
    }

    public Path path() {
        return path;
    }

    /** The tensors' flattened names, in the pickle's order. */
    public List<String> names() {
        ensureOpen();
        return List.copyOf(entries.keySet());
    }

    /** Every listed tensor. */
    public List<Entry> entries() {
        ensureOpen();
        return List.copyOf(entries.values());
    }

    /** Tensors left out, each as "name (StorageType)". */
    public List<String> skipped() {
        return Collections.unmodifiableList(skipped);
    }

    /** The listed tensor {@code name}. */
    public Entry entry(String name) {
        ensureOpen();
        Entry e = entries.get(name);
        if (e == null) throw new IllegalArgumentException(path + ": no tensor '" + name + "' (" + entries.size() + " tensors listed)");
        return e;
    }

    /**
     * A contiguous copy of tensor {@code name} on {@code device} (float64 rounded to F32).
     *
     * @throws IllegalArgumentException for a name not listed, or a storage entry missing or too short
     */
    public Tensor tensor(String name, Device device) {
        Entry e = entry(name);
        if (device == null) throw new IllegalArgumentException("device is null");
        TorchPickle.TensorRef t = refs.get(name);
        String type = t.storage().type();
        int es = storedSize(type);
        if (t.size().length != t.stride().length) {
            throw new IllegalArgumentException(path + ": tensor '" + name + "' has " + t.size().length + " sizes but " + t.stride().length + " strides");
        }
        long numel = 1;
        long last = t.offset(); // the largest element index the view reads
        for (int i = 0; i < t.size().length; i++) {
            numel = Math.multiplyExact(numel, t.size()[i]);
            if (t.size()[i] > 0) last = Math.addExact(last, Math.multiplyExact(t.size()[i] - 1, t.stride()[i]));
        }
        if (numel > 0 && last >= t.storage().numel()) {
            throw new IllegalArgumentException(path + ": tensor '" + name + "' reads element " + last + " of a storage of "
                    + t.storage().numel());
        }
        if (numel > t.storage().numel() && numel * e.dtype().byteSize() > (1L << 30)) {
            // only zero or overlapping strides make a view larger than its storage: refuse to expand one past 1 GiB
            throw new IllegalArgumentException(path + ": tensor '" + name + "' is a " + numel + "-element view of a storage of "
                    + t.storage().numel() + " (a broadcast over 1 GiB); not expanded");
        }
        String entryName = archive + "data/" + t.storage().key();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment storage = numel == 0 ? MemorySegment.NULL
                    : readStorage(arena, entryName, Math.multiplyExact(t.storage().numel(), (long) es), name);
            if (!device.isCpu()) {
                MemorySegment host = arena.allocate(Math.max(1, numel * e.dtype().byteSize()), 64).asSlice(0, numel * e.dtype().byteSize());
                if (numel > 0) copyStrided(storage, t, es, type.equals("DoubleStorage"), host);
                return device.upload(e.dtype(), host, e.shape());
            }
            Tensor out = device.allocate(e.dtype(), e.shape());
            try {
                if (numel > 0) copyStrided(storage, t, es, type.equals("DoubleStorage"), out.hostSegment());
                return out;
            } catch (RuntimeException | Error x) {
                out.close();
                throw x;
            }
        }
    }

    private MemorySegment readStorage(Arena arena, String entryName, long bytes, String tensor) {
        ZipEntry ze = zip.getEntry(entryName);
        if (ze == null) throw new IllegalArgumentException(path + ": entry " + entryName + " (the storage of tensor '" + tensor + "') is missing");
        if (ze.getSize() >= 0 && ze.getSize() < bytes) {
            throw new IllegalArgumentException(path + ": entry " + entryName + " has " + ze.getSize() + " bytes but tensor '" + tensor
                    + "''s storage needs " + bytes);
        }
        // the entry's bytes must be able to exist before they are allocated: a stored entry lies in the file, a
        // deflated one expands at most ~1032× (a zip directory that lies about sizes cannot make this allocate more)
        long fileSize;
        try {
            fileSize = Files.size(path);
        } catch (IOException x) {
            throw new UncheckedIOException(path + ": cannot read: " + x.getMessage(), x);
        }
        long possible = ze.getMethod() == ZipEntry.STORED ? fileSize : Math.multiplyHigh(ze.getCompressedSize(), 1100L) != 0 ? Long.MAX_VALUE
                : ze.getCompressedSize() * 1100L;
        if (ze.getCompressedSize() < 0 || bytes > possible) {
            throw new IllegalArgumentException(path + ": entry " + entryName + " cannot hold the " + bytes + " bytes tensor '" + tensor
                    + "''s storage needs (the file has " + fileSize + ")");
        }
        MemorySegment seg = arena.allocate(Math.max(1, bytes), 64);
        try (InputStream s = zip.getInputStream(ze)) {
            byte[] buf = new byte[1 << 20];
            long off = 0;
            while (off < bytes) {
                int r = s.read(buf, 0, (int) Math.min(buf.length, bytes - off));
                if (r < 0) throw new IllegalArgumentException(path + ": entry " + entryName + " ends after " + off + " of " + bytes + " bytes");
                MemorySegment.copy(buf, 0, seg, ValueLayout.JAVA_BYTE, off, r);
                off += r;
            }
        } catch (IOException x) {
            throw new UncheckedIOException(path + ": cannot read entry " + entryName + ": " + x.getMessage(), x);
        }
        return seg;
    }

    /** Copies the strided view row-major into {@code dst}; float64 elements are rounded to fp32. */
    private static void copyStrided(MemorySegment src, TorchPickle.TensorRef t, int es, boolean f64, MemorySegment dst) {
        long[] size = t.size(), stride = t.stride();
        int rank = size.length;
        int outEs = f64 ? 4 : es;
        boolean contiguous = true;
        long expect = 1;
        for (int i = rank - 1; i >= 0; i--) {
            if (size[i] != 1 && stride[i] != expect) contiguous = false;
            expect *= size[i];
        }
        long numel = expect;
        if (contiguous && !f64) {
            MemorySegment.copy(src, t.offset() * es, dst, 0, numel * es);
            return;
        }
        long[] idx = new long[rank];
        ValueLayout.OfDouble d = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        ValueLayout.OfFloat fl = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (long k = 0; k < numel; k++) {
            long at = t.offset();
            for (int i = 0; i < rank; i++) at += idx[i] * stride[i];
            if (f64) dst.set(fl, k * 4, (float) src.get(d, at * 8));
            else MemorySegment.copy(src, at * es, dst, k * outEs, es);
            for (int i = rank - 1; i >= 0; i--) {
                if (++idx[i] < size[i]) break;
                idx[i] = 0;
            }
        }
    }

    /**
     * Writes the listed tensors (those under {@code prefix}, which is stripped, or all when it is
     * null or empty) to {@code out} as safetensors, one tensor in memory at a time.
     *
     * @return the number of tensors written
     * @throws IllegalArgumentException when no tensor is under {@code prefix}
     */
    public int writeSafeTensors(Path out, String prefix, Map<String, String> metadata) {
        ensureOpen();
        String p = prefix == null || prefix.isEmpty() ? "" : (prefix.endsWith(".") ? prefix : prefix + ".");
        Map<String, SafeTensors.Source> sources = new LinkedHashMap<>();
        try (Device cpu = Device.cpu()) {
            for (Entry e : entries.values()) {
                if (!e.name().startsWith(p) || e.name().length() == p.length()) continue;
                Supplier<Tensor> read = () -> tensor(e.name(), cpu);
                sources.put(e.name().substring(p.length()), new SafeTensors.Source(e.dtype(), e.shape(), read));
            }
            if (sources.isEmpty()) {
                throw new IllegalArgumentException(path + ": no tensor under '" + prefix + "' (" + entries.size() + " tensors listed"
                        + (entries.isEmpty() ? "" : ", e.g. " + entries.keySet().iterator().next()) + ")");
            }
            SafeTensors.writeSources(out, sources, metadata);
        }
        return sources.size();
    }

    /**
     * Converts a model folder's PyTorch weights: every {@code *.bin} / {@code *.pt} / {@code *.pth}
     * in {@code in} becomes a safetensors file in {@code out} ({@code pytorch_model} in its name
     * becomes {@code model}: {@code pytorch_model-00001-of-00002.bin} → {@code model-00001-of-00002.safetensors}),
     * {@code pytorch_model.bin.index.json} becomes {@code model.safetensors.index.json} with the
     * renamed shards, and when {@code out} is another folder the other small files a loader reads
     * (config.json, tokenizer files: {@code *.json}, {@code *.txt}, {@code *.model}) are copied.
     *
     * @return the files written, in order
     * @throws IllegalArgumentException when {@code in} has no PyTorch weights, or for a bad checkpoint (naming it)
     */
    public static List<Path> convertFolder(Path in, Path out) {
        if (in == null || !Files.isDirectory(in)) throw new IllegalArgumentException(in + ": not a folder");
        if (out == null) throw new IllegalArgumentException("out is null");
        List<Path> written = new ArrayList<>();
        try {
            Files.createDirectories(out);
            List<Path> weights, others;
            try (java.util.stream.Stream<Path> s = Files.list(in)) {
                List<Path> all = s.filter(Files::isRegularFile).sorted().toList();
                weights = all.stream().filter(p -> p.getFileName().toString().matches(".*\\.(bin|pt|pth)")).toList();
                others = all.stream().filter(p -> p.getFileName().toString().matches(".*\\.(json|txt|model)")
                        && !p.getFileName().toString().equals("pytorch_model.bin.index.json")).toList();
            }
            if (weights.isEmpty()) throw new IllegalArgumentException(in + ": no *.bin, *.pt or *.pth weights to convert");
            Map<String, String> renamed = new LinkedHashMap<>();
            for (Path w : weights) {
                String name = safeTensorsName(w.getFileName().toString());
                Path target = out.resolve(name);
                try (PyTorchCheckpoint c = open(w)) {
                    c.writeSafeTensors(target, null, Map.of("format", "pt", "converted_from", w.getFileName().toString()));
                }
                renamed.put(w.getFileName().toString(), name);
                written.add(target);
            }
            Path index = in.resolve("pytorch_model.bin.index.json");
            if (Files.isRegularFile(index)) {
                com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
                com.fasterxml.jackson.databind.JsonNode root = json.readTree(index.toFile());
                if (root == null || !root.path("weight_map").isObject()) {
                    throw new IllegalArgumentException(index + ": no \"weight_map\" object");
                }
                com.fasterxml.jackson.databind.node.ObjectNode map = (com.fasterxml.jackson.databind.node.ObjectNode) root.get("weight_map");
                for (var it = map.fields(); it.hasNext(); ) {
                    var e = it.next();
                    String to = renamed.get(e.getValue().asText());
                    if (to == null) throw new IllegalArgumentException(index + ": tensor '" + e.getKey() + "' is in " + e.getValue() + ", which is not in " + in);
                    e.setValue(json.getNodeFactory().textNode(to));
                }
                Path target = out.resolve("model.safetensors.index.json");
                Files.writeString(target, json.writerWithDefaultPrettyPrinter().writeValueAsString(root));
                written.add(target);
            }
            if (!Files.isSameFile(in, out)) {
                for (Path o : others) {
                    Path target = out.resolve(o.getFileName());
                    Files.copy(o, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    written.add(target);
                }
            }
            return written;
        } catch (IOException e) {
            throw new UncheckedIOException(in + ": cannot convert into " + out + ": " + e.getMessage(), e);
        }
    }

    /** {@code pytorch_model-00001-of-00002.bin} → {@code model-00001-of-00002.safetensors}; other names keep their stem. */
    static String safeTensorsName(String file) {
        String stem = file.replaceFirst("\\.(bin|pt|pth)$", "");
        if (stem.startsWith("pytorch_model")) stem = "model" + stem.substring("pytorch_model".length());
        return stem + ".safetensors";
    }

    private String text(String entry, int max) {
        ZipEntry ze = zip.getEntry(entry);
        return ze == null ? null : new String(bytesOf(entry, max), java.nio.charset.StandardCharsets.UTF_8);
    }

    private byte[] bytesOf(String entry, int max) {
        ZipEntry ze = zip.getEntry(entry);
        if (ze == null) throw new IllegalArgumentException(path + ": entry " + entry + " is missing");
        if (ze.getSize() > max) throw new IllegalArgumentException(path + ": entry " + entry + " is " + ze.getSize() + " bytes, over " + max);
        try (InputStream s = zip.getInputStream(ze)) {
            byte[] b = s.readNBytes(max + 1);
            if (b.length > max) throw new IllegalArgumentException(path + ": entry " + entry + " is over " + max + " bytes");
            return b;
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read entry " + entry + ": " + e.getMessage(), e);
        }
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException(path + ": PyTorchCheckpoint is closed");
    }

    /** Releases the zip; idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            zip.close();
        } catch (IOException ignored) {
            // nothing was written
        }
    }
}
