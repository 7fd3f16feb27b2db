package dev.surpass.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CLIP's tokenizer as transformers' slow {@code CLIPTokenizer} runs it without ftfy (what Stable
 * Diffusion pipelines ship in {@code tokenizer/}: vocab.json + merges.txt + special_tokens_map.json
 * + tokenizer_config.json):
 * <ol>
 *   <li>the special tokens (bos, eos, unk, pad and tokenizer_config's added_tokens_decoder) are cut
 *       out of the raw text first, leftmost-longest and case-sensitive, each becoming its id — so
 *       with Stable Diffusion 2's pad token "!" every "!" of a prompt is the pad id 0, as in
 *       transformers (diffusers issue 4153);</li>
 *   <li>each other piece is cleaned as BERT's BasicTokenizer (strip_accents False, no punctuation
 *       split): NUL, U+FFFD and control/format/unassigned characters dropped, white space to one
 *       space, spaces around CJK ideographs, NFC, split on white space, each word lowercased;</li>
 *   <li>the words, joined by spaces, are split by
 *       {@code <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+}
 *       (ignoring case; one digit per match; spaces fall between matches);</li>
 *   <li>each match's UTF-8 bytes are mapped to GPT-2's printable characters (bytes_to_unicode),
 *       "</w>" is appended to its last symbol, and the adjacent pair of lowest merge rank is merged
 *       everywhere until no ranked pair is left; a match that is a whole {@code <|startoftext|>} or
 *       {@code <|endoftext|>} is that token; a symbol missing from the vocabulary is the unk id.</li>
 * </ol>
 * {@link #encode(String)} wraps the ids in bos … eos; {@link #encodePadded} truncates and pads as
 * {@code tokenizer(prompt, padding="max_length", max_length=77, truncation=True)}. Decoding joins
 * the tokens' bytes, reads them as UTF-8 (malformed sequences as U+FFFD), turns each "</w>" into a
 * space and strips the ends (transformers' {@code clean_up_tokenization_spaces} is not applied).
 *
 * <p>A {@code tokenizer.json} whose BPE model has {@code end_of_word_suffix "</w>"}
 * ({@code CLIPTokenizerFast}) loads its vocabulary, merges and added tokens and runs the same
 * steps; the fast tokenizer's own normalizer differs from the slow one only on control characters
 * and CJK spacing.
 *
 * <p>Thread rules: immutable after loading; any number of threads may encode and decode at once.
 */
public final class ClipTokenizer implements Tokenizer {
    /** The slow tokenizer's split (transformers' {@code CLIPTokenizer.pat}). */
    static final Pattern SPLIT = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.UNICODE_CHARACTER_CLASS);
    /** merges.txt keeps at most this many merges after its header line (49152 − 256 − 2, as transformers reads it). */
    static final int MAX_MERGES = 49152 - 256 - 2;
    static final String BOS = "<|startoftext|>", EOS = "<|endoftext|>", SUFFIX = "</w>";
    /** Ids are indices of an id → token table: refused from here on (the largest real vocabularies hold a few hundred thousand). */
    static final int MAX_ID = 1 << 24;

    private final String source;
    private final Map<String, Integer> vocab;
    private final String[] tokens;            // id → token, null for holes
    private final byte[][] tokenBytes;        // id → decoded bytes, "</w>" as a space
    private final Map<String, Integer> ranks; // "left right" → merge rank
    private final List<String> specials;      // cut out of the raw text, longest first
    private final Map<String, Integer> specialIds;
    private final boolean[] special;          // id → is a special token
    private final int bosId, eosId, unkId, padId, maxLength;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private ClipTokenizer(String source, Map<String, Integer> vocab, Map<String, Integer> ranks, Map<String, Integer> specialIds,
                          String bos, String eos, String unk, String pad, int maxLength) {
        this.source = source;
        this.vocab = vocab;
        this.ranks = ranks;
        this.specialIds = specialIds;
        this.maxLength = maxLength;
        int size = 0;
        for (int id : vocab.values()) size = Math.max(size, id + 1);
        for (int id : specialIds.values()) size = Math.max(size, id + 1);
        tokens = new String[size];
        for (var e : vocab.entrySet()) tokens[e.getValue()] = e.getKey();
        special = new boolean[size];
        for (var e : specialIds.entrySet()) {
            if (tokens[e.getValue()] == null) tokens[e.getValue()] = e.getKey();
            special[e.getValue()] = true;
        }
        tokenBytes = new byte[size][];
        for (int i = 0; i < size; i++) {
            if (tokens[i] != null) tokenBytes[i] = decodedBytes(tokens[i]);
        }
        List<String> sp = new ArrayList<>(specialIds.keySet());
        sp.sort((x, y) -> y.length() - x.length());
        specials = sp;
        bosId = specialIds.get(bos);
        eosId = specialIds.get(eos);
        unkId = specialIds.get(unk);
        padId = specialIds.get(pad);
    }

    /** A token's bytes: its byte-level characters mapped back, each "</w>" a space (the byte decoder leaves "</w>" as it is). */
    private static byte[] decodedBytes(String token) {
        ByteArrayOutputStream b = new ByteArrayOutputStream(token.length());
        int from = 0;
        for (int at; (at = token.indexOf(SUFFIX, from)) >= 0; from = at + SUFFIX.length()) {
            b.writeBytes(BpeTokenizer.charsToBytes(token.substring(from, at)));
            b.write(' ');
        }
        b.writeBytes(BpeTokenizer.charsToBytes(token.substring(from)));
        return b.toByteArray();
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Reads a CLIP tokenizer: a folder with vocab.json + merges.txt (and optional
     * special_tokens_map.json / tokenizer_config.json) or that folder's vocab.json / merges.txt, a
     * folder with only a tokenizer.json, a Stable Diffusion pipeline root (its {@code tokenizer/}),
     * or a tokenizer.json file.
     *
     * @throws IllegalArgumentException naming the file and field for a missing or malformed file
     */
    public static ClipTokenizer load(Path path) {
        if (path == null) throw new IllegalArgumentException("ClipTokenizer.load: path is null");
        String name = path.getFileName() == null ? "" : path.getFileName().toString();
        if (Files.isRegularFile(path) && (name.equals("vocab.json") || name.equals("merges.txt")) && path.getParent() != null) {
            return load(path.getParent()); // one of the slow tokenizer's files: its folder
        }
        if (Files.isRegularFile(path)) return fromJson(Tokenizer.readJson(path), path.toString());
        if (!Files.isDirectory(path)) throw new IllegalArgumentException(path + ": no such tokenizer folder or file");
        Path dir = path;
        if (!Files.isRegularFile(dir.resolve("vocab.json")) && !Files.isRegularFile(dir.resolve("tokenizer.json"))
                && Files.isDirectory(dir.resolve("tokenizer"))) {
            dir = dir.resolve("tokenizer"); // a pipeline root
        }
        Path vocabFile = dir.resolve("vocab.json"), mergesFile = dir.resolve("merges.txt");
        if (!Files.isRegularFile(vocabFile) || !Files.isRegularFile(mergesFile)) {
            Path json = dir.resolve("tokenizer.json");
            if (Files.isRegularFile(json)) return fromJson(Tokenizer.readJson(json), json.toString());
            throw new IllegalArgumentException(dir + ": a CLIP tokenizer needs vocab.json and merges.txt (or tokenizer.json)");
        }
        Map<String, Integer> vocab = vocab(Tokenizer.readJson(vocabFile), vocabFile.toString());
        Map<String, Integer> ranks = merges(mergesFile);
        Settings s = Settings.read(dir);
        return build(dir.toString(), vocab, ranks, s);
    }

    /**
     * A {@code tokenizer.json} whose model is BPE with {@code end_of_word_suffix "</w>"}; the pad
     * token and length come from its {@code padding} / {@code truncation} when set, else from a
     * tokenizer_config.json / special_tokens_map.json beside it, else "<|endoftext|>" and 77.
     *
     * @throws IllegalArgumentException naming {@code where} and the field for anything else
     */
    public static ClipTokenizer fromJson(JsonNode root, String where) {
        JsonNode model = root.path("model");
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) throw new IllegalArgumentException(where + ": model.type is \"" + type + "\"; a CLIP tokenizer is BPE");
        if (!SUFFIX.equals(model.path("end_of_word_suffix").asText(""))) {
            throw new IllegalArgumentException(where + ": model.end_of_word_suffix is " + model.path("end_of_word_suffix")
                    + "; a CLIP tokenizer has \"</w>\"");
        }
        Map<String, Integer> vocab = vocab(model.path("vocab"), where + " (model.vocab)");
        JsonNode ms = model.path("merges");
        if (!ms.isArray()) throw new IllegalArgumentException(where + ": model.merges is missing or not a list");
        Map<String, Integer> ranks = new HashMap<>();
        for (int i = 0; i < ms.size(); i++) {
            JsonNode m = ms.get(i);
            String[] pair;
            if (m.isTextual()) pair = m.asText().split(" ");
            else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) pair = new String[] {m.get(0).asText(), m.get(1).asText()};
            else pair = null;
            if (pair == null || pair.length != 2) {
                throw new IllegalArgumentException(where + ": model.merges[" + i + "] is " + m + "; expected \"left right\" or [left, right]");
            }
            ranks.put(pair[0] + " " + pair[1], i);
        }
        Path file = Path.of(where);
        Settings s = file.getParent() != null ? Settings.read(file.getParent()) : new Settings();
        if (!model.path("unk_token").isMissingNode() && model.path("unk_token").isTextual()) s.unk = model.path("unk_token").asText();
        JsonNode padding = root.path("padding");
        if (padding.path("pad_token").isTextual()) s.pad = padding.path("pad_token").asText();
        JsonNode trunc = root.path("truncation");
        if (trunc.path("max_length").canConvertToInt() && trunc.path("max_length").asInt() > 0) s.maxLength = trunc.path("max_length").asInt();
        for (JsonNode a : root.path("added_tokens")) {
            if (!a.path("content").isTextual() || !a.path("id").isIntegralNumber() || !a.path("id").canConvertToInt() || a.path("id").asInt() < 0
                    || a.path("id").asInt() >= MAX_ID) {
                throw new IllegalArgumentException(where + ": added_tokens has " + a + "; expected {\"id\": id, \"content\": text, ...}");
            }
            s.added.put(a.path("content").asText(), a.path("id").asInt());
        }
        return build(where, vocab, ranks, s);
    }

    /** The special-token settings of tokenizer_config.json / special_tokens_map.json, with CLIPTokenizer's defaults. */
    private static final class Settings {
        String bos = BOS, eos = EOS, unk = EOS, pad = EOS;
        int maxLength = 77;
        final Map<String, Integer> added = new LinkedHashMap<>();

        /** tokenizer_config.json, then special_tokens_map.json over it (as from_pretrained applies them). */
        static Settings read(Path dir) {
            Settings s = new Settings();
            for (String name : new String[] {"tokenizer_config.json", "special_tokens_map.json"}) {
                Path f = dir.resolve(name);
                if (!Files.isRegularFile(f)) continue;
                JsonNode n = Tokenizer.readJson(f);
                s.bos = token(n, "bos_token", s.bos, f);
                s.eos = token(n, "eos_token", s.eos, f);
                s.unk = token(n, "unk_token", s.unk, f);
                s.pad = token(n, "pad_token", s.pad, f);
                JsonNode len = n.path("model_max_length");
                if (len.isNumber()) {
                    if (!(len.asDouble() >= 1)) throw new IllegalArgumentException(f + ": field \"model_max_length\" is " + len + "; expected a positive number");
                    s.maxLength = len.asDouble() >= Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) len.asDouble();
                }
                JsonNode dec = n.path("added_tokens_decoder");
                for (var e : dec.properties()) {
                    int id;
                    try {
                        id = Integer.parseInt(e.getKey());
                    } catch (NumberFormatException ex) {
                        id = -1;
                    }
                    if (id < 0 || id >= MAX_ID || !e.getValue().path("content").isTextual()) {
                        throw new IllegalArgumentException(f + ": added_tokens_decoder has \"" + e.getKey() + "\": " + e.getValue()
                                + "; expected an id and {\"content\": text, ...}");
                    }
                    s.added.put(e.getValue().path("content").asText(), id);
                }
            }
            return s;
        }

        /** A special token field: a string, or an AddedToken object with "content"; absent or null keeps {@code dflt}. */
        private static String token(JsonNode n, String key, String dflt, Path f) {
            JsonNode v = n.path(key);
            if (v.isMissingNode() || v.isNull()) return dflt;
            if (v.isTextual()) return v.asText();
            if (v.isObject() && v.path("content").isTextual()) return v.path("content").asText();
            throw new IllegalArgumentException(f + ": field \"" + key + "\" is " + v + "; expected a token string or {\"content\": ...}");
        }
    }

    private static ClipTokenizer build(String where, Map<String, Integer> vocab, Map<String, Integer> ranks, Settings s) {
        Map<String, Integer> specialIds = new LinkedHashMap<>(s.added);
        String[][] named = {{"bos_token", s.bos}, {"eos_token", s.eos}, {"unk_token", s.unk}, {"pad_token", s.pad}};
        for (String[] kv : named) {
            Integer id = vocab.containsKey(kv[1]) ? vocab.get(kv[1]) : s.added.get(kv[1]);
            if (id == null) {
                throw new IllegalArgumentException(where + ": " + kv[0] + " \"" + kv[1] + "\" is neither in the vocabulary nor an added token");
            }
            specialIds.put(kv[1], id);
        }
        specialIds.remove("");
        return new ClipTokenizer(where, vocab, ranks, specialIds, s.bos, s.eos, s.unk, s.pad, s.maxLength);
    }

    private static Map<String, Integer> vocab(JsonNode n, String where) {
        if (!n.isObject() || n.isEmpty()) throw new IllegalArgumentException(where + ": expected a non-empty object of token → id");
        Map<String, Integer> v = new HashMap<>(n.size() * 2);
        Map<Integer, String> byId = new HashMap<>(n.size() * 2);
        for (var e : n.properties()) {
            JsonNode id = e.getValue();
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0 || id.asInt() >= MAX_ID) {
                throw new IllegalArgumentException(where + ": token \"" + e.getKey() + "\" has id " + id + "; expected an integer in [0, " + MAX_ID + ")");
            }
            String prev = byId.put(id.asInt(), e.getKey());
            if (prev != null) throw new IllegalArgumentException(where + ": id " + id + " is given to both \"" + prev + "\" and \"" + e.getKey() + "\"");
            v.put(e.getKey(), id.asInt());
        }
        return v;
    }

    /** merges.txt as transformers reads it: stripped, the first line (#version) skipped, at most {@link #MAX_MERGES} pairs. */
    private static Map<String, Integer> merges(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage(), e);
        }
        String[] lines = pyStrip(text).split("\n", -1);
        Map<String, Integer> ranks = new HashMap<>();
        for (int i = 1; i < lines.length && i <= MAX_MERGES; i++) {
            String[] parts = pyStrip(lines[i]).split("\\s+");
            if (parts.length != 2) {
                throw new IllegalArgumentException(file + ": line " + (i + 1) + " is \"" + lines[i] + "\"; expected two symbols \"left right\"");
            }
            ranks.put(parts[0] + " " + parts[1], i - 1); // a repeated pair keeps its last rank, as Python's dict
        }
        return ranks;
    }

    // ---------------------------------------------------------------------------------------------
    // Encoding

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        if (text == null) throw new IllegalArgumentException("encode: text is null");
        IntList out = new IntList();
        if (addSpecialTokens) out.add(bosId);
        int last = 0, i = 0;
        while (i < text.length()) {
            String hit = null;
            for (String sp : specials) { // longest first
                if (text.startsWith(sp, i)) {
                    hit = sp;
                    break;
                }
            }
            if (hit == null) {
                i++;
                continue;
            }
            if (i > last) encodePiece(text.substring(last, i), out);
            out.add(specialIds.get(hit));
            last = i = i + hit.length();
        }
        if (last < text.length()) encodePiece(text.substring(last), out);
        if (addSpecialTokens) out.add(eosId);
        return out.toArray();
    }

    /**
     * At most {@code maxLength} ids (0: no limit): the text's ids cut at their end, bos and eos kept
     * around them when {@code addSpecialTokens} (HF's truncation=True).
     *
     * @throws IllegalArgumentException when {@code maxLength} is negative or cannot hold bos and eos
     */
    @Override
    public int[] encode(String text, boolean addSpecialTokens, int maxLength) {
        if (maxLength < 0) throw new IllegalArgumentException("encode: maxLength is " + maxLength);
        int extra = addSpecialTokens ? 2 : 0;
        if (maxLength != 0 && maxLength < extra) {
            throw new IllegalArgumentException("encode: maxLength " + maxLength + " is shorter than the 2 special tokens (bos, eos)");
        }
        int[] content = encode(text, false);
        if (maxLength != 0 && content.length > maxLength - extra) content = Arrays.copyOf(content, maxLength - extra);
        if (!addSpecialTokens) return content;
        int[] out = new int[content.length + 2];
        out[0] = bosId;
        System.arraycopy(content, 0, out, 1, content.length);
        out[out.length - 1] = eosId;
        return out;
    }

    /**
     * Exactly {@code length} ids: bos, the text's ids (cut to fit), eos, then the pad id — what
     * pipelines get from {@code tokenizer(prompt, padding="max_length", max_length=length,
     * truncation=True).input_ids}.
     *
     * @throws IllegalArgumentException when {@code length < 2} or the text is null
     */
    public int[] encodePadded(String text, int length) {
        if (length < 2) throw new IllegalArgumentException("encodePadded: length is " + length + "; expected at least 2 (bos, eos)");
        int[] ids = encode(text, true, length);
        int[] out = Arrays.copyOf(ids, length);
        Arrays.fill(out, ids.length, length, padId);
        return out;
    }

    /** One piece of text between special tokens: cleaned, split, byte-mapped and BPE-encoded into {@code out}. */
    private void encodePiece(String piece, IntList out) {
        String text = basicClean(piece);
        if (text.isEmpty()) return;
        Matcher m = SPLIT.matcher(text);
        while (m.find()) {
            String word = m.group();
            int[] ids = cache.get(word);
            if (ids == null) {
                ids = encodeWord(word);
                if (word.length() <= 64 && cache.size() < 100_000) cache.put(word, ids); // common words; long runs are not worth keeping
            }
            out.addAll(ids);
        }
    }

    private int[] encodeWord(String word) {
        if (word.equals(BOS) || word.equals(EOS)) return new int[] {idOrUnk(word)}; // the slow tokenizer's cache holds them as they are
        String chars = BpeTokenizer.bytesToChars(word.getBytes(StandardCharsets.UTF_8));
        List<String> syms = bpe(chars);
        int[] ids = new int[syms.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = idOrUnk(syms.get(i));
        return ids;
    }

    private int idOrUnk(String token) {
        Integer id = vocab.get(token);
        return id != null ? id : unkId;
    }

    /** BPE as the slow tokenizer: "</w>" on the last symbol, then the lowest-ranked pair merged everywhere, left to right, until none is ranked. */
    private List<String> bpe(String chars) {
        List<String> word = new ArrayList<>(chars.length());
        for (int i = 0; i < chars.length(); i++) word.add(String.valueOf(chars.charAt(i))); // byte-level characters are all in the BMP
        word.set(word.size() - 1, word.get(word.size() - 1) + SUFFIX);
        while (word.size() > 1) {
            int best = Integer.MAX_VALUE;
            String first = null, second = null;
            for (int i = 0; i + 1 < word.size(); i++) {
                Integer r = ranks.get(word.get(i) + " " + word.get(i + 1));
                if (r != null && r < best) {
                    best = r;
                    first = word.get(i);
                    second = word.get(i + 1);
                }
            }
            if (first == null) break;
            List<String> next = new ArrayList<>(word.size());
            for (int i = 0; i < word.size(); ) {
                if (i + 1 < word.size() && word.get(i).equals(first) && word.get(i + 1).equals(second)) {
                    next.add(first + second);
                    i += 2;
                } else {
                    next.add(word.get(i++));
                }
            }
            word = next;
        }
        return word;
    }

    /**
     * BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize, joined by spaces:
     * control characters dropped, white space to spaces, CJK ideographs spaced, NFC, split on white
     * space, each word lowercased.
     */
    static String basicClean(String text) {
        StringBuilder b = new StringBuilder(text.length() + 8);
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == 0 || cp == 0xFFFD || isControl(cp)) continue;
            if (isWhitespace(cp)) {
                b.append(' ');
            } else if (isCjk(cp)) {
                b.append(' ').appendCodePoint(cp).append(' ');
            } else {
                b.appendCodePoint(cp);
            }
        }
        String nfc = Normalizer.normalize(b, Normalizer.Form.NFC);
        StringBuilder out = new StringBuilder(nfc.length());
        int start = -1;
        for (int i = 0; i <= nfc.length(); i++) {
            boolean space = i == nfc.length() || isPySpace(nfc.charAt(i));
            if (!space && start < 0) start = i;
            if (space && start >= 0) {
                if (out.length() > 0) out.append(' ');
                out.append(nfc.substring(start, i).toLowerCase(Locale.ROOT));
                start = -1;
            }
        }
        return out.toString();
    }

    /** BERT's _is_control: categories C* except tab, newline and carriage return. */
    private static boolean isControl(int cp) {
        if (cp == '\t' || cp == '\n' || cp == '\r') return false;
        int t = Character.getType(cp);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.UNASSIGNED || t == Character.PRIVATE_USE
                || t == Character.SURROGATE;
    }

    /** BERT's _is_whitespace: space, tab, newline, carriage return and category Zs. */
    private static boolean isWhitespace(int cp) {
        return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || Character.getType(cp) == Character.SPACE_SEPARATOR;
    }

    /** Python's str.isspace on what cleaning leaves: the space and the line / paragraph separators (Zl, Zp). */
    private static boolean isPySpace(char c) {
        return c == ' ' || c == '\u2028' || c == '\u2029';
    }

    /** BERT's CJK ideograph blocks. */
    private static boolean isCjk(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
                || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }

    /** Python's str.strip(): white space off both ends. */
    private static String pyStrip(String s) {
        int a = 0, z = s.length();
        while (a < z && isPyWhite(s.charAt(a))) a++;
        while (z > a && isPyWhite(s.charAt(z - 1))) z--;
        return s.substring(a, z);
    }

    private static boolean isPyWhite(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085';
    }

    // ---------------------------------------------------------------------------------------------
    // Decoding

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        if (ids == null) throw new IllegalArgumentException("decode: ids is null");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < ids.length; i++) out.writeBytes(bytesOf(ids[i], skipSpecialTokens, "ids[" + i + "]"));
        return pyStrip(out.toString(StandardCharsets.UTF_8));
    }

    /** Streams the bytes {@link #decode} joins; the ends are not stripped (the stream cannot know them). */
    @Override
    public StreamDecoder newStreamDecoder(boolean skipSpecialTokens) {
        return new StreamDecoder(id -> bytesOf(id, skipSpecialTokens, "token"));
    }

    private byte[] bytesOf(int id, boolean skipSpecial, String what) {
        TokenIds.require(tokens, id, what, source);
        return skipSpecial && special[id] ? new byte[0] : tokenBytes[id];
    }

    // ---------------------------------------------------------------------------------------------
    // Lookups

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int tokenToId(String token) {
        if (token == null) return -1;
        Integer id = vocab.get(token);
        if (id == null) id = specialIds.get(token);
        return id == null ? -1 : id;
    }

    @Override
    public String idToToken(int id) {
        return TokenIds.tokenOrNull(tokens, id);
    }

    @Override
    public boolean isSpecial(int id) {
        return id >= 0 && id < special.length && special[id];
    }

    /** The id of {@code <|startoftext|>} (bos_token). */
    public int bosId() {
        return bosId;
    }

    /** The id of {@code <|endoftext|>} (eos_token). */
    public int eosId() {
        return eosId;
    }

    /** The padding id: pad_token's (SD 1.x "<|endoftext|>" 49407, SD 2.x "!" 0). */
    public int padId() {
        return padId;
    }

    /** The id symbols missing from the vocabulary get (unk_token's). */
    public int unkId() {
        return unkId;
    }

    /** model_max_length (77 for CLIP; {@link Integer#MAX_VALUE} when the config says "no limit"). */
    public int maxLength() {
        return maxLength;
    }

    @Override
    public String toString() {
        return "ClipTokenizer[" + source + ", " + vocab.size() + " tokens, " + ranks.size() + " merges]";
    }
}
