package dev.surpass.text;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
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
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A BPE tokenizer read from a Hugging Face {@code tokenizer.json}, following the {@code tokenizers}
 * library: byte-level (GPT-2, GPT-NeoX-20B as used by the state-spaces Mamba models, Llama 3) or
 * SentencePiece-style (Llama 1/2, TinyLlama, Mistral: characters as they are, {@code ▁} for spaces,
 * unknown characters as {@code <0xXX>} byte tokens):
 * <ol>
 *   <li>added tokens ({@code added_tokens}) are cut out first, leftmost-longest, those with
 *       {@code normalized: false} on the raw text, the others after normalization
 *       ({@code single_word}, {@code lstrip}, {@code rstrip} honoured);</li>
 *   <li>the normalizer: none, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip or a
 *       Sequence of them (each piece between added tokens is normalized on its own);</li>
 *   <li>the pre-tokenizer: {@code ByteLevel} (optional prefix space, the GPT-2 regex split, each
 *       UTF-8 byte mapped to a printable character), optionally after {@code Split} steps
 *       (Isolated or Removed) in a {@code Sequence}; or, SentencePiece-style, none (each piece is
 *       one word) or {@code Metaspace} (spaces to {@code ▁}, prefix per {@code prepend_scheme},
 *       optional split before each {@code ▁});</li>
 *   <li>the BPE model: each piece starts as single characters, and the adjacent pair with the
 *       lowest merge rank is merged (leftmost first) until none is left; {@code ignore_merges},
 *       {@code byte_fallback}, {@code unk_token} and {@code fuse_unk} as in the library;</li>
 *   <li>the post-processor when special tokens are asked for: {@code TemplateProcessing} (single
 *       template), {@code ByteLevel} (adds nothing), or a Sequence of them.</li>
 * </ol>
 * Decoding, byte-level: each token's characters back to bytes ({@code ByteLevel} decoder; a token
 * with a character outside the byte map, such as an added token, contributes its own UTF-8 bytes),
 * read as UTF-8, malformed sequences as U+FFFD. SentencePiece-style: the decoder's steps on the
 * token strings as the library runs them ({@code Replace}, {@code ByteFallback}: runs of byte
 * tokens as UTF-8, or one U+FFFD per byte when invalid, {@code Fuse}, {@code Strip},
 * {@code Metaspace}). transformers' optional {@code clean_up_tokenization_spaces} is not applied.
 *
 * <p>Thread rules: immutable after loading; any number of threads may encode and decode at once.
 */
public final class BpeTokenizer implements Tokenizer {
    /** GPT-2's pre-tokenizer split, as in {@code tokenizers}' ByteLevel (\s is Unicode white space). */
    static final Pattern GPT2_SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    /** GPT-2's byte → printable character map (bytes_to_unicode) and its inverse. */
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[324];

    static {
        Arrays.fill(CHAR_TO_BYTE, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + extra++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    /** Maps raw bytes to their byte-level characters. */
    static String bytesToChars(byte[] bytes) {
        char[] c = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) c[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        return new String(c);
    }

    /** A token string back to bytes: byte-level characters to their bytes, else the string's UTF-8. */
    static byte[] charsToBytes(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c >= CHAR_TO_BYTE.length || CHAR_TO_BYTE[c] < 0) return token.getBytes(StandardCharsets.UTF_8);
            out[i] = (byte) CHAR_TO_BYTE[c];
        }
        return out;
    }

    /** One entry of {@code added_tokens}. */
    public record AddedToken(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip, boolean normalized,
                             boolean special) {}

    /** A pre-tokenizer step before the final ByteLevel. */
    /** How a Split step keeps its matches (HF tokenizers' SplitDelimiterBehavior). */
    enum Keep { ISOLATED, REMOVED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT }

    record SplitStep(Pattern pattern, Keep keep) {}

    /** A template item: a special token's ids, or the sequence itself (ids == null). */
    record TemplateItem(int[] ids) {}

    /** The Metaspace pre-tokenizer: spaces become {@code replacement}; prefix per scheme; optional split. */
    record Metaspace(String replacement, Prepend scheme, boolean split) {}

    enum Prepend { ALWAYS, FIRST, NEVER }

    /** One step of a SentencePiece-style decoder, on the list of token strings. */
    sealed interface DecodeStep permits Replace, ByteFallback, Fuse, Strip, MetaspaceDecode {}

    record Replace(String from, String to) implements DecodeStep {}

    record ByteFallback() implements DecodeStep {}

    record Fuse() implements DecodeStep {}

    record Strip(int content, int start, int stop) implements DecodeStep {}

    record MetaspaceDecode(int replacement, boolean never) implements DecodeStep {}

