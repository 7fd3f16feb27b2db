package dev.surpass.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Raw SentencePiece {@code .model} files: a ModelProto written here with a tiny protobuf writer
 * (pieces of every type, trainer_spec, normalizer_spec with a charsmap, unknown fields to skip),
 * read back field by field and tokenized as the converter's tokenizer.json would be; malformed
 * protobufs and non-Unigram models refused naming the file and field.
 */
class SentencePieceModelTest {
    /** Protobuf wire encoding, just enough for ModelProto. */
    static final class Proto {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Proto varint(long v) {
            while ((v & ~0x7FL) != 0) {
                out.write((int) (v & 0x7F) | 0x80);
                v >>>= 7;
            }
            out.write((int) v);
            return this;
        }

        Proto tag(int field, int wire) {
            return varint((long) field << 3 | wire);
        }

        Proto num(int field, long v) {
            return tag(field, 0).varint(v);
        }

        Proto bytes(int field, byte[] b) {
            tag(field, 2).varint(b.length);
            out.writeBytes(b);
            return this;
        }

        Proto str(int field, String s) {
            return bytes(field, s.getBytes(StandardCharsets.UTF_8));
        }

        Proto msg(int field, Proto m) {
            return bytes(field, m.out.toByteArray());
        }

        Proto f32(int field, float f) {
            tag(field, 5);
            int v = Float.floatToIntBits(f);
            for (int i = 0; i < 4; i++) out.write(v >>> (8 * i) & 0xFF);
            return this;
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }

    static Proto piece(String p, float score, int type) {
        Proto m = new Proto().str(1, p).f32(2, score);
        if (type != 1) m.num(3, type); // NORMAL is the default and left out, as protobuf does
        return m;
    }

    /** T5-like: <pad> <eos> <unk> (CONTROL, CONTROL, UNKNOWN), a USER_DEFINED piece, NORMAL pieces. */
    static byte[] model(int modelType, boolean withCharsMap) {
        Proto m = new Proto();
        m.msg(1, piece("<pad>", 0, 3)).msg(1, piece("</s>", 0, 3)).msg(1, piece("<unk>", 0, 2)).msg(1, piece("[X]", 0, 4));
        Object[][] normal = {{"▁", -2.5f}, {"▁hello", -4.25f}, {"▁world", -5f}, {"s", -3f}, {"▁wor", -6f}, {"ld", -6f}, {"é", -3.5f}, {"▁caf", -7f},
            {"fi", -3f}, {"▁fi", -4f}};
        for (Object[] p : normal) m.msg(1, piece((String) p[0], (float) p[1], 1));
        m.msg(1, piece("▁unused", 0, 5));
        Proto trainer = new Proto().str(1, "corpus.txt").num(3, modelType).num(4, 15).num(40, 2).num(41, -1).num(35, 0).f32(10, 0.9995f);
        m.msg(2, trainer);
        Proto norm = new Proto().str(1, "nmt_nfkc");
        if (withCharsMap) norm.bytes(2, DartsCharsMap.build(Map.of("ﬁ", "fi", "e\u0301", "é", "\u3000", " ")));
        norm.num(3, 1).num(4, 1).num(5, 1);
        m.msg(3, norm);
        m.tag(99, 1).varint(0); // an unknown fixed64 field... written as 8 bytes below
        byte[] b = m.bytes();
        byte[] out = Arrays.copyOf(b, b.length + 7); // the varint 0 above was 1 byte; 7 more make the fixed64
        return out;
    }

    @Test
    void readsAndTokenizesAsTheConvertedFile(@TempDir Path dir) throws Exception {
        SentencePieceModel m = SentencePieceModel.parse(model(1, true), "spiece.model");
        assertEquals(15, m.pieces().size());
        assertEquals(new SentencePieceModel.Piece("▁hello", -4.25f, SentencePieceModel.Type.NORMAL), m.pieces().get(5));
        assertEquals(SentencePieceModel.Type.UNUSED, m.pieces().get(14).type());
        assertEquals(1, m.modelType());
        assertEquals(2, m.unkId());
        assertTrue(m.addDummyPrefix() && m.removeExtraWhitespaces() && !m.byteFallback());
        Path f = dir.resolve("spiece.model");
        Files.write(f, model(1, true));
        Tokenizer t = Tokenizer.load(f);
        assertInstanceOf(UnigramTokenizer.class, t);
        // Strip right, runs of spaces to one ▁, Metaspace always; no post-processor
        assertArrayEquals(new int[] {5, 6}, t.encode("hello   world  "));
        // the charsmap: ideographic space, the ﬁ ligature, a decomposed é
        assertArrayEquals(new int[] {5, 6}, t.encode("hello\u3000world"));
        assertArrayEquals(new int[] {13, 11, 10}, t.encode("ﬁ cafe\u0301"));
        // CONTROL and USER_DEFINED pieces are added tokens matched on the raw text; only CONTROL is special
        assertArrayEquals(new int[] {5, 1, 3, 6}, t.encode("hello</s>[X] world"));
        assertTrue(t.isSpecial(1) && !t.isSpecial(3));
        assertEquals("hello world", t.decode(new int[] {5, 1, 6}, true));
        // an unknown character: unk_id 2
        assertArrayEquals(new int[] {5, 4, 2}, t.encode("hello q"));
        // the converted file has the SpmConverter structure
        var json = m.toTokenizerJson("spiece.model");
        assertEquals("Precompiled", json.at("/normalizer/normalizers/0/type").asText());
        assertEquals(-4.25, json.at("/model/vocab/5/1").asDouble());
        // without a charsmap and without remove_extra_whitespaces
        SentencePieceModel plain = SentencePieceModel.parse(model(1, false), "x.model");
        assertEquals(0, plain.precompiledCharsMap().length);
        assertArrayEquals(new int[] {5, 6}, plain.toTokenizer("x.model").encode("hello world"));
    }

    @Test
    void malformedModelsAreNamed(@TempDir Path dir) throws Exception {
        byte[] good = model(1, true);
        byte[][] bad = {
            Arrays.copyOf(good, good.length / 2),                 // truncated inside a message
            new byte[] {(byte) 0x0A, (byte) 0xFF},               // length runs past the end
            new byte[] {(byte) 0x0B, 0},                          // wire type 3 (groups)
            new byte[] {0, 0},                                    // field 0
            new Proto().num(2, 5).bytes(),                        // no pieces
            new Proto().msg(1, new Proto().f32(2, 1f)).bytes(),   // a piece without its string
            new Proto().msg(1, piece("a", 0, 9)).bytes(),         // unknown piece type
            new Proto().msg(1, new Proto().bytes(1, new byte[] {(byte) 0xC3})).bytes(), // invalid UTF-8
        };
        for (int i = 0; i < bad.length; i++) {
            Path f = dir.resolve("bad" + i + ".model");
            Files.write(f, bad[i]);
            int k = i;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(f), () -> "case " + k);
            assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        }
        Path bpe = dir.resolve("bpe.model");
        Files.write(bpe, model(2, true));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(bpe));
        assertTrue(e.getMessage().contains("trainer_spec.model_type") && e.getMessage().contains(bpe.toString()), e.getMessage());
        byte[] badMap = new Proto().msg(1, piece("<unk>", 0, 2)).msg(3, new Proto().bytes(2, new byte[] {1, 2})).bytes();
        e = assertThrows(IllegalArgumentException.class, () -> SentencePieceModel.parse(badMap, "m.model").toTokenizer("m.model"));
        assertTrue(e.getMessage().contains("normalizer_spec.precompiled_charsmap"), e.getMessage());
    }
}
