package dev.surpass.text;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.function.IntFunction;

/**
 * Turns ids that arrive one at a time into text as soon as it is complete. A byte-level token may
 * end inside a multi-byte UTF-8 character (an emoji is often two or three tokens): those bytes are
 * held back until the character completes, so the concatenation of everything {@link #push}
 * and {@link #finish} return equals {@link Tokenizer#decode} of all the ids.
 *
 * <p>Thread rules: one thread at a time.
 */
public final class StreamDecoder {
    private final IntFunction<byte[]> bytesOf;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    /** {@code bytesOf} gives a token's bytes (empty to skip it); it validates the id. */
    StreamDecoder(IntFunction<byte[]> bytesOf) {
        this.bytesOf = bytesOf;
    }

    /** Adds one id; returns the text that is now complete (often empty while a character is open). */
    public String push(int id) {
        pending.writeBytes(bytesOf.apply(id));
        byte[] b = pending.toByteArray();
        int cut = completePrefix(b);
        pending.reset();
        pending.write(b, cut, b.length - cut);
        return new String(b, 0, cut, StandardCharsets.UTF_8);
    }

    /** The held-back bytes (an unfinished character becomes U+FFFD), and resets the decoder. */
    public String finish() {
        byte[] b = pending.toByteArray();
        pending.reset();
        return new String(b, StandardCharsets.UTF_8);
    }

    /**
     * Length of the longest prefix that does not end inside a character that could still complete:
     * the tail after the last lead byte is held back when it is a valid but short sequence.
     */
    static int completePrefix(byte[] b) {
        int n = b.length;
        // A UTF-8 character is at most 4 bytes, so only the last 3 can belong to an open one.
        for (int back = 1; back <= Math.min(3, n); back++) {
            int v = b[n - back] & 0xFF;
            if ((v & 0xC0) == 0x80) continue; // continuation byte: look further back
            int need = v >= 0xF0 && v <= 0xF4 ? 4 : v >= 0xE0 ? 3 : v >= 0xC2 && v < 0xE0 ? 2 : 1;
            if (need <= back) return n; // complete (or not a lead byte): nothing to hold
            // Second-byte ranges that keep the sequence valid (Unicode table 3-7).
            if (back >= 2) {
                int s = b[n - back + 1] & 0xFF;
                int lo = 0x80, hi = 0xBF;
                if (v == 0xE0) lo = 0xA0;
                if (v == 0xED) hi = 0x9F;
                if (v == 0xF0) lo = 0x90;
                if (v == 0xF4) hi = 0x8F;
                if (s < lo || s > hi) return n;
            }
            return n - back;
        }
        return n;
    }
}
