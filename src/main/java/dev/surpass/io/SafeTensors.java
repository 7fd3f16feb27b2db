package dev.surpass.io;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.surpass.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Reads and writes the safetensors format (huggingface/safetensors): an 8-byte little-endian
 * header length {@code N}, {@code N} bytes of UTF-8 JSON
 * ({@code {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
 * "__metadata__": {"k": "v"}}}), then the tensors' bytes, contiguous, offsets relative to the byte
 * after the header.
 *
 * <p>Reading memory-maps the file and validates the whole header at {@link #open(Path)}: a file
 * that opens has every tensor's byte range inside the file, non-overlapping, and exactly the size
 * its dtype and shape need. Malformed files throw {@link SafeTensorsFormatException} (an
 * {@link IllegalArgumentException}) naming the file, the tensor and the problem; I/O failures throw
 * {@link UncheckedIOException} naming the file. No input makes the reader allocate more than the
 * header's (capped) size or read outside the mapping.
 *
 * <p>Dtypes: every dtype the format defines opens (see {@link TensorInfo#dtypeName()}); surpass
 * tensors are made for F32, F16, BF16, I32 and I64, and the others are readable as raw bytes.
 */
public final class SafeTensors {
    private SafeTensors() {}

    /** Largest header accepted (100 MiB; the reference reader's limit is 100 MB). */
    public static final int MAX_HEADER_BYTES = 100 << 20;

    private static final System.Logger LOG = System.getLogger("dev.surpass.io");
    private static final JsonFactory JSON_OUT = new JsonFactory();
    private static final long WRITE_CHUNK = 64L << 20;

    /**
     * Opens, maps and validates {@code file}. Close the result to unmap it.
     *
     * @throws SafeTensorsFormatException when the file is not valid safetensors
     * @throws UncheckedIOException       when it cannot be read (missing, a directory, no permission)
     */
    public static SafeTensorsFile open(Path file) {
        Objects.requireNonNull(file, "file");
        if (Files.isDirectory(file)) throw io(file, "is a directory, not a safetensors file", new IOException(file + " is a directory"));
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new SafeTensorsFormatException(file, null,
                        "file is " + size + " bytes, shorter than the 8-byte header length that starts a safetensors file");
            }
            ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, prefix, 0);
            long n = prefix.getLong(0);
            if (n < 0 || n > MAX_HEADER_BYTES) {
                throw new SafeTensorsFormatException(file, null, "header length " + Long.toUnsignedString(n)
                        + " exceeds the " + MAX_HEADER_BYTES + "-byte limit" + hint(prefix));
            }
            if (n > size - 8) {
                throw new SafeTensorsFormatException(file, null, "header length " + n + " runs past the end of the file ("
                        + size + " bytes): truncated or not a safetensors file" + hint(prefix));
            }
            if (n == 0) throw new SafeTensorsFormatException(file, null, "header length is 0: there is no JSON header");
            byte[] json = new byte[(int) n];
            readFully(ch, ByteBuffer.wrap(json), 8);
            long dataSize = size - 8 - n;
            Header header = Header.parse(file, json, dataSize, size);
            for (String w : header.warnings()) LOG.log(System.Logger.Level.DEBUG, file + ": " + w);
            Arena arena = Arena.ofShared();
            try {
                MemorySegment whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                MemorySegment data = whole.asSlice(8 + n, dataSize).asReadOnly();
                return new SafeTensorsFile(file, header, arena, data, size, n);
            } catch (IOException | RuntimeException | Error e) {
                arena.close();
                throw e;
            }
        } catch (NoSuchFileException e) {
            throw io(file, "no such file", e);
        } catch (IOException e) {
            throw io(file, "cannot read: " + e.getMessage(), e);
        }
    }

    /** Writes {@code tensors} (in iteration order) with no metadata. See {@link #write(Path, Map, Map)}. */
    public static void write(Path file, Map<String, Tensor> tensors) {
        write(file, tensors, null);
    }

    /**
     * Writes {@code tensors} to {@code file} in safetensors format: tensors in the map's iteration
     * order (use a {@link java.util.LinkedHashMap}), data contiguous, header padded with spaces to a
     * multiple of 8 bytes, {@code metadata} (may be null or empty) as {@code __metadata__}.
     * Tensors may live on any device (GPU tensors are downloaded in chunks). The bytes go to a
     * temporary file in the same folder, which is synced and then renamed over {@code file}, so
     * readers never see a half-written file and a file mapped by an open {@link SafeTensorsFile}
     * may be replaced safely.
     *
     * @throws IllegalArgumentException on a null or reserved name ({@code __metadata__}), a null
     *                                  tensor, or null metadata keys or values
     * @throws UncheckedIOException     when the file cannot be written (the temporary file is removed)
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        Objects.requireNonNull(file, "file");
        if (tensors == null) throw new IllegalArgumentException("tensors map is null");
        Map<String, Source> sources = new java.util.LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            if (e.getKey() == null) throw new IllegalArgumentException("tensors map has a null name");
            if (t == null) throw new IllegalArgumentException("tensor '" + printable(e.getKey()) + "' is null");
            if (t.isClosed()) throw new IllegalStateException("tensor '" + printable(e.getKey()) + "' (" + t + ") is closed");
            sources.put(e.getKey(), new Source(t.dtype(), t.shape(), () -> t, false));
        }
        writeSources(file, sources, metadata);
    }

    /**
     * A tensor to write whose bytes are made when its turn comes: {@link #writeSources} asks
     * {@code tensor} for it after the header is written and closes it after writing when
     * {@code owned}, so a converter holds one tensor in memory at a time.
     */
    record Source(dev.surpass.DType dtype, long[] shape, java.util.function.Supplier<Tensor> tensor, boolean owned) {
        Source(dev.surpass.DType dtype, long[] shape, java.util.function.Supplier<Tensor> tensor) {
            this(dtype, shape, tensor, true);
        }

        long byteSize() {
            return dev.surpass.Shapes.byteSize(dtype, shape);
        }
    }

    /** {@link #write(Path, Map, Map)} over lazily made tensors (each must have its source's dtype and shape). */
    static void writeSources(Path file, Map<String, Source> tensors, Map<String, String> metadata) {
        Objects.requireNonNull(file, "file");
        byte[] header = header(tensors, metadata);
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null) throw new IllegalArgumentException(file + " is not a file path");
        Path tmp = null;
        try {
            FileChannel ch = null;
            for (int attempt = 0; ch == null; attempt++) {
                tmp = dir.resolve("." + abs.getFileName() + "." + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + ".tmp");
                try {
                    ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                } catch (FileAlreadyExistsException e) {
                    if (attempt > 8) throw e;
                }
            }
            try (FileChannel c = ch) {
                ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
                writeFully(c, prefix);
                writeFully(c, ByteBuffer.wrap(header));
                for (Map.Entry<String, Source> e : tensors.entrySet()) {
                    Source src = e.getValue();
                    Tensor t = src.tensor().get();
                    try {
                        if (t.dtype() != src.dtype() || !java.util.Arrays.equals(t.shape(), src.shape())) {
                            throw new IllegalStateException("tensor '" + printable(e.getKey()) + "' came as " + t + " but its header says "
                                    + src.dtype() + " " + java.util.Arrays.toString(src.shape()));
                        }
                        writeTensor(c, t);
                    } finally {
                        if (src.owned()) t.close();
                    }
                }
                c.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw io(file, "cannot write: " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the failure being reported matters more
                }
            }
        }
    }

    /** The padded JSON header for {@code tensors}; validates names and metadata. */
    private static byte[] header(Map<String, Source> tensors, Map<String, String> metadata) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON_OUT.createGenerator(out, JsonEncoding.UTF8)) {
            g.writeStartObject();
            if (metadata != null && !metadata.isEmpty()) {
                g.writeObjectFieldStart(Header.METADATA_KEY);
                for (Map.Entry<String, String> e : metadata.entrySet()) {
                    if (e.getKey() == null) throw new IllegalArgumentException("metadata has a null key");
                    if (e.getValue() == null) throw new IllegalArgumentException("metadata key '" + printable(e.getKey()) + "' has a null value");
                    g.writeStringField(e.getKey(), e.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (Map.Entry<String, Source> e : tensors.entrySet()) {
                String name = e.getKey();
                Source t = e.getValue();
                if (name == null) throw new IllegalArgumentException("tensors map has a null name");
                if (Header.METADATA_KEY.equals(name)) throw new IllegalArgumentException("'__metadata__' is reserved and cannot name a tensor");
                long end = Math.addExact(offset, t.byteSize());
                g.writeObjectFieldStart(name);
                g.writeStringField("dtype", t.dtype().safetensorsName());
                g.writeArrayFieldStart("shape");
                for (long d : t.shape()) g.writeNumber(d);
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                g.writeNumber(end);
                g.writeEndArray();
                g.writeEndObject();
                offset = end;
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
        }
        int pad = (8 - out.size() % 8) % 8;
        for (int i = 0; i < pad; i++) out.write(' ');
        if (out.size() > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("safetensors header would be " + out.size() + " bytes, over the " + MAX_HEADER_BYTES
                    + "-byte limit readers accept (too many tensors, or metadata too large)");
        }
        return out.toByteArray();
    }

    private static void writeTensor(FileChannel c, Tensor t) throws IOException {
        long size = t.byteSize();
        if (size == 0) return;
        if (t.device().isCpu()) {
            MemorySegment s = t.hostSegment();
            for (long off = 0; off < size; off += WRITE_CHUNK) {
                writeFully(c, s.asSlice(off, Math.min(WRITE_CHUNK, size - off)).asByteBuffer());
            }
            return;
        }
        // A device tensor: download a chunk at a time so a huge tensor needs little host memory.
        try (Arena a = Arena.ofConfined()) {
            MemorySegment staging = a.allocate(Math.min(WRITE_CHUNK, size), 64);
            for (long off = 0; off < size; off += WRITE_CHUNK) {
                long len = Math.min(WRITE_CHUNK, size - off);
                MemorySegment chunk = staging.asSlice(0, len);
                t.device().backend().copyToHost(t.storage(), t.byteOffset() + off, chunk, len);
                writeFully(c, chunk.asByteBuffer());
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer dst, long position) throws IOException {
        long pos = position;
        while (dst.hasRemaining()) {
            int r = ch.read(dst, pos);
            if (r < 0) throw new IOException("unexpected end of file at byte " + pos + " (the file shrank while being read?)");
            pos += r;
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer src) throws IOException {
        while (src.hasRemaining()) ch.write(src);
    }

    private static UncheckedIOException io(Path file, String what, IOException cause) {
        return new UncheckedIOException(file + ": " + what, cause);
    }

    /** A hint for files that are something else (a PyTorch zip or pickle checkpoint). */
    private static String hint(ByteBuffer prefix) {
        int b0 = prefix.get(0) & 0xff, b1 = prefix.get(1) & 0xff;
        if (b0 == 'P' && b1 == 'K') return " (this looks like a zip file, e.g. a PyTorch .bin/.pt checkpoint, not safetensors: `surpass convert FILE OUT.safetensors` converts one)";
        if (b0 == 0x80 && b1 >= 2 && b1 <= 5) return " (this looks like a Python pickle, not safetensors)";
        if (b0 == '{') return " (this looks like a JSON file, not safetensors)";
        if (b0 == 'G' && b1 == 'G' && prefix.get(2) == 'U' && prefix.get(3) == 'F') return " (this looks like a GGUF file, not safetensors)";
        return "";
    }

    /** {@code s} safe to print: control characters escaped, cut at 200 chars. */
    static String printable(String s) {
        return printable(s, 200);
    }

    static String printable(String s, int max) {
        if (s == null) return "null";
        StringBuilder sb = new StringBuilder(Math.min(s.length(), max) + 8);
        for (int i = 0; i < s.length(); i++) {
            if (sb.length() >= max) {
                sb.append("…(").append(s.length()).append(" chars)");
                break;
            }
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || (Character.isISOControl(c))) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.toString();
    }
}
