package dev.surpass.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Unigram tokenizer against the tokenizers library's rules: the Precompiled normalizer on a
 * charsmap built here ({@link DartsCharsMap}) against the NFKC mappings it encodes and
 * spm_precompiled's grapheme / shortest-prefix quirks; Viterbi against a brute-force enumeration
 * of every segmentation on random vocabularies; fused unknowns, byte fallback, Metaspace schemes,
 * T5- and XLM-R-shaped files (their normalizer / pre-tokenizer / post-processor structure, a small
 * hand-made vocabulary), round trips, and malformed files.
 */
class UnigramTokenizerTest {
    static final ObjectMapper JSON = new ObjectMapper();

    /** A tokenizer.json with a Unigram model over {@code vocab} ([piece, score] pairs); the rest null. */
    static ObjectNode file(Object[][] vocab, Integer unkId, boolean byteFallback) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putArray("added_tokens");
        root.putNull("normalizer");
        root.putNull("pre_tokenizer");
        root.putNull("post_processor");
        root.putNull("decoder");
        ObjectNode model = root.putObject("model").put("type", "Unigram");
        if (unkId == null) model.putNull("unk_id");
        else model.put("unk_id", unkId);
        ArrayNode v = model.putArray("vocab");
        for (Object[] p : vocab) v.addArray().add((String) p[0]).add(((Number) p[1]).doubleValue());
        model.put("byte_fallback", byteFallback);
        return root;
    }

    static void added(ObjectNode root, int id, String content, boolean lstrip, boolean normalized) {
        ((ArrayNode) root.get("added_tokens")).addObject().put("id", id).put("content", content).put("single_word", false).put("lstrip", lstrip)
                .put("rstrip", false).put("normalized", normalized).put("special", true);
    }

    static ObjectNode metaspace(ObjectNode into, String scheme) {
        into.put("type", "Metaspace").put("replacement", "▁");
        if (scheme != null) into.put("prepend_scheme", scheme).put("split", true);
        else into.put("add_prefix_space", true);
        return into;
    }

    static UnigramTokenizer tok(ObjectNode root) {
        return UnigramTokenizer.fromJson(root, "test.json");
    }

    // ---------------------------------------------------------------------------------------------
    // Precompiled

    /** Characters whose NFKC differs, without combining marks or Hangul (they would join clusters). */
    static Map<String, String> nfkcRules() {
        Map<String, String> rules = new LinkedHashMap<>();
        int[][] ranges = {{0xA0, 0xFF}, {0x2000, 0x2BFF}, {0x3000, 0x30FF}, {0xFB00, 0xFB06}, {0xFF01, 0xFF5E}, {0x1D400, 0x1D433}};
        for (int[] r : ranges) {
            for (int cp = r[0]; cp <= r[1]; cp++) {
                int t = Character.getType(cp);
                if (!Character.isDefined(cp) || t == Character.NON_SPACING_MARK || t == Character.COMBINING_SPACING_MARK
                        || t == Character.ENCLOSING_MARK || t == Character.FORMAT || t == Character.CONTROL) continue;
                String s = new String(Character.toChars(cp));
                String n = Normalizer.normalize(s, Normalizer.Form.NFKC);
                if (n.equals(s) || n.codePoints().anyMatch(c -> Character.getType(c) == Character.NON_SPACING_MARK)) continue;
                if (cp >= 0x3099 && cp <= 0x309C) continue; // kana voicing marks combine with neighbours
                rules.put(s, n);
            }
        }
        rules.put("e\u0301", "é"); // decomposed clusters, composed as SentencePiece's nmt_nfkc does
        rules.put("u\u0308", "ü");
        return rules;
    }

    @Test
    void precompiledGivesTheNfkcMappingsItEncodes() {
        Map<String, String> rules = nfkcRules();
        assertTrue(rules.size() > 400, "rules: " + rules.size());
        PrecompiledCharsMap map = PrecompiledCharsMap.parse(DartsCharsMap.base64(rules), "test", "precompiled_charsmap");
        for (var e : rules.entrySet()) assertEquals(e.getValue(), map.normalize(e.getKey()), () -> "U+" + Integer.toHexString(e.getKey().codePointAt(0)));
        // mixed with characters it leaves alone
        List<String> keys = new ArrayList<>(rules.keySet());
        Random rnd = new Random(7);
        String[] plain = {"a", "Z", " ", "字", "😀", "1", "-"};
        for (int t = 0; t < 200; t++) {
            StringBuilder in = new StringBuilder(), want = new StringBuilder();
            for (int k = rnd.nextInt(12); k >= 0; k--) {
                if (rnd.nextBoolean()) {
                    String s = keys.get(rnd.nextInt(keys.size()));
                    in.append(s);
                    want.append(rules.get(s));
                } else {
                    String s = plain[rnd.nextInt(plain.length)];
                    in.append(s);
                    want.append(s);
                }
            }
            assertEquals(want.toString(), map.normalize(in.toString()), in::toString);
        }
        assertEquals("", map.normalize(""));
    }

    @Test
    void precompiledFollowsSpmPrecompiledQuirks() {
        Map<String, String> rules = new LinkedHashMap<>();
        rules.put("a", "x");
        rules.put("e", "E");
        rules.put("e\u0301", "é");
        rules.put("\u0301", "'");
        PrecompiledCharsMap map = PrecompiledCharsMap.parse(DartsCharsMap.base64(rules), "test", "f");
        // a cluster under 6 bytes takes the replacement of the shortest key that is a prefix of it; the rest of it is dropped
        assertEquals("x", map.normalize("a\u0301"));
        assertEquals("E", map.normalize("e\u0301"));
        assertEquals("x", map.normalize("a\u0301\u0301")); // 5 bytes
        // a cluster of 6 bytes or more goes character by character
        assertEquals("x'''", map.normalize("a\u0301\u0301\u0301"));
        // a cluster no key starts: character by character
        assertEquals("b'", map.normalize("b\u0301"));
        assertEquals("Ex", map.normalize("ea"));
        assertEquals("字😀", map.normalize("字😀"));
    }

    @Test
    void precompiledMalformedIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PrecompiledCharsMap.parse("***", "f.json", "normalizer.precompiled_charsmap"));
        assertTrue(e.getMessage().contains("f.json") && e.getMessage().contains("normalizer.precompiled_charsmap"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PrecompiledCharsMap.parse(new byte[] {1, 0}, "f", "x"));
        assertThrows(IllegalArgumentException.class, () -> PrecompiledCharsMap.parse(new byte[] {(byte) 200, 0, 0, 0, 1, 2, 3, 4}, "f", "x"));
        assertThrows(IllegalArgumentException.class, () -> PrecompiledCharsMap.parse(new byte[] {4, 0, 0, 0, 0, 0, 0, 0, (byte) 0xFF}, "f", "x"));
    }

    // ---------------------------------------------------------------------------------------------
    // Viterbi

    /** Every segmentation of {@code w}: vocabulary pieces, or the unknown piece for a character that starts no one-character piece. */
    static void enumerate(String w, int pos, Map<String, Double> vocab, double unk, double score, List<String> path, List<Object[]> out) {
        if (pos == w.length()) {
            out.add(new Object[] {score, List.copyOf(path)});
            return;
        }
        int len = Character.charCount(w.codePointAt(pos));
        for (int e = pos + 1; e <= w.length(); e++) {
            Double s = vocab.get(w.substring(pos, e));
            if (s == null) continue;
            path.add(w.substring(pos, e));
            enumerate(w, e, vocab, unk, score + s, path, out);
            path.removeLast();
        }
        if (!vocab.containsKey(w.substring(pos, pos + len))) {
            path.add("\u0000" + w.substring(pos, pos + len)); // marked unknown
            enumerate(w, pos + len, vocab, unk, score + unk, path, out);
            path.removeLast();
        }
    }

    /** Fuses runs of unknown pieces as HF's fuse_unk, dropping the marks. */
    static List<String> fuse(List<String> path) {
        List<String> out = new ArrayList<>();
        boolean lastUnk = false;
        for (String p : path) {
            boolean unk = p.startsWith("\u0000");
            String s = unk ? p.substring(1) : p;
            if (unk && lastUnk) out.set(out.size() - 1, out.getLast() + s);
            else out.add(s);
            lastUnk = unk;
        }
        return out;
    }

    @Test
    void viterbiFindsTheBestOfAllSegmentations() {
        Random rnd = new Random(20261128);
        String[] alphabet = {"a", "b", "c", "▁", "é", "字", "😀"};
        int unique = 0;
        for (int trial = 0; trial < 300; trial++) {
            Map<String, Double> vocab = new LinkedHashMap<>();
            vocab.put("<unk>", 0.0);
            int n = 3 + rnd.nextInt(20);
            for (int i = 0; i < n; i++) {
                StringBuilder p = new StringBuilder();
                for (int k = 1 + rnd.nextInt(3); k > 0; k--) p.append(alphabet[rnd.nextInt(alphabet.length)]);
                vocab.putIfAbsent(p.toString(), -rnd.nextDouble() * 12);
            }
            Object[][] v = vocab.entrySet().stream().map(e -> new Object[] {e.getKey(), e.getValue()}).toArray(Object[][]::new);
            UnigramTokenizer t = tok(file(v, 0, false));
            double min = vocab.values().stream().mapToDouble(Double::doubleValue).min().orElseThrow();
            for (int s = 0; s < 10; s++) {
                StringBuilder w = new StringBuilder();
                for (int k = 1 + rnd.nextInt(8); k > 0; k--) w.append(alphabet[rnd.nextInt(alphabet.length)]);
                List<Object[]> all = new ArrayList<>();
                enumerate(w.toString(), 0, vocab, min - 10, 0, new ArrayList<>(), all);
                all.sort((x, y) -> Double.compare((double) y[0], (double) x[0]));
                List<String> got = t.viterbi(w.toString());
                double best = (double) all.getFirst()[0];
                // the score of what Viterbi chose: unknown runs split back into characters
                double gotScore = 0;
                for (String p : got) {
                    Double sc = vocab.get(p);
                    if (sc != null && !(p.equals("<unk>"))) gotScore += sc;
                    else gotScore += (min - 10) * p.codePointCount(0, p.length());
                }
                assertEquals(best, gotScore, 1e-9, () -> w + ": " + got);
                if (all.size() == 1 || best - (double) all.get(1)[0] > 1e-9) {
                    unique++;
                    @SuppressWarnings("unchecked") List<String> want = fuse((List<String>) all.getFirst()[1]);
                    assertEquals(want, got, () -> "vocab " + vocab + " text " + w);
                }
            }
        }
        assertTrue(unique > 1500, "unique best segmentations: " + unique);
    }

    @Test
    void tiesGoToTheEarlierStartAndUnknownsFuse() {
        // "ab" = "a" + "b" in score: the position keeps the first offer, from the earlier start (the longer piece)
        UnigramTokenizer t = tok(file(new Object[][] {{"<unk>", 0}, {"a", -1}, {"b", -1}, {"ab", -2}, {"c", -1}}, 0, false));
        assertEquals(List.of("ab"), t.viterbi("ab"));
        assertArrayEquals(new int[] {3}, t.encode("ab"));
        // unknown characters (min score - 10 each) fused into one <unk>, also across surrogate pairs
        assertEquals(List.of("a", "xy😀z", "c"), t.viterbi("axy😀zc"));
        assertArrayEquals(new int[] {1, 0, 4}, t.encode("axy😀zc"));
        // a known character is cheaper than the unknown piece even when the piece scores badly
        UnigramTokenizer low = tok(file(new Object[][] {{"<unk>", 0}, {"a", -50}, {"b", -1}}, 0, false));
        assertEquals(List.of("a", "b"), low.viterbi("ab"));
        // without unk_id an unknown character is an error, as HF's MissingUnkId
        UnigramTokenizer none = tok(file(new Object[][] {{"a", -1}}, null, false));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> none.encode("ab"));
        assertTrue(e.getMessage().contains("unk_id") && e.getMessage().contains("test.json"), e.getMessage());
        assertArrayEquals(new int[] {0, 0}, none.encode("aa"));
    }

    @Test
    void longPiecesLoadAndMatch() {
        // the trie is built without recursion: a 200,000-character piece must not overflow the stack
        UnigramTokenizer huge = tok(file(new Object[][] {{"<unk>", 0}, {"a", -100}, {"b", -1}, {"a".repeat(200_000), -1}}, 0, false));
        assertArrayEquals(new int[] {1, 1, 2}, huge.encode("aab"));
        UnigramTokenizer t = tok(file(new Object[][] {{"<unk>", 0}, {"a", -100}, {"b", -1}, {"a".repeat(3000), -1}}, 0, false));
        assertArrayEquals(new int[] {3, 2, 1}, t.encode("a".repeat(3000) + "ba"));
    }

    // ---------------------------------------------------------------------------------------------
    // Byte fallback, Metaspace, files

    static Object[][] byteVocab(Object[]... pieces) {
        List<Object[]> v = new ArrayList<>();
        v.add(new Object[] {"<unk>", 0});
        v.add(new Object[] {"<s>", 0});
        v.add(new Object[] {"</s>", 0});
        for (int b = 0; b < 256; b++) v.add(new Object[] {String.format("<0x%02X>", b), 0});
        v.addAll(Arrays.asList(pieces));
        return v.toArray(Object[][]::new);
    }

    @Test
    void byteFallbackRoundTrips() {
        ObjectNode root = file(byteVocab(new Object[] {"▁", -2}, new Object[] {"h", -3}, new Object[] {"l", -3}, new Object[] {"o", -3},
                new Object[] {"▁hello", -4}, new Object[] {"ll", -3}), 0, true);
        metaspace(root.putObject("pre_tokenizer"), "always");
        ObjectNode dec = root.putObject("decoder").put("type", "Sequence");
        ArrayNode ds = dec.putArray("decoders");
        ds.addObject().put("type", "Replace").put("content", " ").putObject("pattern").put("String", "▁");
        ds.addObject().put("type", "ByteFallback");
        ds.addObject().put("type", "Fuse");
        ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        UnigramTokenizer t = tok(root);
        int[] ids = t.encode("hello hé字llo");
        // ▁hello | ▁ h é(C3 A9) 字(E5 AD 97) ll o : é and 字 are unknown, fused, then spelled in bytes
        int b0 = 3;
        int sp = 259, h = 260, ll = 264, o = 262;
        assertArrayEquals(new int[] {263, sp, h, b0 + 0xC3, b0 + 0xA9, b0 + 0xE5, b0 + 0xAD, b0 + 0x97, ll, o}, ids);
        assertEquals("hello hé字llo", t.decode(ids));
        StreamDecoder sd = t.newStreamDecoder(false);
        StringBuilder s = new StringBuilder();
        for (int id : ids) s.append(sd.push(id));
        s.append(sd.finish());
        assertEquals("hello hé字llo", s.toString());
        // without byte fallback the fused run is one <unk>
        root.with("model").put("byte_fallback", false);
        assertArrayEquals(new int[] {263, sp, h, 0, ll, o}, tok(root).encode("hello hé字llo"));
    }

    static Object[][] wordVocab() {
        return new Object[][] {{"<unk>", 0}, {"<s>", 0}, {"</s>", 0}, {"▁", -3}, {"a", -4}, {"b", -4}, {"▁a", -2}, {"▁b", -2}, {"▁ab", -1.5}, {"ab", -2.5}};
    }

    @Test
    void metaspaceSchemes() {
        Map<String, int[]> want = Map.of("always", new int[] {1, 8, 3, 7}, "first", new int[] {1, 9, 3, 7}, "never", new int[] {1, 9, 3, 7});
        for (String scheme : List.of("always", "first", "never")) {
            ObjectNode root = file(wordVocab(), 0, false);
            added(root, 1, "<s>", false, false);
            metaspace(root.putObject("pre_tokenizer"), scheme);
            UnigramTokenizer t = tok(root);
            // "<s>ab  b": the text after <s> does not start the original text, so "first" adds no ▁
            assertArrayEquals(want.get(scheme), t.encode("<s>ab  b"), scheme);
            int[] plain = t.encode("ab b");
            if (scheme.equals("never")) assertArrayEquals(new int[] {9, 7}, plain, scheme);
            else assertArrayEquals(new int[] {8, 7}, plain, scheme);
        }
        // legacy add_prefix_space: false is "never"; split: false keeps ▁ inside one word
        ObjectNode root = file(wordVocab(), 0, false);
        root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁").put("add_prefix_space", false);
        assertArrayEquals(new int[] {9, 7}, tok(root).encode("ab b"));
        root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", "always").put("split", false);
        assertEquals(List.of("▁ab", "▁b"), tok(root).viterbi("▁ab▁b"));
        assertArrayEquals(new int[] {8, 7}, tok(root).encode("ab b"));
        root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", "sometimes");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tok(root));
        assertTrue(e.getMessage().contains("pre_tokenizer.prepend_scheme"), e.getMessage());
    }

    /** T5's tokenizer.json shape: Precompiled, WhitespaceSplit + Metaspace, "$A </s>", Metaspace decoder. */
    static ObjectNode t5() {
        Object[][] vocab = {{"<pad>", 0}, {"</s>", 0}, {"<unk>", 0}, {"▁", -3}, {"▁Hello", -5}, {"▁world", -5}, {"▁fi", -6}, {"sh", -6},
                {"▁1", -4}, {"e", -4}, {"▁H", -6}, {"é", -4}, {"▁caf", -6}, {"<extra_id_0>", 0}};
        ObjectNode root = file(vocab, 2, false);
        added(root, 0, "<pad>", false, false);
        added(root, 1, "</s>", false, false);
        added(root, 2, "<unk>", false, false);
        added(root, 13, "<extra_id_0>", false, false);
        root.putObject("normalizer").put("type", "Precompiled").put("precompiled_charsmap", DartsCharsMap.base64(nfkcRules()));
        ObjectNode pre = root.putObject("pre_tokenizer").put("type", "Sequence");
        pre.putArray("pretokenizers").addObject().put("type", "WhitespaceSplit");
        metaspace(((ArrayNode) pre.get("pretokenizers")).addObject(), null);
        ObjectNode pp = root.putObject("post_processor").put("type", "TemplateProcessing");
        ArrayNode single = pp.putArray("single");
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        single.addObject().putObject("SpecialToken").put("id", "</s>").put("type_id", 0);
        ArrayNode pair = pp.putArray("pair");
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("SpecialToken").put("id", "</s>").put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 0);
        pair.addObject().putObject("SpecialToken").put("id", "</s>").put("type_id", 0);
        ObjectNode st = pp.putObject("special_tokens").putObject("</s>").put("id", "</s>");
        st.putArray("ids").add(1);
        st.putArray("tokens").add("</s>");
        metaspace(root.putObject("decoder"), null);
        return root;
    }

    @Test
    void t5ShapedFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("tokenizer.json");
        Files.writeString(f, JSON.writeValueAsString(t5()));
        Tokenizer t = Tokenizer.load(f);
        assertInstanceOf(UnigramTokenizer.class, t);
        // ﬁ (U+FB01) → "fi" and ① → "1" by the charsmap; runs of spaces vanish in WhitespaceSplit; ＨＥ stays unknown after NFKC → "HE"
        assertArrayEquals(new int[] {4, 5, 1}, t.encode("Hello   world "));
        assertArrayEquals(new int[] {4, 5}, t.encode("  Hello world", false));
        assertArrayEquals(new int[] {6, 7, 8, 1}, t.encode("ﬁsh ①"));
        assertArrayEquals(new int[] {12, 11, 13, 1}, t.encode("cafe\u0301<extra_id_0>"));
        assertArrayEquals(new int[] {10, 2, 1}, t.encode("Ｈxy"));
        assertEquals("Hello world</s>", t.decode(new int[] {4, 5, 1}));
        assertEquals("Hello world", t.decode(new int[] {4, 5, 1}, true));
        assertEquals("fish 1", t.decode(t.encode("ﬁsh ①", false)));
        // truncation keeps </s>
        assertArrayEquals(new int[] {4, 1}, t.encode("Hello world", true, 2));
        assertEquals(14, t.vocabSize());
        assertEquals(13, t.tokenToId("<extra_id_0>"));
        assertTrue(t.isSpecial(1) && !t.isSpecial(4));
    }

    /** XLM-RoBERTa's shape: Precompiled + Replace(" {2,}" → " "), Metaspace, RobertaProcessing, <mask> with lstrip. */
    static ObjectNode xlmr() {
        Object[][] vocab = {{"<s>", 0}, {"<pad>", 0}, {"</s>", 0}, {"<unk>", 0}, {",", -3}, {".", -3}, {"▁", -3.5}, {"▁the", -2}, {"▁Hello", -6},
                {"▁world", -6}, {"s", -4}, {"▁wor", -5}, {"ld", -5}, {"▁字", -7}, {"▁über", -8}, {"<mask>", 0}};
        ObjectNode root = file(vocab, 3, false);
        added(root, 0, "<s>", false, false);
        added(root, 1, "<pad>", false, false);
        added(root, 2, "</s>", false, false);
        added(root, 3, "<unk>", false, false);
        added(root, 15, "<mask>", true, false);
        ObjectNode norm = root.putObject("normalizer").put("type", "Sequence");
        ArrayNode ns = norm.putArray("normalizers");
        ns.addObject().put("type", "Precompiled").put("precompiled_charsmap", DartsCharsMap.base64(nfkcRules()));
        ns.addObject().put("type", "Replace").put("content", " ").putObject("pattern").put("Regex", " {2,}");
        metaspace(root.putObject("pre_tokenizer"), null);
        ObjectNode pp = root.putObject("post_processor").put("type", "RobertaProcessing");
        pp.putArray("sep").add("</s>").add(2);
        pp.putArray("cls").add("<s>").add(0);
        pp.put("trim_offsets", true).put("add_prefix_space", true);
        metaspace(root.putObject("decoder"), null);
        return root;
    }

    @Test
    void xlmrShapedFile() {
        UnigramTokenizer t = tok(xlmr());
        assertArrayEquals(new int[] {0, 8, 9, 2}, t.encode("Hello world"));
        // two spaces collapse to one before Metaspace: no lone ▁ word
        assertArrayEquals(new int[] {0, 8, 9, 4, 2}, t.encode("Hello  world,"));
        // <mask> strips the space before it; the text after it is a new piece, which the "always" scheme prefixes
        assertArrayEquals(new int[] {0, 7, 15, 6, 5, 2}, t.encode("the <mask>."));
        // ü composed; the ideographic space is a space after NFKC
        assertArrayEquals(new int[] {0, 14, 13, 2}, t.encode("u\u0308ber\u3000字"));
        assertEquals("<s> Hello world</s>", t.decode(t.encode("Hello world")));
        for (String s : List.of("Hello world", "the world.", "über 字,", "Hello the world")) assertEquals(s, t.decode(t.encode(s), true), s);
        // truncation keeps <s> … </s>
        assertArrayEquals(new int[] {0, 8, 2}, t.encode("Hello world", true, 3));
        assertEquals(16, t.vocabSize());
        assertEquals("<mask>", t.idToToken(15));
    }

    @Test
    void randomRoundTrips() {
        UnigramTokenizer t = tok(xlmr());
        Random rnd = new Random(3);
        String[] words = {"the", "Hello", "world", "über", "字", "wor", "ld", "s", ",", "."};
        for (int i = 0; i < 300; i++) {
            StringBuilder b = new StringBuilder();
            for (int k = 1 + rnd.nextInt(6); k > 0; k--) {
                String w = words[rnd.nextInt(words.length)];
                // glued only where the vocabulary has the piece without ▁
                if (!b.isEmpty()) b.append(rnd.nextInt(3) == 0 && List.of("s", ",", ".", "ld").contains(w) ? "" : " ");
                b.append(w);
            }
            String s = b.toString();
            assertEquals(s, t.decode(t.encode(s), true), s);
            StreamDecoder sd = t.newStreamDecoder(true);
            StringBuilder out = new StringBuilder();
            for (int id : t.encode(s)) out.append(sd.push(id));
            assertEquals(s, out.append(sd.finish()).toString(), s);
        }
    }

    @Test
    void noDecoderJoinsWithSpaces() {
        UnigramTokenizer t = tok(file(wordVocab(), 0, false));
        assertEquals("▁a b", t.decode(new int[] {6, 5}));
        StreamDecoder sd = t.newStreamDecoder(false);
        assertEquals("▁a", sd.push(6));
        assertEquals(" b", sd.push(5));
    }

    @Test
    void malformedFilesAreNamed(@TempDir Path dir) throws Exception {
        List<Consumer<ObjectNode>> breaks = List.of(
                r -> r.with("model").put("vocab", "x"),
                r -> ((ArrayNode) r.with("model").get("vocab")).add("piece"),
                r -> ((ArrayNode) r.with("model").get("vocab")).addArray().add("p").add("high"),
                r -> r.with("model").put("unk_id", 99),
                r -> r.with("model").put("unk_id", -1),
                r -> r.with("model").put("byte_fallback", "yes"),
                r -> r.putObject("normalizer").put("type", "Precompiled").put("precompiled_charsmap", "@@"),
                r -> r.putObject("normalizer").put("type", "Precompiled"),
                r -> r.putObject("normalizer").put("type", "BertNormalizer"),
                r -> r.putObject("pre_tokenizer").put("type", "ByteLevel"),
                r -> r.putObject("pre_tokenizer").put("type", "Sequence"),
                r -> r.putObject("decoder").put("type", "WordPiece"),
                r -> r.putObject("post_processor").put("type", "RobertaProcessing").put("sep", "</s>"),
                r -> ((ArrayNode) r.get("added_tokens")).addObject().put("id", 0).put("content", "<other>"));
        for (int i = 0; i < breaks.size(); i++) {
            ObjectNode root = file(wordVocab(), 0, false);
            breaks.get(i).accept(root);
            Path f = dir.resolve("bad" + i + ".json");
            Files.writeString(f, JSON.writeValueAsString(root));
            int k = i;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(f), () -> "case " + k);
            assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        }
        ObjectNode root = file(wordVocab(), 0, false);
        root.with("model").put("unk_id", 99);
        Path f = dir.resolve("unk.json");
        Files.writeString(f, JSON.writeValueAsString(root));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UnigramTokenizer.load(f));
        assertTrue(e.getMessage().contains("model.unk_id"), e.getMessage());
    }
}
