package dev.surpass.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ClipTokenizer} on a small CLIP-shaped vocabulary written here (the 256 byte symbols, the
 * same with "</w>", a few merges, then the two specials, as CLIP's vocab.json is laid out), with
 * expected ids spelled out from the slow CLIPTokenizer's rules. The id-for-id comparison with a
 * transcription of the slow tokenizer over awkward strings is {@code tools/parity/hf_clip_parity.py}.
 */
class ClipTokenizerTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String[] MERGES = {"h e", "l l", "he ll", "hell o</w>", "w o", "r l", "wo rl", "worl d</w>", "c a", "ca t</w>",
        "a b", "b c</w>", "y z</w>", "x y"};

    @TempDir
    static Path tmp;
    static Map<String, Integer> vocab;
    static Path sd1, sd2;

    @BeforeAll
    static void write() throws Exception {
        vocab = smallVocab();
        sd1 = folder("sd1", "<|endoftext|>");
        sd2 = folder("sd2", "!");
    }

    /** CLIP's layout on a small scale: the 256 byte symbols, the same with "</w>" (but "q</w>"), the merges, the two specials. */
    static Map<String, Integer> smallVocab() {
        Map<String, Integer> v = new LinkedHashMap<>();
        List<String> symbols = new ArrayList<>();
        for (int b = 0; b < 256; b++) symbols.add(BpeTokenizer.bytesToChars(new byte[] {(byte) b}));
        // CLIP's order: bytes_to_unicode's printable bytes first ("!" is id 0), then the rest
        symbols.sort((x, y) -> Integer.compare(order(x), order(y)));
        for (String s : symbols) v.put(s, v.size());
        for (String s : symbols) if (!s.equals("q")) v.put(s + "</w>", v.size()); // "q</w>" left out: an unknown symbol
        for (String m : MERGES) v.putIfAbsent(m.replace(" ", ""), v.size());
        v.put("<|startoftext|>", v.size());
        v.put("<|endoftext|>", v.size());
        return v;
    }

    /** The small vocabulary as CLIPTokenizerFast's tokenizer.json (merges as strings and as pairs, as transformers 4 / 5 write them). */
    static ObjectNode smallJson() {
        Map<String, Integer> v = smallVocab();
        ObjectNode root = JSON.createObjectNode();
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").put("end_of_word_suffix", "</w>").put("unk_token", "<|endoftext|>").put("continuing_subword_prefix", "");
        model.set("vocab", JSON.valueToTree(v));
        ArrayNode merges = model.putArray("merges");
        for (String m : MERGES) {
            String[] p = m.split(" ");
            if (merges.size() % 2 == 0) merges.add(m);
            else merges.addArray().add(p[0]).add(p[1]);
        }
        ArrayNode added = root.putArray("added_tokens");
        for (String s : new String[] {"<|startoftext|>", "<|endoftext|>"}) added.addObject().put("id", v.get(s)).put("content", s).put("special", true);
        return root;
    }

    /** bytes_to_unicode's order of a byte symbol: printable bytes by value, then the remapped ones. */
    private static int order(String sym) {
        char c = sym.charAt(0);
        return c < 256 ? c : 1000 + c;
    }

    private static Path folder(String name, String pad) throws Exception {
        Path d = tmp.resolve(name);
        Files.createDirectories(d);
        Files.writeString(d.resolve("vocab.json"), JSON.writeValueAsString(vocab), StandardCharsets.UTF_8);
        StringBuilder m = new StringBuilder("#version: 0.2\n");
        for (String s : MERGES) m.append(s).append('\n');
        Files.writeString(d.resolve("merges.txt"), m, StandardCharsets.UTF_8);
        Files.writeString(d.resolve("special_tokens_map.json"), "{\"bos_token\": {\"content\": \"<|startoftext|>\", \"lstrip\": false, \"normalized\": true,"
                + " \"rstrip\": false, \"single_word\": false}, \"eos_token\": \"<|endoftext|>\", \"pad_token\": \"" + pad + "\", \"unk_token\": \"<|endoftext|>\"}");
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"model_max_length\": 77, \"tokenizer_class\": \"CLIPTokenizer\", \"do_lower_case\": true}");
        return d;
    }

    /** The ids of symbols. */
    private static int[] ids(String... syms) {
        int[] o = new int[syms.length];
        for (int i = 0; i < o.length; i++) {
            Integer id = vocab.get(syms[i]);
            if (id == null) throw new IllegalStateException("no symbol " + syms[i]);
            o[i] = id;
        }
        return o;
    }

    private static int[] wrap(int[]... parts) {
        int n = 2;
        for (int[] p : parts) n += p.length;
        int[] o = new int[n];
        o[0] = vocab.get("<|startoftext|>");
        int k = 1;
        for (int[] p : parts) for (int v : p) o[k++] = v;
        o[k] = vocab.get("<|endoftext|>");
        return o;
    }

    @Test
    void specialIdsComeFromTheVocabularyAndConfig() {
        ClipTokenizer a = ClipTokenizer.load(sd1), b = ClipTokenizer.load(sd2);
        assertEquals(vocab.get("<|startoftext|>"), a.bosId());
        assertEquals(vocab.get("<|endoftext|>"), a.eosId());
        assertEquals(a.eosId(), a.padId());
        assertEquals(0, b.padId()); // "!" is id 0, as in CLIP's vocab
        assertEquals(77, a.maxLength());
        assertEquals(a.padId(), ClipTokenizer.load(sd1.resolve("vocab.json")).padId()); // a file of the folder loads the folder
        assertEquals(0, ClipTokenizer.load(sd2.resolve("merges.txt")).padId());
        assertTrue(a.isSpecial(a.bosId()) && a.isSpecial(a.eosId()) && b.isSpecial(0) && !a.isSpecial(0));
        assertEquals(vocab.size(), a.vocabSize());
        assertEquals("hello</w>", a.idToToken(a.tokenToId("hello</w>")));
    }

    @Test
    void mergesFollowRankAndTheEndOfWordSuffix() {
        ClipTokenizer t = ClipTokenizer.load(sd1);
        assertArrayEquals(wrap(ids("hello</w>")), t.encode("hello"));
        assertArrayEquals(wrap(ids("hello</w>"), ids("world</w>")), t.encode("  Hello \t\n WORLD  "));
        // "hell" has no "</w>" merge: h e l l</w> → he, l, l</w> (no "l l</w>" merge)
        assertArrayEquals(wrap(ids("he", "l", "l</w>")), t.encode("hell"));
        // rank decides: "a b" (rank 10) before "b c</w>" (rank 11)...
        assertArrayEquals(wrap(ids("ab", "c</w>")), t.encode("abc"));
        // and "y z</w>" (rank 12) before "x y" (rank 13)
        assertArrayEquals(wrap(ids("x", "yz</w>")), t.encode("xyz"));
    }

    @Test
    void splitsContractionsDigitsAndPunctuation() {
        ClipTokenizer t = ClipTokenizer.load(sd1);
        assertArrayEquals(wrap(ids("d", "o", "n</w>"), ids("'", "t</w>")), t.encode("don't"));
        assertArrayEquals(wrap(ids("2</w>"), ids("0</w>"), ids("2</w>"), ids("4</w>")), t.encode("2024"));
        assertArrayEquals(wrap(ids("cat</w>"), ids("!", "?", ".</w>")), t.encode("cat!?."));
        assertArrayEquals(wrap(ids("cat</w>"), ids("(</w>"), ids("cat</w>"), ids(")</w>")), t.encode("cat (cat)"));
        // an unknown symbol ("q</w>" is not in this vocabulary) is the unk id (<|endoftext|>)
        assertArrayEquals(wrap(ids("q", "q"), new int[] {vocab.get("<|endoftext|>")}), t.encode("qqq"));
    }

    @Test
    void cleansLikeTheBasicTokenizer() {
        ClipTokenizer t = ClipTokenizer.load(sd1);
        // control and zero-width characters dropped, NBSP and em space are spaces, NFC composes é, lowercase
        assertArrayEquals(t.encode("cat hello"), t.encode("c\u0007a\u200bt\u00a0HELLO"));
        assertArrayEquals(t.encode("cat hello"), t.encode("cat\u2003hello"));
        assertArrayEquals(t.encode("caf\u00e9"), t.encode("CAFE\u0301"));
        String e = BpeTokenizer.bytesToChars("\u00e9".getBytes(StandardCharsets.UTF_8));
        assertArrayEquals(wrap(ids("ca", "f", e.substring(0, 1), e.substring(1) + "</w>")), t.encode("café"));
        // CJK ideographs become words of their own: 中文 → two words
        String zh = BpeTokenizer.bytesToChars("中".getBytes(StandardCharsets.UTF_8)), wen = BpeTokenizer.bytesToChars("文".getBytes(StandardCharsets.UTF_8));
        assertArrayEquals(wrap(ids(zh.substring(0, 1), zh.substring(1, 2), zh.substring(2) + "</w>"),
                ids(wen.substring(0, 1), wen.substring(1, 2), wen.substring(2) + "</w>")), t.encode("中文"));
        assertArrayEquals(new int[] {t.bosId(), t.eosId()}, t.encode("   "));
        assertArrayEquals(new int[0], t.encode("", false));
    }

    @Test
    void specialTokensInTheTextAreTheirIds() {
        ClipTokenizer a = ClipTokenizer.load(sd1), b = ClipTokenizer.load(sd2);
        int eos = a.eosId(), bos = a.bosId();
        assertArrayEquals(wrap(ids("cat</w>"), new int[] {eos, bos}, ids("hello</w>")), a.encode("cat<|endoftext|><|startoftext|>hello"));
        // upper case misses the added-token split but the lowercased text's regex still finds it
        assertArrayEquals(wrap(ids("cat</w>"), new int[] {eos}), a.encode("cat <|ENDOFTEXT|>"));
        // SD 2.x's pad "!" is an added token: each "!" is id 0, not a BPE symbol with "</w>"
        assertArrayEquals(wrap(ids("cat</w>"), ids("!</w>")), a.encode("cat!"));
        assertArrayEquals(wrap(ids("cat</w>"), new int[] {0, 0, 0}), b.encode("cat! !!"));
    }

    @Test
    void truncatesAndPadsAsPipelines() {
        ClipTokenizer a = ClipTokenizer.load(sd1), b = ClipTokenizer.load(sd2);
        int[] cat = ids("cat</w>");
        assertArrayEquals(wrap(cat, cat, cat), a.encode("cat cat cat cat cat", true, 5));
        assertArrayEquals(new int[] {cat[0], cat[0]}, a.encode("cat cat cat", false, 2));
        assertArrayEquals(wrap(cat, cat, cat, cat, cat), a.encode("cat cat cat cat cat", true, 0));
        int[] p = a.encodePadded("hello world", 8);
        assertArrayEquals(new int[] {a.bosId(), vocab.get("hello</w>"), vocab.get("world</w>"), a.eosId(), a.eosId(), a.eosId(), a.eosId(), a.eosId()}, p);
        int[] q = b.encodePadded("hello world", 6);
        assertArrayEquals(new int[] {b.bosId(), vocab.get("hello</w>"), vocab.get("world</w>"), b.eosId(), 0, 0}, q);
        int[] cut = b.encodePadded("cat ".repeat(100), 77);
        assertEquals(77, cut.length);
        assertEquals(b.eosId(), cut[76]);
        assertEquals(cat[0], cut[75]);
        assertArrayEquals(new int[] {b.bosId(), b.eosId()}, b.encodePadded("hello", 2));
        assertThrows(IllegalArgumentException.class, () -> a.encodePadded("x", 1));
        assertThrows(IllegalArgumentException.class, () -> a.encode("x", true, 1));
        assertThrows(IllegalArgumentException.class, () -> a.encode(null));
    }

    @Test
    void decodesWordEndsAsSpaces() {
        ClipTokenizer t = ClipTokenizer.load(sd1);
        assertEquals("hello world !", t.decode(t.encode("Hello world!"), true));
        assertEquals("<|startoftext|>hello world <|endoftext|>", t.decode(t.encode("hello world")));
        assertEquals("café 中 文 😀", t.decode(t.encode("Café 中文 😀"), true));
        StreamDecoder s = t.newStreamDecoder(true);
        StringBuilder b = new StringBuilder();
        for (int id : t.encode("café 😀 cat")) b.append(s.push(id));
        b.append(s.finish());
        assertEquals("café 😀 cat ", b.toString()); // the stream cannot strip the last space
        String msg = assertThrows(IllegalArgumentException.class, () -> t.decode(new int[] {vocab.size() + 5})).getMessage();
        assertTrue(msg.contains("ids[0]"), msg);
    }

    @Test
    void tokenizerJsonWithEndOfWordSuffixIsAClipTokenizer() throws Exception {
        ObjectNode root = smallJson();
        Path f = tmp.resolve("fast").resolve("tokenizer.json");
        Files.createDirectories(f.getParent());
        Files.writeString(f, root.toString(), StandardCharsets.UTF_8);
        Tokenizer t = Tokenizer.load(f);
        ClipTokenizer c = assertInstanceOf(ClipTokenizer.class, t);
        ClipTokenizer slow = ClipTokenizer.load(sd1);
        for (String s : new String[] {"Hello world!", "don't 2024 cat (cat)", "abc xyz café 中文", "a<|endoftext|>b"}) {
            assertArrayEquals(slow.encode(s), t.encode(s), s);
        }
        assertEquals(slow.padId(), c.padId());
        assertEquals(ClipTokenizer.class, ClipTokenizer.load(f.getParent()).getClass());
        // a pipeline root finds tokenizer/
        Path root2 = tmp.resolve("pipe");
        Files.createDirectories(root2);
        Files.copy(sd2, root2.resolve("tokenizer"));
        for (Path p : Files.list(sd2).toList()) Files.copy(p, root2.resolve("tokenizer").resolve(p.getFileName()));
        assertEquals(0, ClipTokenizer.load(root2).padId());
    }

    @Test
    void badFilesAreRefusedByName() throws Exception {
        Path d = tmp.resolve("bad");
        Files.createDirectories(d);
        String msg = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(d)).getMessage();
        assertTrue(msg.contains("vocab.json") && msg.contains("merges.txt"), msg);
        Files.copy(sd1.resolve("vocab.json"), d.resolve("vocab.json"));
        Files.writeString(d.resolve("merges.txt"), "#version: 0.2\nh e\nthree parts here\n");
        msg = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(d)).getMessage();
        assertTrue(msg.contains("merges.txt") && msg.contains("line 3"), msg);
        Files.writeString(d.resolve("merges.txt"), "#version: 0.2\nh e\n");
        Files.writeString(d.resolve("special_tokens_map.json"), "{\"pad_token\": \"<pad>\"}");
        msg = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(d)).getMessage();
        assertTrue(msg.contains("pad_token") && msg.contains("<pad>"), msg);
        Files.writeString(d.resolve("special_tokens_map.json"), "{\"pad_token\": 5}");
        msg = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(d)).getMessage();
        assertTrue(msg.contains("special_tokens_map.json") && msg.contains("pad_token"), msg);
        Files.delete(d.resolve("special_tokens_map.json"));
        Files.writeString(d.resolve("vocab.json"), "{\"a\": \"x\"}");
        msg = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(d)).getMessage();
        assertTrue(msg.contains("vocab.json") && msg.contains("\"a\""), msg);
        Path f = tmp.resolve("wrongsuffix.json");
        Files.writeString(f, "{\"model\": {\"type\": \"BPE\", \"end_of_word_suffix\": \"@@\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
        msg = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(f)).getMessage();
        assertTrue(msg.contains("end_of_word_suffix"), msg);
    }
}