    private final String source;
    private final Map<String, Integer> vocab;
    private final String[] tokens;          // id → token string (vocab, then added tokens), null for holes
    private final byte[][] tokenBytes;      // id → decoded bytes (byte-level only)
    private final Map<Long, Long> merges;   // (left id << 32 | right id) → (rank << 32 | merged id)
    private final List<AddedToken> added;
    private final Map<Integer, AddedToken> addedById;
    private final List<AddedToken> rawAdded, normAdded; // matched before / after normalization, longest first
    private final UnaryOperator<String> normalizer;
    private final List<SplitStep> splits;
    private final boolean addPrefixSpace, useRegex;
    private final boolean byteLevel;        // false: SentencePiece-style (characters as they are)
    private final Metaspace metaspace;      // SentencePiece-style pre-tokenizer, or null
    private final List<DecodeStep> decodeSteps; // SentencePiece-style decoder, or null (ByteLevel)
    private final int unkId;
    private final boolean fuseUnk, byteFallback, ignoreMerges;
    private final int[] byteFallbackIds;    // <0xXX> ids, or null
    private final List<TemplateItem> template; // null: the post-processor adds nothing
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private BpeTokenizer(String source, Map<String, Integer> vocab, Map<Long, Long> merges, List<AddedToken> added,
                         UnaryOperator<String> normalizer, List<SplitStep> splits, boolean addPrefixSpace, boolean useRegex,
                         Metaspace metaspace, List<DecodeStep> decodeSteps,
                         int unkId, boolean fuseUnk, boolean byteFallback, boolean ignoreMerges, List<TemplateItem> template) {
        this.source = source;
        this.vocab = vocab;
        this.merges = merges;
        this.added = List.copyOf(added);
        this.normalizer = normalizer;
        this.splits = splits;
        this.addPrefixSpace = addPrefixSpace;
        this.useRegex = useRegex;
        this.byteLevel = decodeSteps == null;
        this.metaspace = metaspace;
        this.decodeSteps = decodeSteps;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
        this.template = template;
        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        for (AddedToken a : added) size = Math.max(size, a.id() + 1);
        tokens = new String[size];
        for (var e : vocab.entrySet()) tokens[e.getValue()] = e.getKey();
        addedById = new HashMap<>();
        for (AddedToken a : added) {
            tokens[a.id()] = a.content();
            addedById.put(a.id(), a);
        }
        tokenBytes = new byte[size][];
        if (byteLevel) for (int i = 0; i < size; i++) if (tokens[i] != null) tokenBytes[i] = charsToBytes(tokens[i]);
        List<AddedToken> raw = new ArrayList<>(), norm = new ArrayList<>();
        for (AddedToken a : added) (a.normalized() ? norm : raw).add(a);
        raw.sort((x, y) -> y.content().length() - x.content().length());
        norm.sort((x, y) -> y.content().length() - x.content().length());
        rawAdded = raw;
        normAdded = norm;
        if (byteFallback) {
            byteFallbackIds = new int[256];
            for (int b = 0; b < 256; b++) byteFallbackIds[b] = vocab.getOrDefault(String.format("<0x%02X>", b), -1);
        } else {
            byteFallbackIds = null;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Loading and validation

    /**
     * Reads a BPE {@code tokenizer.json} (byte-level or SentencePiece-style).
     *
     * @throws IllegalArgumentException naming the file and field when the file is not a BPE
     *                                  tokenizer this class can run
     */
    public static BpeTokenizer load(Path file) {
        return fromJson(Tokenizer.readJson(file), file.toString());
    }

    /** Builds a tokenizer from a parsed {@code tokenizer.json}; {@code where} names it in errors. */
    public static BpeTokenizer fromJson(JsonNode root, String where) {
        if (root == null || !root.isObject()) throw new IllegalArgumentException(where + ": expected a JSON object");
        JsonNode model = root.path("model");
        if (!model.isObject()) throw new IllegalArgumentException(where + ": field \"model\" is missing or not an object");
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) throw new IllegalArgumentException(where + ": model.type is \"" + type + "\"; expected \"BPE\"");
        if (model.hasNonNull("dropout") && model.get("dropout").asDouble() != 0) {
            throw new IllegalArgumentException(where + ": model.dropout is " + model.get("dropout") + "; BPE dropout (training only) is not supported");
        }
        for (String k : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (model.hasNonNull(k) && !model.get(k).asText().isEmpty()) {
                throw new IllegalArgumentException(where + ": model." + k + " is " + model.get(k) + "; only null is supported");
            }
        }
        // vocab
        JsonNode v = model.get("vocab");
        if (v == null || !v.isObject()) throw new IllegalArgumentException(where + ": field \"model.vocab\" is missing or not an object");
        Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
        Map<Integer, String> byId = new HashMap<>(v.size() * 2);
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            var e = it.next();
            JsonNode id = e.getValue();
            if (!id.canConvertToExactIntegral() || id.asLong() < 0 || id.asLong() >= Integer.MAX_VALUE) {
                throw new IllegalArgumentException(where + ": model.vocab[\"" + e.getKey() + "\"] is " + id + "; expected a non-negative integer id");
            }
            String prev = byId.put(id.asInt(), e.getKey());
            if (prev != null) {
                throw new IllegalArgumentException(where + ": model.vocab: id " + id + " is given to both \"" + prev + "\" and \"" + e.getKey() + "\"");
            }
            vocab.put(e.getKey(), id.asInt());
        }
        // merges: "a b" strings (older files) or ["a", "b"] pairs (newer files)
        JsonNode m = model.get("merges");
        if (m == null || !m.isArray()) throw new IllegalArgumentException(where + ": field \"model.merges\" is missing or not an array");
        Map<Long, Long> merges = new HashMap<>(m.size() * 2);
        for (int i = 0; i < m.size(); i++) {
            JsonNode e = m.get(i);
            String a, b;
            if (e.isTextual()) {
                String[] p = e.asText().split(" ", -1);
                if (p.length != 2 || p[0].isEmpty() || p[1].isEmpty()) {
                    throw new IllegalArgumentException(where + ": model.merges[" + i + "] is " + e + "; expected \"left right\"");
                }
                a = p[0];
                b = p[1];
            } else if (e.isArray() && e.size() == 2 && e.get(0).isTextual() && e.get(1).isTextual()) {
                a = e.get(0).asText();
                b = e.get(1).asText();
            } else {
                throw new IllegalArgumentException(where + ": model.merges[" + i + "] is " + e + "; expected \"left right\" or [left, right]");
            }
            for (String s : new String[] {a, b, a + b}) {
                if (!vocab.containsKey(s)) {
                    throw new IllegalArgumentException(where + ": model.merges[" + i + "] " + e + ": token \"" + s + "\" is not in model.vocab");
                }
            }
            long key = ((long) vocab.get(a) << 32) | (vocab.get(b) & 0xFFFFFFFFL);
            merges.putIfAbsent(key, ((long) i << 32) | vocab.get(a + b)); // a repeated pair keeps its first rank
        }
        int unkId = -1;
        if (model.hasNonNull("unk_token")) {
            String unk = model.get("unk_token").asText();
            Integer id = vocab.get(unk);
            if (id == null) throw new IllegalArgumentException(where + ": model.unk_token \"" + unk + "\" is not in model.vocab");
            unkId = id;
        }
        boolean fuseUnk = bool(model, where, "model.", "fuse_unk", false);
        boolean byteFallback = bool(model, where, "model.", "byte_fallback", false);
        boolean ignoreMerges = bool(model, where, "model.", "ignore_merges", false);
        List<AddedToken> added = addedTokens(root, where, byId::get);
        UnaryOperator<String> normalizer = normalizer(root.get("normalizer"), where, "normalizer");
        // pre-tokenizer: [Split...] then ByteLevel (byte-level BPE), or none / Metaspace (SentencePiece-style)
        JsonNode pt = root.get("pre_tokenizer");
        List<SplitStep> splits = new ArrayList<>();
        boolean prefix = false, useRegex = false;
        Metaspace metaspace = null;
        boolean byteLevel;
        if (pt == null || pt.isNull()) {
            byteLevel = false;
        } else if ("Metaspace".equals(pt.path("type").asText())) {
            byteLevel = false;
            metaspace = metaspace(pt, where, "pre_tokenizer");
        } else if (!endsWith(pt, "ByteLevel")) {
            // SentencePiece-style after Split steps (Gemma 3: Split on " "), optionally ending with Metaspace
            byteLevel = false;
            List<JsonNode> steps = new ArrayList<>();
            String ptField = "Sequence".equals(pt.path("type").asText()) ? "pre_tokenizer.pretokenizers" : "pre_tokenizer";
            if ("Sequence".equals(pt.path("type").asText())) pt.path("pretokenizers").forEach(steps::add);
            else steps.add(pt);
            if (steps.isEmpty()) throw new IllegalArgumentException(where + ": pre_tokenizer.pretokenizers is missing or empty");
            if ("Metaspace".equals(steps.getLast().path("type").asText())) {
                metaspace = metaspace(steps.removeLast(), where, ptField + "[" + steps.size() + "]");
            }
            for (int i = 0; i < steps.size(); i++) splits.add(split(steps.get(i), where, steps.size() == 1 && ptField.equals("pre_tokenizer") ? ptField : ptField + "[" + i + "]"));
        } else {
            byteLevel = true;
            List<JsonNode> steps = new ArrayList<>();
            String ptField = "pre_tokenizer";
            if ("Sequence".equals(pt.path("type").asText())) {
                JsonNode list = pt.get("pretokenizers");
                if (list == null || !list.isArray() || list.isEmpty()) {
                    throw new IllegalArgumentException(where + ": pre_tokenizer.pretokenizers is missing or empty");
                }
                list.forEach(steps::add);
                ptField = "pre_tokenizer.pretokenizers";
            } else {
                steps.add(pt);
            }
            for (int i = 0; i < steps.size() - 1; i++) splits.add(split(steps.get(i), where, ptField + "[" + i + "]"));
            JsonNode bl = steps.getLast();
            String blField = steps.size() > 1 ? ptField + "[" + (steps.size() - 1) + "]" : ptField;
            if (!"ByteLevel".equals(bl.path("type").asText())) {
                throw new IllegalArgumentException(where + ": " + blField + ".type is " + bl.path("type")
                        + "; expected \"ByteLevel\" (byte-level BPE, optionally after Split steps), \"Metaspace\" or null");
            }
            prefix = bool(bl, where, blField + ".", "add_prefix_space", false);
            useRegex = bool(bl, where, blField + ".", "use_regex", true);
        }
        JsonNode dec = root.get("decoder");
        List<DecodeStep> decodeSteps = null;
        if (byteLevel) {
            // decoder: ByteLevel (alone or as the only step of a Sequence)
            JsonNode d0 = dec != null && "Sequence".equals(dec.path("type").asText()) && dec.path("decoders").size() == 1
                    ? dec.get("decoders").get(0) : dec;
            if (d0 == null || !"ByteLevel".equals(d0.path("type").asText())) {
                throw new IllegalArgumentException(where + ": decoder is " + (dec == null ? "missing" : dec.isNull() ? "null" : "of type " + dec.path("type"))
                        + "; a ByteLevel pre-tokenizer needs {\"type\": \"ByteLevel\"}");
            }
        } else {
            decodeSteps = decoder(dec, where);
        }
        List<TemplateItem> template = postProcessor(root.get("post_processor"), where, "post_processor", vocab, added);
        return new BpeTokenizer(where, vocab, merges, added, normalizer, List.copyOf(splits), prefix, useRegex, metaspace, decodeSteps,
                unkId, fuseUnk, byteFallback, ignoreMerges, template);
    }

