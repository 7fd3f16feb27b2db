package dev.surpass.kernels;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads an nvcc fatbin (pure Java, no cuobjdump): the entries of its containers, the kernel
 * symbols of each ELF cubin, and the entry points (with parameter types) of each PTX.
 *
 * <p>Layout, as written by nvcc 13.0 (little-endian throughout; a file may hold several
 * containers back to back):
 * <pre>
 * container header (16 B): u32 magic 0xBA55ED50, u16 version, u16 header size, u64 size of the entries
 * entry header (header size B, at least 64):
 *   +0 u16 kind (1 PTX, 2 ELF)   +2 u16 version   +4 u32 header size   +8 u64 payload size
 *   +16 u32 compressed size (0 when stored)   +28 u32 SM number (80, 90, …)
 *   +40 u64 flags: 0x1 64-bit, 0x10 linux, 0x2000/0x8000 compressed (lz4/zstd), 0x100000 arch-specific ("a")
 * payload (payload size B, padded): PTX text or an ELF64 cubin
 * </pre>
 * In a cubin a kernel is a symbol of type FUNC, binding GLOBAL, with st_other bit 0x10
 * (STO_CUDA_ENTRY); non-inlined device functions are FUNC but LOCAL and without that bit.
 * Compressed entries are reported as such and not decoded: the build passes --no-compress.
 *
 * <p>Run {@code main} with fatbin paths to print a summary.
 */
public final class FatbinSymbols {
    public static final int MAGIC = 0xBA55ED50;
    static final long FLAG_COMPRESSED_LZ4 = 0x2000;
    static final long FLAG_COMPRESSED_ZSTD = 0x8000;
    static final long FLAG_ARCH_SPECIFIC = 0x100000;

    private FatbinSymbols() {}

    public enum Kind { PTX, ELF, UNKNOWN }

    /** One fatbin entry; payload is the stored (possibly compressed) bytes. */
    public record Entry(Kind kind, int sm, long flags, int compressedSize, byte[] payload) {
        public boolean compressed() {
            return compressedSize != 0 || (flags & (FLAG_COMPRESSED_LZ4 | FLAG_COMPRESSED_ZSTD)) != 0;
        }

        /** "sm_90a" / "sm_80" for a cubin, "compute_80" for PTX. */
        public String arch() {
            String a = (flags & FLAG_ARCH_SPECIFIC) != 0 ? "a" : "";
            return (kind == Kind.PTX ? "compute_" : "sm_") + sm + a;
        }

        /** Kernel entry symbols of this cubin (sorted). */
        public TreeSet<String> kernels() {
            requireStored();
            if (kind != Kind.ELF) throw new IllegalStateException(arch() + " is not a cubin");
            return elfKernels(payload);
        }

        /** PTX text of this entry, without the zero padding. */
        public String ptx() {
            requireStored();
            if (kind != Kind.PTX) throw new IllegalStateException(arch() + " is not PTX");
            int end = payload.length;
            while (end > 0 && payload[end - 1] == 0) end--;
            return new String(payload, 0, end, StandardCharsets.UTF_8);
        }

        private void requireStored() {
            if (compressed()) {
                throw new IllegalStateException("fatbin entry " + arch() + " is compressed (flags 0x"
                        + Long.toHexString(flags) + "); the kernel build must pass nvcc --no-compress");
            }
        }

        @Override
        public String toString() {
            return kind + " " + arch() + " " + payload.length + " B" + (compressed() ? " compressed" : "");
        }
    }

    public static List<Entry> read(Path fatbin) throws IOException {
        return read(Files.readAllBytes(fatbin));
    }

