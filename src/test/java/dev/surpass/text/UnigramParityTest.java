package dev.surpass.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code unigram-parity.json}, written by {@code tools/parity/unigram_tokenizer_parity.py} (a Python
 * transcription of HF tokenizers' Unigram pipeline): an XLM-R-shaped and a T5-shaped tokenizer.json
 * (generated vocabularies, a charsmap from that script's own Darts builder) and 600 random / awkward
 * texts with the ids and decoded texts the transcription gives; surpass must give the same.
 */
class UnigramParityTest {
    @Test
    void idsAndTextsMatchTheTranscription() throws Exception {
        JsonNode root;
        try (InputStream in = UnigramParityTest.class.getResourceAsStream("unigram-parity.json")) {
            root = new ObjectMapper().readTree(in);
        }
        Map<String, UnigramTokenizer> toks = new HashMap<>();
        root.get("tokenizers").fields().forEachRemaining(e -> toks.put(e.getKey(), UnigramTokenizer.fromJson(e.getValue(), "unigram-parity.json#" + e.getKey())));
        List<String> bad = new ArrayList<>();
        int n = 0, unk = 0;
        for (JsonNode c : root.get("cases")) {
            UnigramTokenizer t = toks.get(c.get("tokenizer").asText());
            String text = c.get("text").asText();
            int[] want = new int[c.get("ids").size()];
            for (int i = 0; i < want.length; i++) want[i] = c.get("ids").get(i).asInt();
            int[] got = t.encode(text);
            n++;
            if (Arrays.stream(want).anyMatch(id -> id == 3)) unk++;
            if (!Arrays.equals(want, got)) {
                bad.add(c.get("tokenizer").asText() + " " + ascii(text) + ": want " + Arrays.toString(want) + " got " + Arrays.toString(got));
                continue;
            }
            if (!c.get("decoded").asText().equals(t.decode(got))) bad.add("decode " + ascii(text) + ": want " + ascii(c.get("decoded").asText()) + " got " + ascii(t.decode(got)));
            if (!c.get("decoded_skip").asText().equals(t.decode(got, true))) bad.add("decode(skip) " + ascii(text));
        }
        System.out.printf("unigram parity: %d texts, %d with <unk>, %d mismatches%n", n, unk, bad.size());
        assertTrue(n >= 600, "cases: " + n);
        assertEquals(List.of(), bad.subList(0, Math.min(20, bad.size())));
    }

    private static String ascii(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.codePoints().forEach(cp -> {
            if (cp >= 0x20 && cp < 0x7F) b.appendCodePoint(cp);
            else b.append(String.format("\\u{%X}", cp));
        });
        return b.append('"').toString();
    }
}