    /**
     * The {@code added_tokens} of a {@code tokenizer.json}, in file order; {@code modelToken} gives
     * the model's token for an id (or null), which an added token with that id must equal.
     */
    static List<AddedToken> addedTokens(JsonNode root, String where, java.util.function.IntFunction<String> modelToken) {
        List<AddedToken> added = new ArrayList<>();
        JsonNode at = root.get("added_tokens");
        if (at != null && !at.isNull()) {
            if (!at.isArray()) throw new IllegalArgumentException(where + ": field \"added_tokens\" is not an array");
            for (int i = 0; i < at.size(); i++) {
                JsonNode t = at.get(i);
                String f = "added_tokens[" + i + "]";
                if (!t.isObject() || !t.path("id").canConvertToExactIntegral() || t.get("id").asLong() < 0
                        || t.get("id").asLong() >= Integer.MAX_VALUE) {
                    throw new IllegalArgumentException(where + ": " + f + ".id is missing or not a non-negative integer");
                }
                if (!t.path("content").isTextual() || t.get("content").asText().isEmpty()) {
                    throw new IllegalArgumentException(where + ": " + f + ".content is missing or empty");
                }
                int id = t.get("id").asInt();
                String content = t.get("content").asText();
                String other = modelToken.apply(id);
                if (other != null && !other.equals(content)) {
                    throw new IllegalArgumentException(where + ": " + f + " gives id " + id + " to \"" + content
                            + "\" but model.vocab gives it to \"" + other + "\"");
                }
                boolean special = bool(t, where, f + ".", "special", false);
                added.add(new AddedToken(id, content, bool(t, where, f + ".", "single_word", false), bool(t, where, f + ".", "lstrip", false),
                        bool(t, where, f + ".", "rstrip", false), bool(t, where, f + ".", "normalized", !special), special));
            }
        }
        return added;
    }

