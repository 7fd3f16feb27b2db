package dev.surpass.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * WordPiece with all-MiniLM-L6-v2's {@code tokenizer.json} (the uncased BERT vocabulary, from the
 * test-scope Maven artifact). Expected ids are worked out by hand from the vocabulary: the pieces
 * are what greedy longest-match-first gives, and each piece's id is asserted from the vocab too,
 * so a wrong split and a wrong id both fail.
 */
class WordPieceTokenizerTest {
    @TempDir
    static Path tmp;
    static WordPieceTokenizer tok;

    @BeforeAll
    static void load() throws IOException {
        Path f = tmp.resolve("tokenizer.json");
        try (InputStream in = WordPieceTokenizerTest.class.getClassLoader().getResourceAsStream("all-minilm-l6-v2-tokenizer.json")) {
            org.junit.jupiter.api.Assumptions.assumeTrue(in != null,
                    "all-minilm-l6-v2-tokenizer.json is not on the test class path (test-scope dependency, left out of `surpass bundle`): skipped");
            Files.write(f, in.readAllBytes());
        }
        Tokenizer t = Tokenizer.load(f); // dispatches on model.type
        tok = assertInstanceOf(WordPieceTokenizer.class, t);
    }

    int id(String token) {
        int i = tok.tokenToId(token);
        assertTrue(i >= 0, "'" + token + "' should be in the vocabulary");
        return i;
    }

    @Test
    void vocabularyIsTheUncasedBertOne() {
        assertEquals(30522, tok.vocabSize());
        assertEquals(101, id("[CLS]"));
        assertEquals(102, id("[SEP]"));
        assertEquals(100, id("[UNK]"));
        assertEquals(0, id("[PAD]"));
        assertEquals(7592, id("hello"));
        assertEquals(2088, id("world"));
        assertEquals(128, tok.maxLength());
        assertTrue(tok.isSpecial(101) && !tok.isSpecial(7592));
    }

    @Test
    void simpleSentences() {
        assertArrayEquals(new int[] {101, 7592, 2088, 102}, tok.encode("hello world"));
        assertArrayEquals(new int[] {7592, 2088}, tok.encode("hello world", false));
        // data-and-models.md §1 gives these ids for this sentence (from an independent numpy run).
        assertArrayEquals(new int[] {101, 1037, 2158, 2003, 5983, 2833, 1012, 102}, tok.encode("A man is eating food."));
        assertArrayEquals(new int[] {101, 102}, tok.encode(""));
        assertArrayEquals(new int[] {101, 102}, tok.encode(" \t\n "));
    }

    @Test
    void normalizerLowercasesStripsAccentsAndSplitsPunctuation() {
        // "Héllo, WORLD!" → NFD drops the accent, lower-cased; ',' and '!' are words of their own.
        assertArrayEquals(new int[] {101, 7592, id(","), 2088, id("!"), 102}, tok.encode("Héllo, WORLD!"));
        assertEquals(1010, id(","));
        assertEquals(999, id("!"));
        // "Café naïve" → "cafe naive"
        assertArrayEquals(new int[] {101, 7668, 15743, 102}, tok.encode("Café naïve"));
        // CJK ideographs become words of their own even without spaces.
        assertArrayEquals(new int[] {101, id("中"), id("文"), 102}, tok.encode("中文"));
        // clean_text: NUL and other controls vanish, tab becomes a space: "a\0b\tc" → "ab c".
        assertArrayEquals(new int[] {101, id("ab"), id("c"), 102}, tok.encode("a\u0000b\tc\u0007"));
        // "$5" → '$' is ASCII punctuation for BERT
        assertArrayEquals(new int[] {101, id("$"), id("5"), 102}, tok.encode("$5"));
    }

    @Test
    void wordPiecesUseTheContinuationPrefix() {
        // tokenization → token ##ization; embeddings → em ##bed ##ding ##s (greedy longest match)
        assertArrayEquals(new int[] {101, 19204, 3989, 102}, tok.encode("tokenization"));
        assertEquals(19204, id("token"));
        assertEquals(3989, id("##ization"));
        assertEquals(-1, tok.tokenToId("tokenization"));
        assertArrayEquals(new int[] {101, 7861, 8270, 4667, 2015, 102}, tok.encode("Embeddings"));
        assertArrayEquals(new int[] {7861, 8270, 4667, 2015}, new int[] {id("em"), id("##bed"), id("##ding"), id("##s")});
        // a character the vocabulary lacks makes the whole word [UNK]
        assertArrayEquals(new int[] {101, 7592, 100, 102}, tok.encode("hello 😀"));
        // a word over max_input_chars_per_word (100) is [UNK]
        assertArrayEquals(new int[] {101, 100, 102}, tok.encode("a".repeat(101)));
        assertTrue(java.util.Arrays.stream(tok.encode("a".repeat(100))).noneMatch(i -> i == 100), "100 chars is still split into pieces");
    }