    /** All entries of all containers in the file. */
    public static List<Entry> read(byte[] data) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        List<Entry> entries = new ArrayList<>();
        int pos = 0;
        while (pos + 16 <= data.length) {
            int magic = b.getInt(pos);
            if (magic != MAGIC) {
                if (!entries.isEmpty() && allZero(data, pos)) break;  // trailing padding
                throw new IllegalArgumentException(String.format(
                        "not a fatbin container at offset %d: magic 0x%08X, want 0x%08X", pos, magic, MAGIC));
            }
            int headerSize = Short.toUnsignedInt(b.getShort(pos + 6));
            long size = b.getLong(pos + 8);
            long end = pos + headerSize + size;
            if (headerSize < 16 || end > data.length) {
                throw new IllegalArgumentException("truncated fatbin container at offset " + pos);
            }
            int e = pos + headerSize;
            while (e < end) {
                int kindCode = Short.toUnsignedInt(b.getShort(e));
                int eh = b.getInt(e + 4);
                long payloadSize = b.getLong(e + 8);
                if (eh < 64 || e + eh + payloadSize > end) {
                    throw new IllegalArgumentException("bad fatbin entry header at offset " + e);
                }
                int compressedSize = b.getInt(e + 16);
                int sm = b.getInt(e + 28);
                long flags = b.getLong(e + 40);
                Kind kind = switch (kindCode) {
                    case 1 -> Kind.PTX;
                    case 2 -> Kind.ELF;
                    default -> Kind.UNKNOWN;
                };
                byte[] payload = new byte[Math.toIntExact(payloadSize)];
                System.arraycopy(data, e + eh, payload, 0, payload.length);
                entries.add(new Entry(kind, sm, flags, compressedSize, payload));
                e = Math.toIntExact(e + eh + payloadSize);
            }
            pos = Math.toIntExact(end);
        }
        if (entries.isEmpty()) throw new IllegalArgumentException("fatbin holds no entries");
        return entries;
    }

    private static boolean allZero(byte[] data, int from) {
        for (int i = from; i < data.length; i++) if (data[i] != 0) return false;
        return true;
    }

    /** Kernel entry symbols of an ELF64 cubin: FUNC, GLOBAL, st_other has STO_CUDA_ENTRY (0x10). */
    public static TreeSet<String> elfKernels(byte[] elf) {
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        if (elf.length < 64 || b.getInt(0) != 0x464C457F) throw new IllegalArgumentException("not an ELF");
        if (elf[4] != 2 || elf[5] != 1) throw new IllegalArgumentException("not a little-endian ELF64");
        long shoff = b.getLong(0x28);
        int shentsize = Short.toUnsignedInt(b.getShort(0x3A));
        int shnum = Short.toUnsignedInt(b.getShort(0x3C));
        TreeSet<String> kernels = new TreeSet<>();
        for (int i = 0; i < shnum; i++) {
            int sh = Math.toIntExact(shoff + (long) i * shentsize);
            if (b.getInt(sh + 4) != 2) continue;  // SHT_SYMTAB
            long off = b.getLong(sh + 24);
            long size = b.getLong(sh + 32);
            int link = b.getInt(sh + 40);
            long entsize = b.getLong(sh + 56);
            int strSh = Math.toIntExact(shoff + (long) link * shentsize);
            long strOff = b.getLong(strSh + 24);
            for (long s = off; s + entsize <= off + size; s += entsize) {
                int sym = Math.toIntExact(s);
                int name = b.getInt(sym);
                int info = Byte.toUnsignedInt(b.get(sym + 4));
                int other = Byte.toUnsignedInt(b.get(sym + 5));
                boolean func = (info & 0xF) == 2;
                boolean global = (info >> 4) == 1;
                if (func && global && (other & 0x10) != 0) kernels.add(cString(elf, Math.toIntExact(strOff + name)));
            }
        }
        return kernels;
    }

    /** The SM number in a cubin's e_flags (bits 8..15 for ELF ABI version ≥ 8, bits 0..7 before). */
    public static int elfSm(byte[] elf) {
        int flags = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN).getInt(0x30);
        return Byte.toUnsignedInt(elf[8]) >= 8 ? (flags >> 8) & 0xFF : flags & 0xFF;
    }

    private static final Pattern PTX_ENTRY = Pattern.compile("\\.entry\\s+([A-Za-z_$][\\w$]*)\\s*\\(([^)]*)\\)");
    private static final Pattern PTX_PARAM = Pattern.compile("\\.param\\s+(?:\\.align\\s+\\d+\\s+)?\\.(\\w+)");

    /** Entry points of a PTX module with their parameter types ("u64", "u32", "f32", …), in order. */
    public static Map<String, List<String>> ptxEntries(String ptx) {
        Map<String, List<String>> entries = new LinkedHashMap<>();
        Matcher m = PTX_ENTRY.matcher(ptx);
        while (m.find()) {
            List<String> params = new ArrayList<>();
            if (!m.group(2).isBlank()) {
                for (String p : m.group(2).split(",")) {
                    Matcher pm = PTX_PARAM.matcher(p);
                    params.add(pm.find() ? pm.group(1) : p.strip());
                }
            }
            entries.put(m.group(1), params);
        }
        return entries;
    }

    private static String cString(byte[] d, int from) {
        int end = from;
        while (end < d.length && d[end] != 0) end++;
        return new String(d, from, end - from, StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws IOException {
        for (String a : args) {
            System.out.println(a);
            for (Entry e : read(Path.of(a))) {
                System.out.println("  " + e);
                if (e.compressed()) continue;
                if (e.kind() == Kind.ELF) e.kernels().forEach(k -> System.out.println("    " + k));
                if (e.kind() == Kind.PTX) ptxEntries(e.ptx()).forEach((k, p) -> System.out.println("    " + k + p));
            }
        }
    }
}