    static boolean bool(JsonNode n, String where, String prefix, String key, boolean dflt) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw new IllegalArgumentException(where + ": " + prefix + key + " is " + v + "; expected true or false");
        return v.asBoolean();
    }

    static UnaryOperator<String> normalizer(JsonNode n, String where, String field) {
        if (n == null || n.isNull()) return UnaryOperator.identity();
        String t = n.path("type").asText("");
        return switch (t) {
            case "NFC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFC);
            case "NFD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFD);
            case "NFKC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
            case "NFKD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
            case "Lowercase" -> BpeTokenizer::lowercase;
            case "Precompiled" -> {
                JsonNode cm = n.get("precompiled_charsmap");
                if (cm == null || !cm.isTextual()) {
                    throw new IllegalArgumentException(where + ": " + field + ".precompiled_charsmap is " + cm + "; expected a base64 string");
                }
                PrecompiledCharsMap map = PrecompiledCharsMap.parse(cm.asText(), where, field + ".precompiled_charsmap");
                yield map::normalize;
            }
            case "Prepend" -> { // only to a non-empty piece
                String pre = text(n, where, field, "prepend");
                yield s -> s.isEmpty() ? s : pre + s;
            }
            case "Replace" -> {
                Pattern pat = pattern(n.path("pattern"), where, field);
                String with = Matcher.quoteReplacement(text(n, where, field, "content"));
                yield s -> pat.matcher(s).replaceAll(with);
            }
            case "Strip" -> {
                boolean left = bool(n, where, field + ".", "strip_left", true), right = bool(n, where, field + ".", "strip_right", true);
                yield s -> {
                    int a = 0, b = s.length();
                    while (left && a < b && isWhiteSpace(s.codePointAt(a))) a += Character.charCount(s.codePointAt(a));
                    while (right && b > a && isWhiteSpace(s.codePointBefore(b))) b -= Character.charCount(s.codePointBefore(b));
                    return s.substring(a, b);
                };
            }
            case "Sequence" -> {
                JsonNode list = n.get("normalizers");
                if (list == null || !list.isArray()) throw new IllegalArgumentException(where + ": " + field + ".normalizers is missing");
                List<UnaryOperator<String>> ops = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) ops.add(normalizer(list.get(i), where, field + ".normalizers[" + i + "]"));
                yield s -> {
                    for (UnaryOperator<String> op : ops) s = op.apply(s);
                    return s;
                };
            }
            default -> throw new IllegalArgumentException(where + ": " + field + ".type \"" + t
                    + "\" is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, Precompiled, Prepend, Replace, Strip, Sequence)");
        };
    }

    /**
     * Unicode's White_Space property (Rust's {@code char::is_whitespace}, which the tokenizers
     * library's Strip normalizer and WhitespaceSplit use); unlike {@link Character#isWhitespace} it
     * includes the no-break spaces and excludes U+001C..U+001F.
     */
    static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A)
                || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
    }

    /** The Lowercase normalizer: each character lowercased on its own (no final-sigma context), as Rust's {@code char::to_lowercase}. */
    static String lowercase(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            int len = Character.charCount(cp);
            if (cp < 0x80) b.append((char) (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
            else b.append(s.substring(i, i + len).toLowerCase(Locale.ROOT));
            i += len;
        }
        return b.toString();
    }

    static SplitStep split(JsonNode n, String where, String field) {
        if (!"Split".equals(n.path("type").asText())) {
            throw new IllegalArgumentException(where + ": " + field + ".type is " + n.path("type")
                    + "; expected \"Split\" steps followed by \"ByteLevel\", \"Metaspace\" or null");
        }
        Pattern pattern = pattern(n.path("pattern"), where, field);
        if (bool(n, where, field + ".", "invert", false)) throw new IllegalArgumentException(where + ": " + field + ".invert = true is not supported");
        String b = n.path("behavior").asText("");
        return switch (b) {
            case "Isolated" -> new SplitStep(pattern, Keep.ISOLATED);
            case "Removed" -> new SplitStep(pattern, Keep.REMOVED);
            case "MergedWithPrevious" -> new SplitStep(pattern, Keep.MERGED_WITH_PREVIOUS);
            case "MergedWithNext" -> new SplitStep(pattern, Keep.MERGED_WITH_NEXT);
            default -> throw new IllegalArgumentException(where + ": " + field + ".behavior \"" + b
                    + "\" is not supported (Isolated, Removed, MergedWithPrevious, MergedWithNext)");
        };
    }

    /** True when the pre-tokenizer is {@code type}, or a Sequence ending with it. */
    private static boolean endsWith(JsonNode pt, String type) {
        if (!"Sequence".equals(pt.path("type").asText())) return type.equals(pt.path("type").asText());
        JsonNode list = pt.path("pretokenizers");
        return list.isArray() && !list.isEmpty() && type.equals(list.get(list.size() - 1).path("type").asText());
    }

    /** A {@code {"String": s}} (literal) or {@code {"Regex": r}} pattern. */
    static Pattern pattern(JsonNode p, String where, String field) {
        if (p.path("Regex").isTextual()) {
            try {
                return Pattern.compile(p.get("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException(where + ": " + field + ".pattern.Regex does not compile: " + e.getDescription(), e);
            }
        }
        if (p.path("String").isTextual() && !p.get("String").asText().isEmpty()) return Pattern.compile(Pattern.quote(p.get("String").asText()));
        throw new IllegalArgumentException(where + ": " + field + ".pattern needs a \"Regex\" or a non-empty \"String\"");
    }

    static String text(JsonNode n, String where, String field, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.isTextual()) throw new IllegalArgumentException(where + ": " + field + "." + key + " is " + v + "; expected a string");
        return v.asText();
    }

    /** One character (code point) field, such as Metaspace's replacement. */
    static int oneChar(JsonNode n, String where, String field, String key) {
        String t = text(n, where, field, key);
        if (t.codePointCount(0, t.length()) != 1) throw new IllegalArgumentException(where + ": " + field + "." + key + " is \"" + t + "\"; expected one character");
        return t.codePointAt(0);
    }

    /** prepend_scheme (tokenizers >= 0.14) or the older add_prefix_space. */
    static Prepend prependScheme(JsonNode n, String where, String field) {
        if (n.hasNonNull("prepend_scheme")) {
            return switch (n.get("prepend_scheme").asText()) {
                case "always" -> Prepend.ALWAYS;
                case "first" -> Prepend.FIRST;
                case "never" -> Prepend.NEVER;
                default -> throw new IllegalArgumentException(where + ": " + field + ".prepend_scheme is " + n.get("prepend_scheme")
                        + "; expected \"always\", \"first\" or \"never\"");
            };
        }
        return bool(n, where, field + ".", "add_prefix_space", true) ? Prepend.ALWAYS : Prepend.NEVER;
    }

    static Metaspace metaspace(JsonNode n, String where, String field) {
        int rep = oneChar(n, where, field, "replacement");
        return new Metaspace(new String(Character.toChars(rep)), prependScheme(n, where, field), bool(n, where, field + ".", "split", true));
    }

    /** A SentencePiece-style decoder: Replace, ByteFallback, Fuse, Strip, Metaspace, alone or in a Sequence. */
    static List<DecodeStep> decoder(JsonNode dec, String where) {
        if (dec == null || dec.isNull()) return List.of(); // the token strings joined as they are
        List<JsonNode> list = new ArrayList<>();
        String field = "decoder";
        if ("Sequence".equals(dec.path("type").asText())) {
            if (!dec.path("decoders").isArray()) throw new IllegalArgumentException(where + ": decoder.decoders is missing or not an array");
            dec.get("decoders").forEach(list::add);
            field = "decoder.decoders";
        } else {
            list.add(dec);
        }
        List<DecodeStep> steps = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode d = list.get(i);
            String f = list.size() == 1 && field.equals("decoder") ? field : field + "[" + i + "]";
            String t = d.path("type").asText("");
            steps.add(switch (t) {
                case "Replace" -> {
                    JsonNode p = d.path("pattern");
                    if (!p.path("String").isTextual() || p.get("String").asText().isEmpty()) {
                        throw new IllegalArgumentException(where + ": " + f + ".pattern: only a non-empty \"String\" pattern is supported in a decoder");
                    }
                    yield new Replace(p.get("String").asText(), text(d, where, f, "content"));
                }
                case "ByteFallback" -> new ByteFallback();
                case "Fuse" -> new Fuse();
                case "Strip" -> {
                    int start = d.path("start").asInt(-1), stop = d.path("stop").asInt(-1);
                    if (start < 0 || stop < 0) throw new IllegalArgumentException(where + ": " + f + ": start and stop must be non-negative integers");
                    yield new Strip(oneChar(d, where, f, "content"), start, stop);
                }
                case "Metaspace" -> new MetaspaceDecode(oneChar(d, where, f, "replacement"), prependScheme(d, where, f) == Prepend.NEVER);
                default -> throw new IllegalArgumentException(where + ": " + f + ".type \"" + t + "\" is not supported with a "
                        + "SentencePiece-style pre-tokenizer (supported: Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence)");
            });
        }
        return List.copyOf(steps);
    }

    static List<TemplateItem> postProcessor(JsonNode n, String where, String field, Map<String, Integer> vocab,
                                                    List<AddedToken> added) {
        if (n == null || n.isNull()) return null;
        String t = n.path("type").asText("");
        switch (t) {
            case "ByteLevel":
                return null; // only trims offsets, which encode() does not return
            case "Sequence": {
                List<TemplateItem> found = null;
                JsonNode list = n.path("processors");
                for (int i = 0; i < list.size(); i++) {
                    List<TemplateItem> one = postProcessor(list.get(i), where, field + ".processors[" + i + "]", vocab, added);
                    if (one != null) {
                        if (found != null) throw new IllegalArgumentException(where + ": " + field + ": more than one TemplateProcessing");
                        found = one;
                    }
                }
                return found;
            }
            case "TemplateProcessing": {
                JsonNode single = n.path("single");
                if (!single.isArray()) throw new IllegalArgumentException(where + ": " + field + ".single is missing or not an array");
                JsonNode specials = n.path("special_tokens");
                List<TemplateItem> items = new ArrayList<>();
                boolean hasSeq = false;
                for (int i = 0; i < single.size(); i++) {
                    JsonNode it = single.get(i);
                    if (it.has("Sequence")) {
                        hasSeq = true;
                        items.add(new TemplateItem(null));
                    } else if (it.has("SpecialToken")) {
                        String name = it.get("SpecialToken").path("id").asText();
                        JsonNode sp = specials.path(name);
                        int[] ids;
                        if (sp.path("ids").isArray() && !sp.path("ids").isEmpty()) {
                            ids = new int[sp.get("ids").size()];
                            for (int k = 0; k < ids.length; k++) ids[k] = sp.get("ids").get(k).asInt();
                        } else {
                            Integer id = vocab.get(name);
                            for (AddedToken a : added) if (a.content().equals(name)) id = a.id();
                            if (id == null) {
                                throw new IllegalArgumentException(where + ": " + field + ".single[" + i + "] names special token \"" + name
                                        + "\", which is neither in " + field + ".special_tokens nor a token");
                            }
                            ids = new int[] {id};
                        }
                        items.add(new TemplateItem(ids));
                    } else {
                        throw new IllegalArgumentException(where + ": " + field + ".single[" + i + "] is " + it + "; expected Sequence or SpecialToken");
                    }
                }
                if (!hasSeq) throw new IllegalArgumentException(where + ": " + field + ".single has no Sequence item");
                return items;
            }
            case "RobertaProcessing", "BertProcessing": { // cls + text + sep; cls and sep are [token, id] pairs
                int cls = TokenIds.specialPairId(n, field, "cls", where), sep = TokenIds.specialPairId(n, field, "sep", where);
                return List.of(new TemplateItem(new int[] {cls}), new TemplateItem(null), new TemplateItem(new int[] {sep}));
            }
            default:
                throw new IllegalArgumentException(where + ": " + field + ".type \"" + t
                        + "\" is not supported (supported: ByteLevel, TemplateProcessing, RobertaProcessing, BertProcessing, Sequence)");
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Encoding

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        if (text == null) throw new IllegalArgumentException("encode: text is null");
        IntList out = new IntList();
        // 1. added tokens that match the raw text; 2. normalize the rest; 3. added tokens on normalized text
        List<Object> pieces = splitAdded(List.of(text), rawAdded);
        List<Object> normed = new ArrayList<>(pieces.size());
        for (Object p : pieces) normed.add(p instanceof String s ? normalizer.apply(s) : p);
        boolean first = true; // Metaspace's "first" scheme: only the piece at the start of the text
        for (Object p : splitAdded(normed, normAdded)) {
            if (p instanceof AddedToken a) {
                out.add(a.id());
            } else {
                encodeText((String) p, first, out);
            }
            first = false;
        }
        int[] ids = out.toArray();
        if (!addSpecialTokens || template == null) return ids;
        IntList t = new IntList();
        for (TemplateItem it : template) {
            if (it.ids() == null) t.addAll(ids);
            else t.addAll(it.ids());
        }
        return t.toArray();
    }

    /** Cuts the added tokens of {@code set} out of the String pieces; other pieces pass through. */
    static List<Object> splitAdded(List<Object> in, List<AddedToken> set) {
        if (set.isEmpty()) return in;
        List<Object> out = new ArrayList<>();
        for (Object p : in) {
            if (!(p instanceof String s)) {
                out.add(p);
                continue;
            }
            int last = 0, i = 0;
            while (i < s.length()) {
                AddedToken hit = null;
                for (AddedToken a : set) { // longest first, so the first hit is the longest here
                    if (s.startsWith(a.content(), i) && (!a.singleWord() || isWordBoundary(s, i, i + a.content().length()))) {
                        hit = a;
                        break;
                    }
                }
                if (hit == null) {
                    i++;
                    continue;
                }
                int start = i, end = i + hit.content().length();
                if (hit.lstrip()) while (start > last && Character.isWhitespace(s.charAt(start - 1))) start--;
                if (hit.rstrip()) while (end < s.length() && Character.isWhitespace(s.charAt(end))) end++;
                if (start > last) out.add(s.substring(last, start));
                out.add(hit);
                last = i = end;
            }
            if (last < s.length()) out.add(s.substring(last));
        }
        return out;
    }

    private static boolean isWordBoundary(String s, int start, int end) {
        return (start == 0 || !isWordChar(s.codePointBefore(start))) && (end >= s.length() || !isWordChar(s.codePointAt(end)));
    }

    private static boolean isWordChar(int cp) {
        return Character.isLetterOrDigit(cp) || cp == '_';
    }

    /** Pre-tokenizes one normalized text piece and BPE-encodes each word into {@code out}. */
    private void encodeText(String text, boolean atStart, IntList out) {
        if (!byteLevel) {
            encodePieces(text, atStart, out);
            return;
        }
        List<String> pieces = new ArrayList<>();
        pieces.add(text);
        pieces = applySplits(pieces);
        for (String p : pieces) {
            if (addPrefixSpace && !p.startsWith(" ")) p = " " + p;
            if (useRegex) {
                List<String> words = new ArrayList<>();
                splitBy(p, GPT2_SPLIT, Keep.ISOLATED, words);
                for (String w : words) out.addAll(word(bytesToChars(w.getBytes(StandardCharsets.UTF_8))));
            } else if (!p.isEmpty()) {
                out.addAll(word(bytesToChars(p.getBytes(StandardCharsets.UTF_8))));
            }
        }
    }

    /** The pieces after every Split step. */
    private List<String> applySplits(List<String> pieces) {
        for (SplitStep st : splits) {
            List<String> next = new ArrayList<>();
            for (String p : pieces) splitBy(p, st.pattern(), st.keep(), next);
            pieces = next;
        }
        return pieces;
    }

    /** SentencePiece-style: Split steps (if any), Metaspace (if any) on each piece, then BPE on its characters as they are. */
    private void encodePieces(String text, boolean atStart, IntList out) {
        if (!splits.isEmpty()) {
            List<String> pieces = applySplits(new ArrayList<>(List.of(text)));
            for (int i = 0; i < pieces.size(); i++) encodePiece(pieces.get(i), atStart && i == 0, out);
            return;
        }
        encodePiece(text, atStart, out);
    }

    private void encodePiece(String text, boolean atStart, IntList out) {
        if (metaspace == null) {
            if (!text.isEmpty()) out.addAll(word(text));
            return;
        }
        String r = metaspace.replacement();
        String t = text.replace(" ", r);
        if (!t.startsWith(r) && (metaspace.scheme() == Prepend.ALWAYS || (metaspace.scheme() == Prepend.FIRST && atStart))) t = r + t;
        if (!metaspace.split()) {
            if (!t.isEmpty()) out.addAll(word(t));
            return;
        }
        // split before each replacement character (it stays with the text after it)
        int from = 0;
        for (int i = t.indexOf(r, 1); i >= 0; i = t.indexOf(r, i + r.length())) {
            out.addAll(word(t.substring(from, i)));
            from = i;
        }
        if (from < t.length()) out.addAll(word(t.substring(from)));
    }

    /**
     * Splits {@code s} at the matches of {@code p} as HF tokenizers does: a match is its own piece
     * (ISOLATED), dropped (REMOVED), appended to the piece before it (MERGED_WITH_PREVIOUS:
     * "the-final--countdown" on "-" → "the-", "final-", "-", "countdown") or prepended to the piece
     * after it (MERGED_WITH_NEXT → "the", "-final", "-", "-countdown").
     */
    static void splitBy(String s, Pattern p, Keep keep, List<String> out) {
        Matcher m = p.matcher(s);
        int last = 0;
        while (m.find()) {
            if (m.end() == m.start()) continue;
            switch (keep) {
                case ISOLATED, REMOVED -> {
                    if (m.start() > last) out.add(s.substring(last, m.start()));
                    if (keep == Keep.ISOLATED) out.add(s.substring(m.start(), m.end()));
                    last = m.end();
                }
                case MERGED_WITH_PREVIOUS -> {
                    out.add(s.substring(last, m.end()));
                    last = m.end();
                }
                case MERGED_WITH_NEXT -> {
                    if (m.start() > last) out.add(s.substring(last, m.start()));
                    last = m.start();
                }
            }
        }
        if (last < s.length()) out.add(s.substring(last));
    }

    /** The ids of one pre-tokenized word (byte-level characters), cached. */
    private int[] word(String w) {
        int[] hit = cache.get(w);
        if (hit != null) return hit;
        int[] ids = bpe(w);
        if (w.length() <= 64) {
            if (cache.size() > 100_000) cache.clear();
            cache.put(w, ids);
        }
        return ids;
    }

    /** BPE on one word: start from characters, merge the lowest-rank adjacent pair (leftmost on ties). */
    private int[] bpe(String w) {
        if (ignoreMerges) {
            Integer whole = vocab.get(w);
            if (whole != null) return new int[] {whole};
        }
        IntList syms = new IntList();
        boolean lastUnk = false;
        for (int i = 0; i < w.length(); ) {
            int cp = w.codePointAt(i);
            int len = Character.charCount(cp);
            Integer id = vocab.get(w.substring(i, i + len));
            i += len;
            if (id != null) {
                syms.add(id);
                lastUnk = false;
                continue;
            }
            if (byteFallback) {
                byte[] bs = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8);
                boolean all = true;
                for (byte b : bs) all &= byteFallbackIds[b & 0xFF] >= 0;
                if (all) {
                    for (byte b : bs) syms.add(byteFallbackIds[b & 0xFF]);
                    lastUnk = false;
                    continue;
                }
            }
            if (unkId >= 0) {
                if (!(fuseUnk && lastUnk)) syms.add(unkId);
                lastUnk = true;
            }
            // without unk_token an unknown character is dropped, as in the tokenizers library
        }
        int n = syms.size();
        if (n < 2) return syms.toArray();
        int[] sym = syms.toArray();
        int[] next = new int[n], prev = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        // queue entries: rank << 32 | left position; popped in (rank, position) order
        PriorityQueue<Long> queue = new PriorityQueue<>();
        for (int i = 0; i + 1 < n; i++) {
            Long m = merges.get(pair(sym[i], sym[i + 1]));
            if (m != null) queue.add((m >>> 32) << 32 | i);
        }
        int alive = n;
        while (!queue.isEmpty()) {
            long e = queue.poll();
            int pos = (int) e, rank = (int) (e >>> 32);
            if (sym[pos] < 0 || next[pos] < 0) continue;
            Long m = merges.get(pair(sym[pos], sym[next[pos]]));
            if (m == null || (int) (m >>> 32) != rank) continue; // stale entry
            int r = next[pos];
            sym[pos] = (int) (long) m;
            sym[r] = -1;
            next[pos] = next[r];
            if (next[r] >= 0) prev[next[r]] = pos;
            alive--;
            if (prev[pos] >= 0) {
                Long ml = merges.get(pair(sym[prev[pos]], sym[pos]));
                if (ml != null) queue.add((ml >>> 32) << 32 | prev[pos]);
            }
            if (next[pos] >= 0) {
                Long mr = merges.get(pair(sym[pos], sym[next[pos]]));
                if (mr != null) queue.add((mr >>> 32) << 32 | pos);
            }
        }
        int[] out = new int[alive];
        for (int i = 0, k = 0; i >= 0; i = next[i]) out[k++] = sym[i];
        return out;
    }

    private static long pair(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    // ---------------------------------------------------------------------------------------------
    // Decoding

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        if (ids == null) throw new IllegalArgumentException("decode: ids is null");
        if (!byteLevel) {
            List<String> toks = new ArrayList<>(ids.length);
            for (int i = 0; i < ids.length; i++) {
                TokenIds.require(tokens, ids[i], "ids[" + i + "]", source);
                if (!(skipSpecialTokens && isSpecial(ids[i]))) toks.add(tokens[ids[i]]);
            }
            for (DecodeStep st : decodeSteps) toks = apply(st, toks);
            return String.join("", toks);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < ids.length; i++) out.writeBytes(bytesOf(ids[i], skipSpecialTokens, "ids[" + i + "]"));
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public StreamDecoder newStreamDecoder(boolean skipSpecialTokens) {
        if (!byteLevel) return new StreamDecoder(new PieceStream(decodeSteps, tokens, source, this::isSpecial, skipSpecialTokens));
        return new StreamDecoder(id -> bytesOf(id, skipSpecialTokens, "token"));
    }

    /** One decoder step on the token strings, as the tokenizers library runs it. */
    static List<String> apply(DecodeStep st, List<String> toks) {
        List<String> out = new ArrayList<>(toks.size());
        switch (st) {
            case Replace r -> toks.forEach(t -> out.add(t.replace(r.from(), r.to())));
            case Fuse f -> out.add(String.join("", toks));
            case Strip sp -> toks.forEach(t -> out.add(strip(t, sp)));
            case MetaspaceDecode m -> {
                for (int i = 0; i < toks.size(); i++) out.add(metaspaceOne(toks.get(i), m, i));
            }
            case ByteFallback bf -> {
                ByteArrayOutputStream run = new ByteArrayOutputStream();
                for (String t : toks) {
                    int b = byteToken(t);
                    if (b >= 0) {
                        run.write(b);
                        continue;
                    }
                    flushBytes(run, out);
                    out.add(t);
                }
                flushBytes(run, out);
            }
        }
        return out;
    }

    /** The byte of a {@code <0xXX>} token, or -1. */
    private static int byteToken(String t) {
        if (t.length() != 6 || !t.startsWith("<0x") || t.charAt(5) != '>') return -1;
        int hi = Character.digit(t.charAt(3), 16), lo = Character.digit(t.charAt(4), 16);
        return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
    }

    /** A run of byte tokens: its UTF-8 text, or one U+FFFD per byte when it is not valid UTF-8. */
    private static void flushBytes(ByteArrayOutputStream run, List<String> out) {
        if (run.size() == 0) return;
        byte[] b = run.toByteArray();
        run.reset();
        try {
            out.add(StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(b)).toString());
        } catch (java.nio.charset.CharacterCodingException e) {
            out.add("\uFFFD".repeat(b.length));
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters. */
    private static String strip(String t, Strip sp) {
        int a = 0, b = t.length();
        for (int k = 0; k < sp.start() && a < b && t.codePointAt(a) == sp.content(); k++) a += Character.charCount(sp.content());
        for (int k = 0; k < sp.stop() && b > a && t.codePointBefore(b) == sp.content(); k++) b -= Character.charCount(sp.content());
        return t.substring(a, b);
    }

    /**
     * Token by token bytes for a SentencePiece-style decoder: each token through the per-token steps
     * (Replace, Metaspace, a byte token as its byte); a Strip after Fuse acts on the start of the
     * whole stream, as it does on the fused text. Equal to {@link #decode} except where a run of byte
     * tokens is not valid UTF-8 (one U+FFFD per malformed sequence here, per byte there).
     */
    static final class PieceStream implements java.util.function.IntFunction<byte[]> {
        private final List<DecodeStep> decodeSteps;
        private final String[] tokens;
        private final String source;
        private final java.util.function.IntPredicate isSpecial;
        private final boolean skipSpecial;
        private int index;           // tokens emitted so far
        private final int[] stripLeft; // per fused Strip step: how many leading characters it may still remove

        PieceStream(List<DecodeStep> decodeSteps, String[] tokens, String source, java.util.function.IntPredicate isSpecial, boolean skipSpecial) {
            this.decodeSteps = decodeSteps;
            this.tokens = tokens;
            this.source = source;
            this.isSpecial = isSpecial;
            this.skipSpecial = skipSpecial;
            stripLeft = new int[decodeSteps.size()];
            for (int i = 0; i < stripLeft.length; i++) if (decodeSteps.get(i) instanceof Strip sp) stripLeft[i] = sp.start();
        }

        @Override
        public byte[] apply(int id) {
            TokenIds.require(tokens, id, "token", source);
            if (skipSpecial && isSpecial.test(id)) return new byte[0];
            String t = tokens[id];
            boolean fused = false;
            int i = index++;
            for (int k = 0; k < decodeSteps.size(); k++) {
                DecodeStep st = decodeSteps.get(k);
                switch (st) {
                    case Replace r -> t = t.replace(r.from(), r.to());
                    case ByteFallback bf -> {
                        int b = byteToken(t);
                        if (b >= 0) return rawByte(b, k, fused); // a raw byte: only a fused Strip may still act on it
                    }
                    case Fuse f -> fused = true;
                    case Strip sp -> {
                        if (!fused) t = strip(t, sp);
                        else t = stripFused(t, k, sp);
                    }
                    case MetaspaceDecode m -> t = metaspaceOne(t, m, i);
                }
            }
            return t.getBytes(StandardCharsets.UTF_8);
        }

        private byte[] rawByte(int b, int from, boolean fused) {
            String t = String.valueOf((char) b); // ISO-8859-1: a byte at or above 0x80 is never the strip character
            for (int k = from + 1; k < decodeSteps.size(); k++) {
                if (decodeSteps.get(k) instanceof Fuse) fused = true;
                else if (decodeSteps.get(k) instanceof Strip sp && fused) t = stripFused(t, k, sp);
            }
            return t.isEmpty() ? new byte[0] : new byte[] {(byte) b};
        }

        private String stripFused(String t, int k, Strip sp) {
            int a = 0;
            while (stripLeft[k] > 0 && a < t.length() && t.codePointAt(a) == sp.content()) {
                a += Character.charCount(sp.content());
                stripLeft[k]--;
            }
            if (a < t.length()) stripLeft[k] = 0; // something else came first: nothing more to strip
            return t.substring(a);
        }
    }

    /** Metaspace decoding of the token at {@code index}: replacement → space, dropped in the first token unless the scheme is never. */
    static String metaspaceOne(String t, MetaspaceDecode m, int index) {
        StringBuilder b = new StringBuilder();
        t.codePoints().forEach(c -> {
            if (c != m.replacement()) b.appendCodePoint(c);
            else if (index != 0 || m.never()) b.append(' ');
        });
        return b.toString();
    }

    private byte[] bytesOf(int id, boolean skipSpecial, String what) {
        TokenIds.require(tokens, id, what, source);
        return skipSpecial && isSpecial(id) ? new byte[0] : tokenBytes[id];
    }

    // ---------------------------------------------------------------------------------------------

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int tokenToId(String token) {
        for (AddedToken a : added) if (a.content().equals(token)) return a.id();
        Integer id = vocab.get(token);
        return id == null ? -1 : id;
    }

    @Override
    public String idToToken(int id) {
        return TokenIds.tokenOrNull(tokens, id);
    }

    @Override
    public boolean isSpecial(int id) {
        AddedToken a = addedById.get(id);
        return a != null && a.special();
    }

    /** The added tokens, in file order. */
    public List<AddedToken> addedTokens() {
        return added;
    }

    @Override
    public String toString() {
        return "BpeTokenizer[" + source + ", " + vocab.size() + " tokens, " + merges.size() + " merges, " + added.size() + " added]";
    }
}
