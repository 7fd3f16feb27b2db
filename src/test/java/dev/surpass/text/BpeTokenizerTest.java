package dev.surpass.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A hand-made byte-level BPE (256 byte tokens + 10 merges) with exact expected ids, round trips and
 * streaming decode on random Unicode text, special tokens, validation messages; and GPT-2's real
 * vocabulary (from jtokkit's r50k_base ranks, turned into a tokenizer.json here) against jtokkit's
 * own encoder on random text and against known ids.
 */
class BpeTokenizerTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final long SEED = 20261127L;

    @TempDir
    static Path tmp;

    /** GPT-2's bytes_to_unicode, written independently of the class under test. */
    static String byteChar(int b) {
        int extra = 0;
        for (int x = 0; x < 256; x++) {
            boolean printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
            int c = printable ? x : 256 + extra++;
            if (x == b) return String.valueOf((char) c);
        }
        throw new AssertionError();
    }

    static String byteChars(byte[] bs) {
        StringBuilder sb = new StringBuilder();
        for (byte b : bs) sb.append(byteChar(b & 0xFF));
        return sb.toString();
    }

    static final String[] MERGES = {"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "e l"};

    /** The hand-made tokenizer: id b is byte b; merge i makes id 256 + i; added tokens 266, 267. */
    static ObjectNode small() {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        ArrayNode added = root.putArray("added_tokens");
        added.addObject().put("id", 266).put("content", "<|endoftext|>").put("single_word", false).put("lstrip", false)
                .put("rstrip", false).put("normalized", false).put("special", true);
        added.addObject().put("id", 267).put("content", "[X]").put("single_word", false).put("lstrip", true)
                .put("rstrip", false).put("normalized", true).put("special", false);
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
                .put("use_regex", true);
        root.putObject("post_processor").put("type", "ByteLevel").put("trim_offsets", false);
        root.putObject("decoder").put("type", "ByteLevel");
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        ObjectNode vocab = model.putObject("vocab");
        for (int b = 0; b < 256; b++) vocab.put(byteChar(b), b);
        ArrayNode merges = model.putArray("merges");
        for (int i = 0; i < MERGES.length; i++) {
            merges.add(MERGES[i]);
            vocab.put(MERGES[i].replace(" ", ""), 256 + i);
        }
        return root;
    }

    static BpeTokenizer smallTokenizer() {
        return BpeTokenizer.fromJson(small(), "small tokenizer.json");
    }

    @Test
    void handMadeVocabularyGivesExactIds() {
        BpeTokenizer t = smallTokenizer();
        assertEquals(268, t.vocabSize());
        assertArrayEquals(new int[] {259, 264}, t.encode("hello world"));
        // Ranks decide, not position: "l l" (rank 1) merges before "e l" (rank 9).
        assertArrayEquals(new int[] {'y', 'e', 257}, t.encode("yell"));
        // é is two bytes (C3 A9), each its own byte token; "l l" still merges.
        assertArrayEquals(new int[] {'h', 0xC3, 0xA9, 257, 'o'}, t.encode("héllo"));
        // The GPT-2 split: "'s" and " 2024" are their own pieces; the two spaces become " " + " world".
        assertArrayEquals(new int[] {259, '\'', 's', ' ', '2', '0', '2', '4', ' ', 264}, t.encode("hello's 2024  world"));
        // Newlines: "\n\n" is one piece of two byte tokens (Ċ = byte 10).
        assertArrayEquals(new int[] {259, 10, 10, 259}, t.encode("hello\n\nhello"));
        assertEquals("hello world", t.decode(new int[] {259, 264}));
        assertEquals("Ġworld", t.idToToken(264));
        assertEquals(262, t.tokenToId("Ġwor"));
        assertEquals(-1, t.tokenToId("nope"));
    }

    @Test
    void addedAndSpecialTokens() {
        BpeTokenizer t = smallTokenizer();
        assertArrayEquals(new int[] {259, 266, 264}, t.encode("hello<|endoftext|> world"));
        assertArrayEquals(new int[] {266, 266}, t.encode("<|endoftext|><|endoftext|>"));
        // lstrip: the space before [X] is absorbed into it
        assertArrayEquals(new int[] {259, 267, 259}, t.encode("hello [X]hello"));
        assertTrue(t.isSpecial(266));
        assertFalse(t.isSpecial(267));
        assertEquals("hello<|endoftext|> world", t.decode(new int[] {259, 266, 264}));
        assertEquals("hello world", t.decode(new int[] {259, 266, 264}, true));
        assertEquals("[X]", t.decode(new int[] {267}, true));
        var e = assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {1, 268}));
        assertTrue(e.getMessage().contains("ids[1] = 268"), e.getMessage());
    }

    /** Random text with ASCII, accents (precomposed and combining), CJK, emoji, digits, quotes and white space. */
    static String randomText(Random r, int len) {
        String[] parts = {"a", "Z", "q", "é", "e\u0301", "ñ", "ß", "中", "文", "😀", "👍🏽", "🇫🇷", "1", "42", " ", "  ", "\n", "\t", "\r\n",
            "'s", "'ll", "!", "?", ",", ".", "—", "€", "\u00a0", "ü", "ж", "λ", "\u200b", "'", "\"", "(", "#"};
        StringBuilder sb = new StringBuilder();
        while (sb.length() < len) sb.append(parts[r.nextInt(parts.length)]);
        return sb.toString();
    }

    @Test
    void roundTripAndStreamingOnRandomUnicode() {
        BpeTokenizer t = smallTokenizer();
        Random r = new Random(SEED);
        for (int i = 0; i < 200; i++) {
            String s = randomText(r, 1 + r.nextInt(60));
            int[] ids = t.encode(s);
            assertEquals(s, t.decode(ids), "seed " + SEED + " case " + i);
            assertEquals(s, streamed(t, ids, s), "seed " + SEED + " case " + i);
        }
    }

    /** Decodes id by id; checks that no half character is ever emitted. */
    static String streamed(Tokenizer t, int[] ids, String whole) {
        StreamDecoder d = t.newStreamDecoder(false);
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            String piece = d.push(id);
            if (!whole.contains("\uFFFD")) assertFalse(piece.contains("\uFFFD"), "a partial character was emitted: " + piece);
            sb.append(piece);
        }
        sb.append(d.finish());
        return sb.toString();
    }

    @Test
    void streamDecoderHoldsIncompleteUtf8() {
        BpeTokenizer t = smallTokenizer();
        byte[] emoji = "😀".getBytes(StandardCharsets.UTF_8); // F0 9F 98 80: four byte tokens
        StreamDecoder d = t.newStreamDecoder(false);
        assertEquals("h", d.push('h'));
        for (int i = 0; i < 3; i++) assertEquals("", d.push(emoji[i] & 0xFF));
        assertEquals("😀", d.push(emoji[3] & 0xFF));
        // A lone lead byte at the end becomes U+FFFD on finish; a byte that can never continue is not held.
        assertEquals("", d.push(0xE2));
        assertEquals("\uFFFD", d.finish());
        assertEquals("\uFFFD", d.push(0x80));
        // 0xED 0xA0 would start a surrogate, never valid: emitted at once, so the decoder is not stuck.
        assertEquals("", d.push(0xED));
        assertTrue(d.push(0xA0).contains("\uFFFD"));
        assertEquals("a", d.push('a'));
        assertEquals("", d.finish());
    }

    @Test
    void whitespaceAddedTokensAndSplitSequence() {
        // GPT-NeoX's added tokens for runs of spaces (non-special, normalized): cut out before the regex split.
        ObjectNode root = small();
        ((ArrayNode) root.get("added_tokens")).addObject().put("id", 268).put("content", "   ").put("special", false).put("normalized", true);
        BpeTokenizer t = BpeTokenizer.fromJson(root, "t");
        assertArrayEquals(new int[] {259, 268, 259}, t.encode("hello   hello"));
        assertArrayEquals(new int[] {259, 268, 264}, t.encode("hello    world")); // longest first: "   " then " world"
        assertEquals("hello    world", t.decode(t.encode("hello    world")));
        // Llama-3 style: a Split step, then ByteLevel without its own regex.
        ObjectNode seq = small();
        ObjectNode pt = seq.putObject("pre_tokenizer");
        pt.put("type", "Sequence");
        ArrayNode steps = pt.putArray("pretokenizers");
        steps.addObject().put("type", "Split").put("behavior", "Isolated").put("invert", false).putObject("pattern").put("Regex", "\\p{N}{1,3}| ?\\p{L}+|\\s+");
        steps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", false);
        BpeTokenizer l3 = BpeTokenizer.fromJson(seq, "t");
        assertArrayEquals(new int[] {259, '1', '2', '3', '4', 264}, l3.encode("hello1234 world"));
        assertEquals(259, l3.encode("hello")[0]);
    }

    @Test
    void bloomPreTokenizer() {
        // BLOOM's tokenizer.json: a Split on " ?[^(\\s|[.,!?…。，、।۔،])]+" (Isolated: the punctuation, brackets, bars and
        // lone spaces between matches stay pieces of their own), then ByteLevel without its regex
        ObjectNode root = small();
        ObjectNode pt = root.putObject("pre_tokenizer");
        pt.put("type", "Sequence");
        ArrayNode steps = pt.putArray("pretokenizers");
        steps.addObject().put("type", "Split").put("behavior", "Isolated").put("invert", false)
                .putObject("pattern").put("Regex", " ?[^(\\s|[.,!?…。，、।۔،])]+");
        steps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", false);
        BpeTokenizer t = BpeTokenizer.fromJson(root, "t");
        assertArrayEquals(new int[] {259, 264, '!'}, t.encode("hello world!"));
        assertArrayEquals(new int[] {259, ',', 264}, t.encode("hello, world"));
        assertArrayEquals(new int[] {259, ' ', 264}, t.encode("hello  world")); // the first space alone
        assertArrayEquals(new int[] {259, '(', 'w', 261, 263, ')'}, t.encode("hello(world)"));
        assertEquals("hello, world(!)", t.decode(t.encode("hello, world(!)")));
    }

    @Test
    void normalizerAndTemplate() {
        ObjectNode root = small();
        root.putObject("normalizer").put("type", "Sequence").putArray("normalizers").add(JSON.createObjectNode().put("type", "NFC"))
                .add(JSON.createObjectNode().put("type", "Lowercase"));
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        ArrayNode single = post.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", "<|endoftext|>").put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        post.putObject("special_tokens").putObject("<|endoftext|>").put("id", "<|endoftext|>").putArray("ids").add(266);
        BpeTokenizer t = BpeTokenizer.fromJson(root, "t");
        // "He\u0301llo" → NFC "Héllo" → lower "héllo"
        assertArrayEquals(new int[] {266, 'h', 0xC3, 0xA9, 257, 'o'}, t.encode("He\u0301LLO"));
        assertArrayEquals(new int[] {'h', 0xC3, 0xA9, 257, 'o'}, t.encode("He\u0301LLO", false));
    }

    /** RoBERTa's post-processor ({@code <s>} text {@code </s>}) and HF-style truncation that keeps the special tokens. */
    @Test
    void robertaProcessingAndTruncation() {
        ObjectNode root = small();
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "RobertaProcessing").put("trim_offsets", true).put("add_prefix_space", false);
        post.putArray("sep").add("<|endoftext|>").add(266);
        post.putArray("cls").add("<s>").add(267);
        BpeTokenizer t = BpeTokenizer.fromJson(root, "t");
        assertArrayEquals(new int[] {267, 259, 264, 266}, t.encode("hello world"));
        assertArrayEquals(new int[] {259, 264}, t.encode("hello world", false));
        assertArrayEquals(new int[] {267, 259, 264, 264, 266}, t.encode("hello world world", true, 0));
        assertArrayEquals(new int[] {267, 259, 264, 266}, t.encode("hello world world", true, 4));   // the text cut at its end
        assertArrayEquals(new int[] {267, 266}, t.encode("hello world world", true, 2));
        assertArrayEquals(new int[] {259, 264}, t.encode("hello world world", false, 2));
        assertArrayEquals(new int[] {267, 259, 264, 264, 266}, t.encode("hello world world", true, 9)); // short enough: unchanged
        var e = assertThrows(IllegalArgumentException.class, () -> t.encode("hello", true, 1));
        assertTrue(e.getMessage().contains("special tokens"), e.getMessage());
    }

    @Test
    void badFilesNameTheField() throws IOException {
        check(r -> ((ObjectNode) r.get("model")).remove("vocab"), "model.vocab");
        check(r -> ((ArrayNode) r.get("model").get("merges")).add("h e l"), "model.merges[10]");
        check(r -> ((ArrayNode) r.get("model").get("merges")).add("zz q"), "\"zz\" is not in model.vocab");
        check(r -> ((ObjectNode) r.get("model").get("vocab")).put("dup", 5), "id 5");
        check(r -> ((ObjectNode) r.get("model").get("vocab")).put("neg", -1), "model.vocab[\"neg\"]");
        check(r -> ((ObjectNode) r.get("model")).put("unk_token", "<unk>"), "model.unk_token");
        check(r -> ((ObjectNode) r.get("added_tokens").get(0)).remove("content"), "added_tokens[0].content");
        check(r -> ((ObjectNode) r.get("added_tokens").get(1)).put("id", 5), "added_tokens[1]");
        check(r -> r.putObject("normalizer").put("type", "BertNormalizer"), "normalizer.type");
        check(r -> r.putObject("pre_tokenizer").put("type", "Metaspace"), "pre_tokenizer.replacement");
        check(r -> r.putObject("pre_tokenizer").put("type", "Whitespace"), "pre_tokenizer.type");
        check(r -> ((ObjectNode) r.get("pre_tokenizer")).put("add_prefix_space", "yes"), "pre_tokenizer.add_prefix_space");
        check(r -> r.putNull("decoder"), "decoder");
        check(r -> r.putObject("post_processor").put("type", "BertProcessing"), "post_processor.cls");
        check(r -> r.putObject("post_processor").put("type", "PairProcessing"), "post_processor.type");
        // through the file loader: the path is named
        Path f = tmp.resolve("tokenizer.json");
        Files.writeString(f, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
        var e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("WordPiece"), e.getMessage());
        Files.writeString(f, "{not json");
        e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(f));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        Files.writeString(f, JSON.writeValueAsString(small()));
        assertArrayEquals(new int[] {259, 264}, Tokenizer.load(f).encode("hello world"));
        assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(tmp.resolve("absent.json")));
    }

    static void check(Consumer<ObjectNode> edit, String expected) {
        ObjectNode root = small();
        edit.accept(root);
        var e = assertThrows(IllegalArgumentException.class, () -> BpeTokenizer.fromJson(root, "edited.json"));
        assertTrue(e.getMessage().contains(expected) && e.getMessage().contains("edited.json"), e.getMessage());
    }

    // ---------------------------------------------------------------------------------------------
    // GPT-2's real vocabulary

    static BpeTokenizer gpt2;

    /**
     * GPT-2's tokenizer.json rebuilt from jtokkit's r50k_base ranks (id = rank, GPT-2's
     * encoder.json order): vocab = byte-level strings, merge for each token = the two parts that
     * BPE with lower ranks only leaves (how transformers converts tiktoken files), plus
     * {@code <|endoftext|>} = 50256.
     */
    static synchronized BpeTokenizer gpt2() throws IOException {
        if (gpt2 != null) return gpt2;
        java.util.Map<String, Integer> ranks = new java.util.HashMap<>();
        String[] byRank = new String[50256];
        try (var in = BpeTokenizerTest.class.getResourceAsStream("/com/knuddels/jtokkit/r50k_base.tiktoken")) {
            assertTrue(in != null, "jtokkit's r50k_base.tiktoken is not on the test class path");
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank()) continue;
                String[] p = line.trim().split(" ");
                String bytes = new String(java.util.Base64.getDecoder().decode(p[0]), StandardCharsets.ISO_8859_1);
                int rank = Integer.parseInt(p[1]);
                ranks.put(bytes, rank);
                byRank[rank] = bytes;
            }
        }
        ObjectNode root = small();
        ObjectNode model = (ObjectNode) root.get("model");
        ObjectNode vocab = model.putObject("vocab");
        ArrayNode merges = model.putArray("merges");
        for (int id = 0; id < byRank.length; id++) {
            String tok = byRank[id];
            vocab.put(byteChars(tok.getBytes(StandardCharsets.ISO_8859_1)), id);
            if (tok.length() < 2) continue;
            java.util.List<String> parts = new java.util.ArrayList<>();
            for (char c : tok.toCharArray()) parts.add(String.valueOf(c));
            while (true) {
                int best = -1, bestRank = id;
                for (int i = 0; i + 1 < parts.size(); i++) {
                    Integer rk = ranks.get(parts.get(i) + parts.get(i + 1));
                    if (rk != null && rk < bestRank) {
                        bestRank = rk;
                        best = i;
                    }
                }
                if (best < 0) break;
                parts.set(best, parts.get(best) + parts.remove(best + 1));
            }
            assertEquals(2, parts.size(), "token " + id);
            merges.add(byteChars(parts.get(0).getBytes(StandardCharsets.ISO_8859_1)) + " "
                    + byteChars(parts.get(1).getBytes(StandardCharsets.ISO_8859_1)));
        }
        ArrayNode added = root.putArray("added_tokens");
        added.addObject().put("id", 50256).put("content", "<|endoftext|>").put("single_word", false).put("lstrip", false)
                .put("rstrip", false).put("normalized", false).put("special", true);
        // through a file, as users load it
        Path f = tmp.resolve("gpt2-tokenizer.json");
        Files.writeString(f, JSON.writeValueAsString(root));
        gpt2 = (BpeTokenizer) Tokenizer.load(f);
        return gpt2;
    }

    @Test
    void gpt2KnownIds() throws IOException {
        BpeTokenizer t = gpt2();
        assertEquals(50257, t.vocabSize());
        assertArrayEquals(new int[] {15496, 995}, t.encode("Hello world"));
        assertArrayEquals(new int[] {15496, 11, 995, 0}, t.encode("Hello, world!"));
        assertArrayEquals(new int[] {15496, 50256}, t.encode("Hello<|endoftext|>"));
        assertEquals("Hello, world!", t.decode(new int[] {15496, 11, 995, 0}));
    }

    @Test
    void gpt2MatchesJtokkitOnRandomText() throws IOException {
        BpeTokenizer t = gpt2();
        var enc = com.knuddels.jtokkit.Encodings.newDefaultEncodingRegistry().getEncoding(com.knuddels.jtokkit.api.EncodingType.R50K_BASE);
        Random r = new Random(SEED + 1);
        String[] fixed = {"The quick brown fox jumps over the lazy dog.", "  leading and trailing  ", "I'm sure it's   fine\n\n\tok",
            "Ünïcödé façade — naïve café, 東京 2024!", "emoji 😀👍🏽 flags 🇫🇷🇩🇪", "x = f(a[1], b['s']) // 12345678901234567890",
            "Mamba: linear-time sequence modeling with selective state spaces"};
        for (String s : fixed) assertArrayEquals(enc.encodeOrdinary(s).toArray(), t.encode(s), s);
        for (int i = 0; i < 300; i++) {
            String s = randomText(r, 1 + r.nextInt(80));
            int[] ids = t.encode(s);
            assertArrayEquals(enc.encodeOrdinary(s).toArray(), ids, "seed " + (SEED + 1) + " case " + i + ": " + s);
            assertEquals(s, t.decode(ids));
            assertEquals(s, streamed(t, ids, s));
        }
    }
}
