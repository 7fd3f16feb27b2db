package dev.surpass.text;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A BERT WordPiece tokenizer read from a Hugging Face {@code tokenizer.json} (model.type
 * {@code WordPiece}), following the {@code tokenizers} library:
 * <ol>
 *   <li>added tokens ({@code [CLS]}, {@code [SEP]}, …) are cut out of the raw text first,
 *       leftmost-longest;</li>
 *   <li>{@code BertNormalizer}: {@code clean_text} drops NUL, U+FFFD and control characters and
 *       maps white space to ' '; {@code handle_chinese_chars} puts spaces around CJK ideographs;
 *       {@code strip_accents} (null: follows {@code lowercase}) is NFD then dropping the
 *       non-spacing marks (Mn); {@code lowercase};</li>
 *   <li>{@code BertPreTokenizer}: split on white space (removed) and on every punctuation
 *       character (ASCII punctuation or Unicode P*), each its own word;</li>
 *   <li>WordPiece: greedy longest-match-first from the start of each word, later pieces with the
 *       {@code continuing_subword_prefix} ("##"); a word longer than
 *       {@code max_input_chars_per_word} or with an unmatched rest becomes {@code unk_token};</li>
 *   <li>{@code TemplateProcessing} (single template) adds {@code [CLS]} … {@code [SEP]};
 *       {@code BertProcessing} and {@code RobertaProcessing} (MPNet's {@code <s>} … {@code </s>})
 *       add their {@code cls} … {@code sep} pairs;
 *       {@code truncation.max_length} (when the file has one) cuts the content so the result,
 *       special tokens included, fits.</li>
 * </ol>
 * Decoding (the WordPiece decoder): tokens joined by spaces, "##" pieces glued to the previous
 * one; {@code cleanup} removes the space before {@code . ? ! ,} and around {@code '} contractions
 * as the library does.
 *
 * <p>Thread rules: immutable after loading; any number of threads may encode and decode at once.
 */
public final class WordPieceTokenizer implements Tokenizer {
    private final String source;
    private final Map<String, Integer> vocab;
    private final String[] tokens;
    private final List<String> addedContents;   // longest first
    private final Map<String, Integer> addedIds;
    private final java.util.Set<Integer> special;
    private final boolean cleanText, chineseChars, stripAccents, lowercase;
    private final String prefix;
    private final int maxCharsPerWord, unkId;
    private final int[] before, after;          // the template's ids around the sequence, or null
    private final int maxLength;                // truncation.max_length, or 0
    private final boolean cleanup;

    private WordPieceTokenizer(String source, Map<String, Integer> vocab, Map<String, Integer> addedIds, java.util.Set<Integer> special,
                               boolean cleanText, boolean chineseChars, boolean stripAccents, boolean lowercase, String prefix,
                               int maxCharsPerWord, int unkId, int[] before, int[] after, int maxLength, boolean cleanup) {
        this.source = source;
        this.vocab = vocab;
        this.addedIds = addedIds;
        this.special = special;
        this.cleanText = cleanText;
        this.chineseChars = chineseChars;
        this.stripAccents = stripAccents;
        this.lowercase = lowercase;
        this.prefix = prefix;
        this.maxCharsPerWord = maxCharsPerWord;
        this.unkId = unkId;
        this.before = before;
        this.after = after;
        this.maxLength = maxLength;
        this.cleanup = cleanup;
        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        for (int id : addedIds.values()) size = Math.max(size, id + 1);
        tokens = new String[size];
        for (var e : vocab.entrySet()) tokens[e.getValue()] = e.getKey();
        for (var e : addedIds.entrySet()) tokens[e.getValue()] = e.getKey();
        List<String> a = new ArrayList<>(addedIds.keySet());
        a.sort((x, y) -> y.length() - x.length());
        addedContents = List.copyOf(a);
    }

    /** Reads a WordPiece {@code tokenizer.json}. */
    public static WordPieceTokenizer load(Path file) {
        return fromJson(Tokenizer.readJson(file), file.toString());
    }

    /**
     * Builds a tokenizer from a parsed {@code tokenizer.json}; {@code where} names it in errors.
     *
     * @throws IllegalArgumentException naming the file and field for anything this class cannot run
     */
    public static WordPieceTokenizer fromJson(JsonNode root, String where) {
        if (root == null || !root.isObject()) throw new IllegalArgumentException(where + ": expected a JSON object");
        JsonNode model = root.path("model");
        if (!"WordPiece".equals(model.path("type").asText())) {
            throw new IllegalArgumentException(where + ": model.type is " + model.path("type") + "; expected \"WordPiece\"");
        }
        JsonNode v = model.get("vocab");
        if (v == null || !v.isObject() || v.isEmpty()) {
            throw new IllegalArgumentException(where + ": field \"model.vocab\" of the WordPiece model is missing or empty");
        }
        Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            var e = it.next();
            JsonNode id = e.getValue();
            if (!id.canConvertToExactIntegral() || id.asLong() < 0 || id.asLong() >= Integer.MAX_VALUE) {
                throw new IllegalArgumentException(where + ": model.vocab[\"" + e.getKey() + "\"] is " + id + "; expected a non-negative integer id");
            }
            vocab.put(e.getKey(), id.asInt());
        }
        String unk = model.path("unk_token").asText("[UNK]");
        Integer unkId = vocab.get(unk);
        if (unkId == null) throw new IllegalArgumentException(where + ": model.unk_token \"" + unk + "\" is not in model.vocab");
        String prefix = model.path("continuing_subword_prefix").asText("##");
        int maxChars = model.path("max_input_chars_per_word").asInt(100);
        if (maxChars <= 0) throw new IllegalArgumentException(where + ": model.max_input_chars_per_word is " + maxChars);
        // added tokens
        Map<String, Integer> added = new HashMap<>();
        java.util.Set<Integer> special = new java.util.HashSet<>();
        JsonNode at = root.path("added_tokens");
        if (!at.isMissingNode() && !at.isNull() && !at.isArray()) {
            throw new IllegalArgumentException(where + ": field \"added_tokens\" is not an array");
        }
        for (int i = 0; i < at.size(); i++) {
            JsonNode t = at.get(i);
            if (t == null || !t.path("id").canConvertToExactIntegral() || !t.path("content").isTextual() || t.get("content").asText().isEmpty()) {
                throw new IllegalArgumentException(where + ": added_tokens[" + i + "] needs an integer id and a non-empty content");
            }
            long aid = t.get("id").asLong();
            if (aid < 0 || aid >= Integer.MAX_VALUE) {
                throw new IllegalArgumentException(where + ": added_tokens[" + i + "].id is " + t.get("id") + "; expected an id in [0, 2^31 - 1)");
            }
            added.put(t.get("content").asText(), t.get("id").asInt());
            if (t.path("special").asBoolean(false)) special.add(t.get("id").asInt());
        }
        // normalizer
        JsonNode nz = root.path("normalizer");
        boolean clean = false, chinese = false, strip = false, lower = false;
        if (!nz.isMissingNode() && !nz.isNull()) {
            if (!"BertNormalizer".equals(nz.path("type").asText())) {
                throw new IllegalArgumentException(where + ": normalizer.type is " + nz.path("type") + "; only \"BertNormalizer\" (or none) is supported");
            }
            clean = nz.path("clean_text").asBoolean(true);
            chinese = nz.path("handle_chinese_chars").asBoolean(true);
            lower = nz.path("lowercase").asBoolean(true);
            strip = nz.path("strip_accents").isBoolean() ? nz.get("strip_accents").asBoolean() : lower;
        }
        JsonNode pt = root.path("pre_tokenizer");
        if (!"BertPreTokenizer".equals(pt.path("type").asText())) {
            throw new IllegalArgumentException(where + ": pre_tokenizer.type is " + pt.path("type") + "; only \"BertPreTokenizer\" is supported");
        }
        // post-processor: a single template [before…] $A [after…]
        int[] before = null, after = null;
        JsonNode pp = root.path("post_processor");
        if (!pp.isMissingNode() && !pp.isNull()) {
            String ty = pp.path("type").asText();
            if (ty.equals("TemplateProcessing")) {
                List<Integer> b = new ArrayList<>(), a = new ArrayList<>();
                boolean seen = false;
                JsonNode single = pp.path("single");
                for (int i = 0; i < single.size(); i++) {
                    JsonNode it = single.get(i);
                    if (it.has("Sequence")) {
                        if (seen) throw new IllegalArgumentException(where + ": post_processor.single has two Sequence items");
                        seen = true;
                    } else if (it.has("SpecialToken")) {
                        String name = it.get("SpecialToken").path("id").asText();
                        JsonNode ids = pp.path("special_tokens").path(name).path("ids");
                        List<Integer> dst = seen ? a : b;
                        if (ids.isArray() && !ids.isEmpty()) {
                            for (JsonNode x : ids) dst.add(x.asInt());
                        } else {
                            Integer id = added.containsKey(name) ? added.get(name) : vocab.get(name);
                            if (id == null) {
                                throw new IllegalArgumentException(where + ": post_processor.single[" + i + "] names \"" + name + "\", which is no token");
                            }
                            dst.add(id);
                        }
                    } else {
                        throw new IllegalArgumentException(where + ": post_processor.single[" + i + "] is " + it + "; expected Sequence or SpecialToken");
                    }
                }
                if (!seen) throw new IllegalArgumentException(where + ": post_processor.single has no Sequence item");
                before = b.stream().mapToInt(Integer::intValue).toArray();
                after = a.stream().mapToInt(Integer::intValue).toArray();
            } else if (ty.equals("BertProcessing") || ty.equals("RobertaProcessing")) { // cls + text + sep, each a [token, id] pair
                before = new int[] {TokenIds.specialPairId(pp, "post_processor", "cls", where)};
                after = new int[] {TokenIds.specialPairId(pp, "post_processor", "sep", where)};
            } else {
                throw new IllegalArgumentException(where + ": post_processor.type \"" + ty
                        + "\" is not supported (TemplateProcessing, BertProcessing, RobertaProcessing)");
            }
        }
        int maxLength = 0;
        JsonNode tr = root.path("truncation");
        if (tr.isObject()) {
            maxLength = tr.path("max_length").asInt(0);
            if (maxLength < 0) throw new IllegalArgumentException(where + ": truncation.max_length is " + maxLength);
            if (!"Right".equals(tr.path("direction").asText("Right"))) {
                throw new IllegalArgumentException(where + ": truncation.direction is " + tr.path("direction") + "; only \"Right\" is supported");
            }
        }
        boolean cleanup = root.path("decoder").path("cleanup").asBoolean(true);
        return new WordPieceTokenizer(where, vocab, added, special, clean, chinese, strip, lower, prefix, maxChars, unkId, before, after,
                maxLength, cleanup);
    }

    /** The id of a BertProcessing / RobertaProcessing {@code cls} or {@code sep} pair {@code ["<s>", 0]}. */
    /** {@code truncation.max_length} of the file (special tokens included), or 0 when it has none. */
    public int maxLength() {
        return maxLength;
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        return encode(text, addSpecialTokens, maxLength);
    }

    /**
     * Ids of {@code text}, cut at the end so that the result (special tokens included when asked
     * for) has at most {@code maxLength} ids; {@code maxLength = 0} does not truncate.
     */
    public int[] encode(String text, boolean addSpecialTokens, int maxLength) {
        if (text == null) throw new IllegalArgumentException("encode: text is null");
        if (maxLength < 0) throw new IllegalArgumentException("encode: maxLength is " + maxLength);
        int extra = addSpecialTokens && before != null ? before.length + after.length : 0;
        if (maxLength > 0 && maxLength < extra) {
            throw new IllegalArgumentException("encode: maxLength " + maxLength + " is shorter than the " + extra + " special tokens");
        }
        IntList ids = new IntList();
        int last = 0, i = 0;
        while (i < text.length()) { // added tokens cut out of the raw text, leftmost-longest
            String hit = null;
            for (String a : addedContents) {
                if (text.startsWith(a, i)) {
                    hit = a;
                    break;
                }
            }
            if (hit == null) {
                i++;
                continue;
            }
            encodeText(text.substring(last, i), ids);
            ids.add(addedIds.get(hit));
            i += hit.length();
            last = i;
        }
        encodeText(text.substring(last), ids);
        int[] body = ids.toArray();
        if (maxLength > 0 && body.length > maxLength - extra) body = Arrays.copyOf(body, maxLength - extra);
        if (extra == 0) return body;
        int[] out = new int[body.length + extra];
        System.arraycopy(before, 0, out, 0, before.length);
        System.arraycopy(body, 0, out, before.length, body.length);
        System.arraycopy(after, 0, out, before.length + body.length, after.length);
        return out;
    }

    /** Normalizes, pre-tokenizes and WordPiece-encodes a stretch of text without added tokens. */
    private void encodeText(String text, IntList out) {
        if (text.isEmpty()) return;
        for (String w : preTokenize(normalize(text))) wordPiece(w, out);
    }

    /** The BertNormalizer. */
    String normalize(String s) {
        StringBuilder b = new StringBuilder(s.length() + 8);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cleanText) {
                if (cp == 0 || cp == 0xFFFD || isControl(cp)) continue;
                if (isWhiteSpace(cp)) {
                    b.append(' ');
                    continue;
                }
            }
            if (chineseChars && isChinese(cp)) {
                b.append(' ').appendCodePoint(cp).append(' ');
            } else {
                b.appendCodePoint(cp);
            }
        }
        String r = b.toString();
        if (stripAccents) {
            String d = Normalizer.normalize(r, Normalizer.Form.NFD);
            StringBuilder k = new StringBuilder(d.length());
            for (int i = 0; i < d.length(); ) {
                int cp = d.codePointAt(i);
                i += Character.charCount(cp);
                if (Character.getType(cp) != Character.NON_SPACING_MARK) k.appendCodePoint(cp);
            }
            r = k.toString();
        }
        return lowercase ? r.toLowerCase(Locale.ROOT) : r;
    }

    /** The BertPreTokenizer: white space separates words and is dropped; each punctuation character is a word. */
    static List<String> preTokenize(String s) {
        List<String> words = new ArrayList<>();
        int start = -1;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            int n = Character.charCount(cp);
            if (isWhiteSpace(cp)) {
                if (start >= 0) words.add(s.substring(start, i));
                start = -1;
            } else if (isPunctuation(cp)) {
                if (start >= 0) words.add(s.substring(start, i));
                start = -1;
                words.add(s.substring(i, i + n));
            } else if (start < 0) {
                start = i;
            }
            i += n;
        }
        if (start >= 0) words.add(s.substring(start));
        return words;
    }

    /** Greedy longest-match-first WordPiece of one word; an unmatchable word is one [UNK]. */
    private void wordPiece(String w, IntList out) {
        if (w.codePointCount(0, w.length()) > maxCharsPerWord) {
            out.add(unkId);
            return;
        }
        IntList pieces = new IntList();
        int start = 0;
        while (start < w.length()) {
            int end = w.length();
            Integer found = null;
            while (end > start) {
                String sub = w.substring(start, end);
                if (start > 0) sub = prefix + sub;
                found = vocab.get(sub);
                if (found != null) break;
                end = w.offsetByCodePoints(end, -1);
            }
            if (found == null) {
                out.add(unkId);
                return;
            }
            pieces.add(found);
            start = end;
        }
        out.addAll(pieces.toArray());
    }

    /** Control characters as BERT counts them: the C* categories except tab, newline and carriage return. */
    private static boolean isControl(int cp) {
        if (cp == '\t' || cp == '\n' || cp == '\r') return false;
        int t = Character.getType(cp);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.PRIVATE_USE || t == Character.SURROGATE
                || t == Character.UNASSIGNED;
    }

    /** Unicode White_Space (what Rust's char::is_whitespace tests): Java's two predicates cover it but for U+0085. */
    static boolean isWhiteSpace(int cp) {
        return Character.isWhitespace(cp) || Character.isSpaceChar(cp) || cp == 0x85;
    }

    /** ASCII punctuation (which includes $+<=>^`|~) or a Unicode punctuation category. */
    static boolean isPunctuation(int cp) {
        if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
        return switch (Character.getType(cp)) {
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION, Character.END_PUNCTUATION,
                 Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION, Character.OTHER_PUNCTUATION -> true;
            default -> false;
        };
    }

    /** The CJK Unified Ideograph blocks BERT splits out (not Hangul, Hiragana or Katakana). */
    private static boolean isChinese(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
                || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }

    // ---------------------------------------------------------------------------------------------
    // Decoding

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        if (ids == null) throw new IllegalArgumentException("decode: ids is null");
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            String t = token(ids[i], "ids[" + i + "]");
            if (skipSpecialTokens && special.contains(ids[i])) continue;
            if (t.startsWith(prefix)) {
                b.append(t, prefix.length(), t.length());
            } else {
                if (b.length() > 0) b.append(' ');
                b.append(t);
            }
        }
        String s = b.toString();
        if (!cleanup) return s;
        return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
                .replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re");
    }

    @Override
    public StreamDecoder newStreamDecoder(boolean skipSpecialTokens) {
        // Streaming has no look-back: each word-initial token carries its leading space.
        return new StreamDecoder(id -> {
            String t = token(id, "token");
            if (skipSpecialTokens && special.contains(id)) return new byte[0];
            return (t.startsWith(prefix) ? t.substring(prefix.length()) : " " + t).getBytes(StandardCharsets.UTF_8);
        });
    }

    private String token(int id, String what) {
        return TokenIds.require(tokens, id, what, source);
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int tokenToId(String token) {
        Integer id = addedIds.get(token);
        if (id == null) id = vocab.get(token);
        return id == null ? -1 : id;
    }

    @Override
    public String idToToken(int id) {
        return TokenIds.tokenOrNull(tokens, id);
    }

    @Override
    public boolean isSpecial(int id) {
        return special.contains(id);
    }

    @Override
    public String toString() {
        return "WordPieceTokenizer[" + source + ", " + vocab.size() + " tokens, max length " + maxLength + "]";
    }
}
