package dev.surpass.text;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code Precompiled} normalizer of a {@code tokenizer.json}: SentencePiece's compiled
 * normalization rules ({@code precompiled_charsmap}, base64), applied as HF tokenizers'
 * {@code spm_precompiled} crate applies them (which is not quite SentencePiece's own normalizer).
 *
 * <p>The blob is {@code u32 trie_size} (bytes, little-endian), a Darts-clone double array of
 * {@code trie_size / 4} little-endian {@code u32} units mapping a UTF-8 key to an offset into the
 * rest of the blob, and that rest: replacement strings, each ended by a NUL byte.
 *
 * <p>Normalization, as {@code Precompiled::normalize}: the text is cut into extended grapheme
 * clusters; a cluster shorter than 6 UTF-8 bytes is looked up whole, and when the trie has a key that
 * is a prefix of it the replacement of the <em>shortest</em> such key replaces the whole cluster
 * (the rest of the cluster is dropped: this is the crate's rule, kept for parity); otherwise each
 * character of the cluster is looked up alone the same way and replaced, or kept when no key is a
 * prefix of it. A lookup stops at a NUL byte of the text.
 *
 * <p>Thread rules: immutable.
 */
final class PrecompiledCharsMap {
    private static final Pattern GRAPHEME = Pattern.compile("\\X");

    private final int[] units;   // the double array
    private final byte[] strings; // NUL-terminated replacements

    private PrecompiledCharsMap(int[] units, byte[] strings) {
        this.units = units;
        this.strings = strings;
    }

    /**
     * Parses a base64 {@code precompiled_charsmap}.
     *
     * @throws IllegalArgumentException naming {@code where} and {@code field} when it is not base64,
     *                                  too short, or its replacement blob is not UTF-8
     */
    static PrecompiledCharsMap parse(String base64, String where, String field) {
        byte[] blob;
        try {
            blob = Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + field + " is not valid base64: " + e.getMessage(), e);
        }
        return parse(blob, where, field);
    }

    /** Parses the raw bytes of a charsmap (as stored in a SentencePiece {@code .model}'s normalizer_spec). */
    static PrecompiledCharsMap parse(byte[] blob, String where, String field) {
        if (blob.length < 4) throw new IllegalArgumentException(where + ": " + field + " has " + blob.length + " bytes; expected at least 4 (the trie size)");
        ByteBuffer b = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
        long trieBytes = b.getInt() & 0xFFFFFFFFL;
        // the crate reads trie_size / 4 whole units (a remainder is not skipped: it starts the strings)
        if (trieBytes / 4 * 4 > blob.length - 4L) {
            throw new IllegalArgumentException(where + ": " + field + " declares a " + trieBytes + "-byte trie but holds only " + (blob.length - 4) + " bytes after the size");
        }
        int n = (int) (trieBytes / 4);
        if (n == 0) throw new IllegalArgumentException(where + ": " + field + " has an empty trie");
        int[] units = new int[n];
        for (int i = 0; i < n; i++) units[i] = b.getInt();
        // the replacement strings start after the last whole unit (the crate consumes trie_size / 4 units)
        b.position(4 + n * 4);
        byte[] strings = new byte[blob.length - 4 - n * 4];
        b.get(strings);
        try {
            StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(strings));
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(where + ": " + field + ": the replacement strings are not valid UTF-8", e);
        }
        return new PrecompiledCharsMap(units, strings);
    }

    // Darts-clone unit fields (darts.h): has_leaf bit 8, value the low 31 bits, label the low 8 bits
    // plus bit 31 (set on value units so they never match a byte), offset bits 10.. shifted by 8 more
    // when bit 9 is set.
    private static boolean hasLeaf(int u) {
        return ((u >>> 8) & 1) == 1;
    }

    private static int value(int u) {
        return u & 0x7FFFFFFF;
    }

    private static int label(int u) {
        return u & (0x80000000 | 0xFF);
    }

    private static int offset(int u) {
        return (u >>> 10) << ((u & (1 << 9)) >>> 6);
    }

    /**
     * The replacement of the shortest trie key that is a prefix of {@code key[from, to)}, or null:
     * {@code DoubleArray::common_prefix_search} then {@code Precompiled::transform} (its first result).
     */
    private String transform(byte[] key, int from, int to) {
        int pos = 0;
        pos ^= offset(unit(0));
        for (int i = from; i < to; i++) {
            int c = key[i] & 0xFF;
            if (c == 0) break;
            pos ^= c;
            int u = unit(pos);
            if (label(u) != c) return null;
            pos ^= offset(u);
            if (hasLeaf(u)) return replacement(value(unit(pos)));
        }
        return null;
    }

    /** A unit, or 0 (matching no byte) outside the array, where the crate would panic. */
    private int unit(int pos) {
        return pos >= 0 && pos < units.length ? units[pos] : 0;
    }

    /** The NUL-terminated string at {@code index} of the replacement blob (to its end when unterminated). */
    private String replacement(int index) {
        if (index >= strings.length) return "";
        int end = index;
        while (end < strings.length && strings[end] != 0) end++;
        return new String(strings, index, end - index, StandardCharsets.UTF_8);
    }

    /** Normalizes {@code text} as {@code Precompiled::normalize} does (see the class comment). */
    String normalize(String text) {
        if (text.isEmpty()) return text;
        StringBuilder out = new StringBuilder(text.length());
        Matcher m = GRAPHEME.matcher(text);
        while (m.find()) {
            String g = m.group();
            byte[] gb = g.getBytes(StandardCharsets.UTF_8);
            if (gb.length < 6) {
                String r = transform(gb, 0, gb.length);
                if (r != null) {
                    out.append(r);
                    continue;
                }
            }
            for (int i = 0; i < g.length(); ) {
                int cp = g.codePointAt(i);
                int len = Character.charCount(cp);
                byte[] cb = g.substring(i, i + len).getBytes(StandardCharsets.UTF_8);
                String r = transform(cb, 0, cb.length);
                out.append(r != null ? r : g.substring(i, i + len));
                i += len;
            }
        }
        return out.toString();
    }
}