    @Test
    void specialTokensInTheTextAndTruncation() {
        assertArrayEquals(new int[] {101, 1037, 102, 1038, 102}, tok.encode("a [SEP] b"));
        String longText = "hello world ".repeat(200);
        int[] ids = tok.encode(longText); // truncation.max_length 128 from the file
        assertEquals(128, ids.length);
        assertEquals(101, ids[0]);
        assertEquals(102, ids[127]);
        assertEquals(7592, ids[1]);
        int[] cut = tok.encode(longText, true, 7);
        assertArrayEquals(new int[] {101, 7592, 2088, 7592, 2088, 7592, 102}, cut);
        assertEquals(400, tok.encode(longText, false, 0).length);
        assertThrows(IllegalArgumentException.class, () -> tok.encode("x", true, 1));
        assertThrows(IllegalArgumentException.class, () -> tok.encode(null, true));
    }

    /**
     * Ids from Hugging Face's own tokenizers library (Rust, through DJL's
     * ai.djl.huggingface:tokenizers 0.38.0, run once on 2026-11-27 on this tokenizer.json with
     * truncation at 256): non-ASCII scripts, accents, ligatures, full-width letters, zero-width and
     * soft-hyphen characters, symbols, emoji, special tokens in the text.
     */
    @Test
    void matchesHuggingFaceTokenizers() {
        Object[][] golden = {
            {"Größere Häuser — naïve café, 東京 2024!",
                new int[] {101, 24665, 2080, 17499, 2890, 5292, 20330, 1517, 15743, 7668, 1010, 1879, 1755, 16798, 2549, 999, 102}},
            {"zero\u200bwidth soft\u00adhyphen", new int[] {101, 5717, 9148, 11927, 2232, 3730, 10536, 8458, 2368, 102}},
            {"ﬁ ligature ｆｕｌｌｗｉｄｔｈ", new int[] {101, 1984, 8018, 11244, 100, 102}},
            {"中文 test", new int[] {101, 1746, 1861, 3231, 102}},
            {"Привет, как дела?",
                new int[] {101, 1194, 16856, 10325, 25529, 15290, 22919, 1010, 1189, 10260, 23925, 1184, 15290, 29436, 10260, 1029, 102}},
            {"Emoji only: 😀🎉🚀", new int[] {101, 7861, 29147, 2072, 2069, 1024, 100, 102}},
            {"[CLS] hello [SEP] world [MASK]", new int[] {101, 101, 7592, 102, 2088, 103, 102}},
            {"Ångström, Æsir, Øresund, Þórr",
                new int[] {101, 17076, 15687, 1010, 1097, 29481, 1010, 1100, 6072, 8630, 1010, 1101, 2953, 2099, 102}},
            {"Mathematics: ∑ x² ≥ 0, ∀ x ∈ ℝ", new int[] {101, 5597, 1024, 100, 1060, 10701, 1609, 1014, 1010, 100, 1060, 1596, 1579, 102}},
        };
        for (Object[] g : golden) assertArrayEquals((int[]) g[1], tok.encode((String) g[0], true, 256), (String) g[0]);
    }

    @Test
    void decodeJoinsPieces() {
        assertEquals("[CLS] hello world! [SEP]", tok.decode(tok.encode("Hello world!")));
        assertEquals("embeddings, tokenization.", tok.decode(tok.encode("Embeddings, tokenization."), true));
        var e = assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {7592, 40000}));
        assertTrue(e.getMessage().contains("ids[1]"), e.getMessage());
    }

    @Test
    void rejectsOtherModelsByField() throws IOException {
        Path f = tmp.resolve("bad.json");
        Files.writeString(f, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, \"unk_token\": \"[UNK]\"},"
                + " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}");
        var e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(f));
        assertTrue(e.getMessage().contains("unk_token"), e.getMessage());
        Files.writeString(f, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}");
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(f));
        assertTrue(e.getMessage().contains("pre_tokenizer.type"), e.getMessage());
    }

    /** MPNet's tokenizer.json (all-mpnet-base-v2): WordPiece with a RobertaProcessing post-processor, cls/sep as [token, id] pairs. */
    @Test
    void robertaProcessingAddsItsClsAndSepPairs() throws IOException {
        Path f = tmp.resolve("mpnet-tokenizer.json");
        String json = "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\","
                + " \"max_input_chars_per_word\": 100, \"vocab\": {\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"[UNK]\": 3, \"hello\": 4,"
                + " \"world\": 5, \"##s\": 6, \".\": 7}}, \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true},"
                + " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"post_processor\": {\"type\": \"RobertaProcessing\","
                + " \"sep\": [\"</s>\", 2], \"cls\": [\"<s>\", 0], \"trim_offsets\": true, \"add_prefix_space\": false}}";
        Files.writeString(f, json);
        Tokenizer t = Tokenizer.load(f);
        assertArrayEquals(new int[] {0, 4, 5, 6, 7, 2}, t.encode("Hello worlds.", true));
        assertArrayEquals(new int[] {4, 5, 6, 7}, t.encode("Hello worlds.", false));
        Files.writeString(f, json.replace("[\"<s>\", 0]", "[\"<s>\"]"));
        var e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(f));
        assertTrue(e.getMessage().contains("post_processor.cls") && e.getMessage().contains(f.getFileName().toString()), e.getMessage());
    }
}
