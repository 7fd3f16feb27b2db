package dev.surpass.text;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.fuzz.Fuzz;
import dev.surpass.fuzz.Gen;
import dev.surpass.fuzz.Mutate;
import dev.surpass.model.bert.MiniLm;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the tokenizer.json readers and the tokenizers they build. Files: the hand-made byte-level
 * BPE of {@link BpeTokenizerTest}, the small CLIP file of {@link ClipTokenizerTest}, the T5-shaped Unigram file of
 * {@link UnigramTokenizerTest} (with its Precompiled charsmap) and all-MiniLM-L6-v2's WordPiece file (when its artifact is on the
 * class path; its vocabulary cut to 2000 ids), mutated ({@link Mutate#json}: wrong types, ranges, missing keys, deep nesting, huge
 * values, truncation); each loads or is refused with a message naming the file. Calls: encode of
 * random Unicode (surrogates, controls, long runs), decode and the stream decoder with ids outside the
 * vocabulary, idToToken / tokenToId / isSpecial with bad arguments, on the valid and on the mutated
 * tokenizers that loaded.
 */
class TokenizerFuzzTest {
    static Path tmp;
    static String bpeJson, wordPieceJson, unigramJson, clipJson;
    static Tokenizer bpe, wordPiece, unigram, clip;

    @BeforeAll
    static void open() throws IOException {
        tmp = Files.createTempDirectory("tokfuzz");
        bpeJson = BpeTokenizerTest.small().toString();
        bpe = Tokenizer.load(Mutate.write(tmp.resolve("bpe.json"), bpeJson));
        unigramJson = UnigramTokenizerTest.t5().toString();
        unigram = Tokenizer.load(Mutate.write(tmp.resolve("unigram.json"), unigramJson));
        clipJson = ClipTokenizerTest.smallJson().toString();
        clip = Tokenizer.load(Mutate.write(tmp.resolve("clip.json"), clipJson));
        var in = TokenizerFuzzTest.class.getClassLoader().getResourceAsStream(MiniLm.TOKENIZER); // only the JSON, not the 90 MB model
        if (in != null) {
            try (in) {
                // the real file with its vocabulary cut to the first 2000 ids ([PAD], [UNK], [CLS], [SEP], [MASK] and
                // the commonest pieces): the same structure at 1/15 of the size, so each mutation stays cheap
                var root = (com.fasterxml.jackson.databind.node.ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper().readTree(in);
                var vocab = (com.fasterxml.jackson.databind.node.ObjectNode) root.path("model").path("vocab");
                java.util.List<String> drop = new java.util.ArrayList<>();
                vocab.properties().forEach(e -> {
                    if (e.getValue().asInt() >= 2000) drop.add(e.getKey());
                });
                vocab.remove(drop);
                wordPieceJson = root.toString();
            }
            wordPiece = Tokenizer.load(Mutate.write(tmp.resolve("wordpiece.json"), wordPieceJson));
        }
    }

    /** Regression (seed 1, try 93 of the file fuzz): a negative added-token id was an ArrayIndexOutOfBoundsException. */
    @Test
    void negativeAddedTokenIdIsRefused() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(wordPieceJson != null, "no WordPiece tokenizer.json on the class path");
        var root = (com.fasterxml.jackson.databind.node.ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper().readTree(wordPieceJson);
        ((com.fasterxml.jackson.databind.node.ObjectNode) root.path("added_tokens").get(0)).put("id", -1);
        Path f = Mutate.write(tmp.resolve("negative-added-id.json"), root.toString());
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Tokenizer.load(f));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("added_tokens[0].id") && e.getMessage().contains(f.toString()), e.getMessage());
    }

    @AfterAll
    static void close() throws IOException {
        Fuzz.printSummary("tokenizer.");
        Fuzz.printSummary("files.tokenizer.");
        Fuzz.assertBothOutcomes("tokenizer.");
        try (var s = Files.walk(tmp)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** encode / decode / lookups on {@code t} with random text and ids; ids outside the vocabulary must be refused. */
    static void exercise(String prop, Tokenizer t, String text, int[] ids, boolean skip) {
        int[] enc = Fuzz.call(prop + ".encode", "text " + Mutate.abbreviate(text), () -> t.encode(text, skip));
        // a Unigram model without unk_id refuses unknown characters, as HF's MissingUnkId; nothing else may
        if (enc == null && !(t instanceof UnigramTokenizer u && u.unkId() < 0)) throw new AssertionError(prop + ": encode refused text " + Mutate.abbreviate(text));
        if (enc == null) return;
        for (int id : enc) assertTrue(id >= 0 && id < t.vocabSize(), prop + ": encode gave id " + id + " of " + t.vocabSize());
        Fuzz.call(prop + ".decode", "its own ids", () -> t.decode(enc, skip));
        boolean inRange = Arrays.stream(ids).allMatch(i -> i >= 0 && i < t.vocabSize());
        String in = "ids " + Arrays.toString(ids) + " of " + t.vocabSize();
        String s = Fuzz.call(prop + ".decode", in, () -> t.decode(ids, skip), "id");
        if (inRange && s == null && ids.length > 0) {
            // a known id may still be unusable (a hole in the vocabulary): refused, but named
            assertTrue(Arrays.stream(ids).anyMatch(i -> t.idToToken(i) == null), prop + ": decode refused valid " + in);
        }
        if (!inRange) assertTrue(s == null, prop + ": decode accepted " + in);
        Fuzz.call(prop + ".stream", in, () -> {
            StreamDecoder d = t.newStreamDecoder(skip);
            StringBuilder sb = new StringBuilder();
            for (int i : ids) sb.append(d.push(i));
            return sb.append(d.finish()).toString();
        }, "id", "token");
        for (int i : ids) {
            Fuzz.call(prop + ".idToToken", "id " + i, () -> String.valueOf(t.idToToken(i)), "id");
            Fuzz.call(prop + ".isSpecial", "id " + i, () -> t.isSpecial(i), "id");
        }
        Fuzz.call(prop + ".tokenToId", "text", () -> t.tokenToId(text), "token");
    }

    @Test
    void calls() {
        Fuzz.forAll("tokenizer.calls", 100, g -> {
            String text = text(g);
            int[] ids = ids(g);
            boolean skip = g.bool();
            exercise("tokenizer.bpe", bpe, text, ids, skip);
            exercise("tokenizer.unigram", unigram, text, ids, skip);
            exercise("tokenizer.clip", clip, text, ids, skip);
            if (wordPiece != null) exercise("tokenizer.wordpiece", wordPiece, text, ids, skip);
        });
    }

    /** Any chars (lone surrogates, controls), lower-case words, or one of the hand-picked hard cases. */
    static String text(Gen g) {
        return switch (g.between(0, 2)) {
            case 0 -> g.string(40, Character.MIN_VALUE, Character.MAX_VALUE);
            case 1 -> g.string(30, 'a', 'z');
            default -> g.pick("", " ", "hello world", "<|endoftext|>", "[CLS] [SEP] [MASK]", "\uD800", "\uDFFF\uD800", "\u0000\u0001",
                    "a".repeat(5000), "é".repeat(300), "日本語のテキスト", "\uD83D\uDE00 emoji", "[X]");
        };
    }

    static int[] ids(Gen g) {
        return g.intArray(0, 6, () -> g.weighted(12, 1) == 0 ? g.between(0, 260) : g.pickInt(-1, 268, 30522, Integer.MIN_VALUE, Integer.MAX_VALUE));
    }

    /** tokenizer.json mutated, loaded; what loads is exercised like a valid one. */
    @Test
    void files() {
        Fuzz.forAll("files.tokenizer", 150, g -> files(g.anyLong(), g.between(0, 3), text(g), ids(g)));
    }

    /** {@code which}: 0 the byte-level BPE, 1 WordPiece (BPE when its file is absent), 2 Unigram, 3 CLIP's BPE with "</w>". */
    private static void files(long seed, int which, String text, int[] ids) {
        boolean wp = which == 1 && wordPieceJson != null;
        boolean uni = which == 2, clipFile = which == 3;
        String m = Mutate.json(clipFile ? clipJson : uni ? unigramJson : wp ? wordPieceJson : bpeJson, new Random(seed));
        Path f = Mutate.write(tmp.resolve("mutated.json"), m);
        String kind = clipFile ? "clip" : uni ? "unigram" : wp ? "wordpiece" : "bpe";
        Tokenizer t = Fuzz.call("files.tokenizer." + kind, "seed " + seed + ": " + Mutate.abbreviate(m), () -> Tokenizer.load(f),
                f.getFileName().toString());
        if (t != null) exercise("tokenizer.mutated", t, text, ids, false);
    }
}
