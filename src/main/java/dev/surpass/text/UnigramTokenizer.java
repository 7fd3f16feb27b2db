package dev.surpass.text;

import com.fasterxml.jackson.databind.JsonNode;
import dev.surpass.text.BpeTokenizer.AddedToken;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * A SentencePiece Unigram tokenizer read from a Hugging Face {@code tokenizer.json}
 * ({@code model.type = "Unigram"}: XLM-RoBERTa and the embedding models built on it, T5, mT5,
 * ALBERT-style files), following the {@code tokenizers} library:
 * <ol>
 *   <li>added tokens are cut out first, those with {@code normalized: false} on the raw text and the
 *       others after normalization, as {@link BpeTokenizer} does;</li>
 *   <li>the normalizer: {@code Precompiled} (SentencePiece's charsmap, see
 *       {@link PrecompiledCharsMap}), NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace (string or
 *       regex), Strip, or a Sequence of them;</li>
 *   <li>the pre-tokenizer: none (the piece is one word), {@code Metaspace} (spaces to the
 *       replacement, prefixed per {@code prepend_scheme} / {@code add_prefix_space}, split before each
 *       replacement unless {@code split: false}), {@code WhitespaceSplit} (split at Unicode white
 *       space, which is dropped), {@code Split}, or a Sequence of them;</li>
 *   <li>the Unigram model on each word: the segmentation into vocabulary pieces with the highest
 *       total score (Viterbi over the pieces that start at each character, as
 *       {@code Unigram::encode_optimized}); a character that starts no one-character piece may also
 *       be the unknown piece, scored {@code min_score - 10}; consecutive unknown pieces are fused
 *       into one; a fused unknown text becomes its {@code <0xNN>} byte pieces when
 *       {@code byte_fallback} is set and all of them exist, else {@code unk_id};</li>
 *   <li>the post-processor when special tokens are asked for: {@code TemplateProcessing} (single
 *       template), {@code RobertaProcessing} / {@code BertProcessing}, or a Sequence.</li>
 * </ol>
 * Decoding runs the decoder's steps on the token strings ({@code Metaspace}, {@code Replace},
 * {@code ByteFallback}, {@code Fuse}, {@code Strip}, or a Sequence); without a decoder the tokens
 * are joined with spaces, as the library does.
 *
 * <p>Thread rules: immutable after loading; any number of threads may encode and decode at once.
 */
public final class UnigramTokenizer implements Tokenizer {
    /** HF's {@code K_UNK_PENALTY}: the unknown piece scores this much below the lowest piece. */
    static final double UNK_PENALTY = 10.0;

    /** One pre-tokenizer step; a word carries whether it starts at offset 0 of the original text. */
    private sealed interface PreStep permits WhitespaceSplit, MetaspaceStep, SplitPre {}

    private record WhitespaceSplit() implements PreStep {}

    private record MetaspaceStep(BpeTokenizer.Metaspace m) implements PreStep {}

    private record SplitPre(BpeTokenizer.SplitStep split) implements PreStep {}

    private record Word(String text, boolean atStart) {}

    private final String source;
    private final String[] pieces;          // model vocabulary, by id
    private final double[] scores;
    private final Map<String, Integer> pieceToId; // a repeated piece maps to its last id, as HF's token_to_ids
    private final CharTrie trie;
    private final double minScore;
    private final int unkId;                // -1: none
    private final boolean byteFallback;
    private final int[] byteIds;            // <0xNN> ids (-1 where missing), or null
    private final String[] tokens;          // id -> token (pieces, then added tokens), null for holes
    private final List<AddedToken> added;
    private final Map<Integer, AddedToken> addedById;
    private final List<AddedToken> rawAdded, normAdded;
    private final UnaryOperator<String> normalizer;
    private final List<PreStep> preSteps;
    private final List<BpeTokenizer.DecodeStep> decodeSteps; // null: no decoder (tokens joined with " ")
    private final List<BpeTokenizer.TemplateItem> template;  // null: nothing added
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private UnigramTokenizer(String source, String[] pieces, double[] scores, int unkId, boolean byteFallback, List<AddedToken> added,
                             UnaryOperator<String> normalizer, List<PreStep> preSteps, List<BpeTokenizer.DecodeStep> decodeSteps,
                             List<BpeTokenizer.TemplateItem> template) {
        this.source = source;
        this.pieces = pieces;
        this.scores = scores;
        this.unkId = unkId;
        this.byteFallback = byteFallback;
        this.added = List.copyOf(added);
        this.normalizer = normalizer;
        this.preSteps = List.copyOf(preSteps);
        this.decodeSteps = decodeSteps;
        this.template = template;
        pieceToId = new HashMap<>(pieces.length * 2);
        double min = Double.POSITIVE_INFINITY;
        for (int i = 0; i < pieces.length; i++) {
            pieceToId.put(pieces[i], i);
            min = Math.min(min, scores[i]);
        }
        minScore = min;
        trie = new CharTrie(pieceToId);
        int size = pieces.length;
        for (AddedToken a : added) size = Math.max(size, a.id() + 1);
        tokens = Arrays.copyOf(pieces, size);
        addedById = new HashMap<>();
        List<AddedToken> raw = new ArrayList<>(), norm = new ArrayList<>();
        for (AddedToken a : added) {
            tokens[a.id()] = a.content();
            addedById.put(a.id(), a);
            (a.normalized() ? norm : raw).add(a);
        }
        raw.sort((x, y) -> y.content().length() - x.content().length());
        norm.sort((x, y) -> y.content().length() - x.content().length());
        rawAdded = raw;
        normAdded = norm;
        if (byteFallback) {
            byteIds = new int[256];
            for (int b = 0; b < 256; b++) byteIds[b] = pieceToId.getOrDefault(String.format("<0x%02X>", b), -1);
        } else {
            byteIds = null;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Loading

    /**
     * Reads a Unigram {@code tokenizer.json}.
     *
     * @throws IllegalArgumentException naming the file and field when it is not a Unigram tokenizer
     *                                  this class can run
     */
    public static UnigramTokenizer load(Path tokenizerJson) {
        return fromJson(Tokenizer.readJson(tokenizerJson), tokenizerJson.toString());
    }

    /** Builds a tokenizer from a parsed {@code tokenizer.json}; {@code where} names it in errors. */
    public static UnigramTokenizer fromJson(JsonNode root, String where) {
        if (root == null || !root.isObject()) throw new IllegalArgumentException(where + ": expected a JSON object");
        JsonNode model = root.path("model");
        if (!model.isObject()) throw new IllegalArgumentException(where + ": field \"model\" is missing or not an object");
        String type = model.path("type").asText("");
        if (!type.equals("Unigram")) throw new IllegalArgumentException(where + ": model.type is \"" + type + "\"; expected \"Unigram\"");
        JsonNode v = model.get("vocab");
        if (v == null || !v.isArray()) throw new IllegalArgumentException(where + ": field \"model.vocab\" is missing or not an array of [piece, score]");
        String[] pieces = new String[v.size()];
        double[] scores = new double[v.size()];
        for (int i = 0; i < v.size(); i++) {
            JsonNode e = v.get(i);
            if (!e.isArray() || e.size() != 2 || !e.get(0).isTextual() || !e.get(1).isNumber()) {
                throw new IllegalArgumentException(where + ": model.vocab[" + i + "] is " + e + "; expected [piece, score] such as [\"▁the\", -3.5]");
            }
            pieces[i] = e.get(0).asText();
            scores[i] = e.get(1).asDouble();
            if (!Double.isFinite(scores[i])) throw new IllegalArgumentException(where + ": model.vocab[" + i + "] has score " + e.get(1) + "; expected a finite number");
        }
        int unkId = -1;
        JsonNode u = model.get("unk_id");
        if (u != null && !u.isNull()) {
            if (!u.canConvertToExactIntegral() || u.asLong() < 0 || u.asLong() >= pieces.length) {
                throw new IllegalArgumentException(where + ": model.unk_id is " + u + "; expected an index into model.vocab (size " + pieces.length + ")");
            }
            unkId = u.asInt();
        }
        JsonNode bf = model.get("byte_fallback");
        if (bf != null && !bf.isNull() && !bf.isBoolean()) throw new IllegalArgumentException(where + ": model.byte_fallback is " + bf + "; expected true or false");
        boolean byteFallback = bf != null && bf.asBoolean(false);
        List<AddedToken> added = BpeTokenizer.addedTokens(root, where, id -> id < pieces.length ? pieces[id] : null);
        UnaryOperator<String> normalizer = BpeTokenizer.normalizer(root.get("normalizer"), where, "normalizer");
        List<PreStep> pre = preTokenizer(root.get("pre_tokenizer"), where, "pre_tokenizer");
        JsonNode dec = root.get("decoder");
        List<BpeTokenizer.DecodeStep> decodeSteps = dec == null || dec.isNull() ? null : BpeTokenizer.decoder(dec, where);
        Map<String, Integer> vocab = new HashMap<>();
        for (int i = 0; i < pieces.length; i++) vocab.put(pieces[i], i);
        List<BpeTokenizer.TemplateItem> template = BpeTokenizer.postProcessor(root.get("post_processor"), where, "post_processor", vocab, added);
        return new UnigramTokenizer(where, pieces, scores, unkId, byteFallback, added, normalizer, pre, decodeSteps, template);
    }

    private static List<PreStep> preTokenizer(JsonNode n, String where, String field) {
        if (n == null || n.isNull()) return List.of();
        String t = n.path("type").asText("");
        return switch (t) {
            case "Metaspace" -> List.of(new MetaspaceStep(BpeTokenizer.metaspace(n, where, field)));
            case "WhitespaceSplit" -> List.of(new WhitespaceSplit());
            case "Split" -> List.of(new SplitPre(BpeTokenizer.split(n, where, field)));
            case "Sequence" -> {
                JsonNode list = n.get("pretokenizers");
                if (list == null || !list.isArray()) throw new IllegalArgumentException(where + ": " + field + ".pretokenizers is missing or not an array");
                List<PreStep> steps = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) steps.addAll(preTokenizer(list.get(i), where, field + ".pretokenizers[" + i + "]"));
                yield steps;
            }
            default -> throw new IllegalArgumentException(where + ": " + field + ".type \"" + t
                    + "\" is not supported with a Unigram model (supported: Metaspace, WhitespaceSplit, Split, Sequence)");
        };
    }

    // ---------------------------------------------------------------------------------------------
    // Encoding

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        if (text == null) throw new IllegalArgumentException("encode: text is null");
        IntList out = new IntList();
        List<Object> parts = BpeTokenizer.splitAdded(List.of(text), rawAdded);
        List<Object> normed = new ArrayList<>(parts.size());
        boolean first = true;
        for (Object p : parts) {
            // a text part remembers whether it starts the original text (Metaspace's "first" scheme)
            normed.add(p instanceof String s ? new Word(normalizer.apply(s), first) : p);
            first = false;
        }
        for (Object p : normed) {
            if (p instanceof AddedToken a) {
                out.add(a.id());
                continue;
            }
            Word w = (Word) p;
            // added tokens matched on the normalized text; only the piece before the first one keeps the start
            List<Object> sub = BpeTokenizer.splitAdded(List.of(w.text()), normAdded);
            for (int i = 0; i < sub.size(); i++) {
                if (sub.get(i) instanceof AddedToken a) out.add(a.id());
                else encodeText(new Word((String) sub.get(i), w.atStart() && i == 0), out);
            }
        }
        int[] ids = out.toArray();
        if (!addSpecialTokens || template == null) return ids;
        IntList t = new IntList();
        for (BpeTokenizer.TemplateItem it : template) {
            if (it.ids() == null) t.addAll(ids);
            else t.addAll(it.ids());
        }
        return t.toArray();
    }

    /** Pre-tokenizes one normalized text part and runs the model on each word. */
    private void encodeText(Word part, IntList out) {
        if (part.text().isEmpty()) return;
        List<Word> words = List.of(part);
        for (PreStep st : preSteps) {
            List<Word> next = new ArrayList<>();
            for (Word w : words) preTokenize(st, w, next);
            words = next;
        }
        for (Word w : words) if (!w.text().isEmpty()) out.addAll(word(w.text()));
    }

    private static void preTokenize(PreStep st, Word w, List<Word> out) {
        String s = w.text();
        switch (st) {
            case WhitespaceSplit ws -> {
                int i = 0;
                while (i < s.length()) {
                    while (i < s.length() && BpeTokenizer.isWhiteSpace(s.codePointAt(i))) i += Character.charCount(s.codePointAt(i));
                    int from = i;
                    while (i < s.length() && !BpeTokenizer.isWhiteSpace(s.codePointAt(i))) i += Character.charCount(s.codePointAt(i));
                    if (i > from) out.add(new Word(s.substring(from, i), w.atStart() && from == 0));
                }
            }
            case SplitPre sp -> {
                List<String> parts = new ArrayList<>();
                BpeTokenizer.splitBy(s, sp.split().pattern(), sp.split().keep(), parts);
                // the first part starts the text when nothing before it was removed
                for (int i = 0; i < parts.size(); i++) out.add(new Word(parts.get(i), w.atStart() && i == 0 && s.startsWith(parts.get(i))));
            }
            case MetaspaceStep ms -> {
                BpeTokenizer.Metaspace m = ms.m();
                String r = m.replacement();
                String t = s.replace(" ", r);
                if (!t.startsWith(r) && (m.scheme() == BpeTokenizer.Prepend.ALWAYS || (m.scheme() == BpeTokenizer.Prepend.FIRST && w.atStart()))) t = r + t;
                if (!m.split()) {
                    out.add(new Word(t, w.atStart()));
                    return;
                }
                // MergedWithNext on the replacement: each one starts a new word
                int from = 0;
                for (int i = t.indexOf(r, 1); i >= 0; i = t.indexOf(r, i + r.length())) {
                    out.add(new Word(t.substring(from, i), w.atStart() && from == 0));
                    from = i;
                }
                if (from < t.length()) out.add(new Word(t.substring(from), w.atStart() && from == 0));
            }
        }
    }

    /** The ids of one word, cached. */
    private int[] word(String w) {
        int[] hit = cache.get(w);
        if (hit != null) return hit;
        int[] ids = model(w);
        if (w.length() <= 256) {
            if (cache.size() > 100_000) cache.clear();
            cache.put(w, ids);
        }
        return ids;
    }

    /**
     * The Unigram model on one word: {@link #viterbi} then each piece to its id, a fused unknown text
     * to its byte pieces or {@code unk_id} (HF {@code Unigram::tokenize}).
     */
    private int[] model(String w) {
        IntList ids = new IntList();
        for (String piece : viterbi(w)) {
            Integer id = pieceToId.get(piece);
            if (id != null) {
                ids.add(id);
                continue;
            }
            if (byteFallback) {
                byte[] bs = piece.getBytes(StandardCharsets.UTF_8);
                boolean all = true;
                for (byte b : bs) all &= byteIds[b & 0xFF] >= 0;
                if (all) {
                    for (byte b : bs) ids.add(byteIds[b & 0xFF]);
                    continue;
                }
            }
            ids.add(requireUnk(piece));
        }
        return ids.toArray();
    }

    private int requireUnk(String text) {
        if (unkId < 0) {
            throw new IllegalArgumentException("encode: " + source + " has no model.unk_id and \"" + text + "\" (U+"
                    + String.format("%04X", text.codePointAt(0)) + ") starts no piece of its vocabulary");
        }
        return unkId;
    }

    /**
     * The best segmentation of {@code w} as piece strings, as {@code Unigram::encode_optimized}:
     * positions are visited left to right; from each, every piece that starts there (shortest first)
     * offers {@code best[start] + score} to the position where it ends, and a position keeps the first
     * strictly best offer (so on a tie the earlier start, the longer piece, wins). A character that
     * starts no one-character piece also offers the unknown piece ({@code min_score - 10}) to its end.
     * Walking back from the end, runs of unknown pieces (any node with {@code unk_id}) are fused.
     */
    List<String> viterbi(String w) {
        int n = w.length();
        double[] best = new double[n + 1];
        int[] from = new int[n + 1];
        int[] id = new int[n + 1];
        Arrays.fill(from, -1);
        double unkScore = minScore - UNK_PENALTY;
        int pos = 0;
        while (pos < n) {
            double here = best[pos];
            int len = Character.charCount(w.codePointAt(pos));
            boolean single = false;
            int node = 0;
            for (int i = pos; i < n; i++) {
                node = trie.child(node, w.charAt(i));
                if (node < 0) break;
                int pid = trie.value(node);
                if (pid < 0) continue;
                int end = i + 1;
                double cand = here + scores[pid];
                if (from[end] < 0 || cand > best[end]) {
                    best[end] = cand;
                    from[end] = pos;
                    id[end] = pid;
                }
                if (end - pos == len) single = true;
            }
            if (!single) {
                int end = pos + len;
                double cand = here + unkScore;
                if (from[end] < 0 || cand > best[end]) {
                    best[end] = cand;
                    from[end] = pos;
                    id[end] = requireUnk(w.substring(pos, end));
                }
            }
            pos += len;
        }
        List<String> out = new ArrayList<>();
        StringBuilder unk = null; // pieces of a run of unknowns, reversed
        for (int end = n; end > 0; ) {
            int start = from[end];
            if (unkId >= 0 && id[end] == unkId) {
                if (unk == null) unk = new StringBuilder();
                unk.insert(0, w, start, end);
            } else {
                if (unk != null) {
                    out.add(unk.toString());
                    unk = null;
                }
                out.add(w.substring(start, end));
            }
            end = start;
        }
        if (unk != null) out.add(unk.toString());
        java.util.Collections.reverse(out);
        return out;
    }

    // ---------------------------------------------------------------------------------------------
    // Decoding

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        if (ids == null) throw new IllegalArgumentException("decode: ids is null");
        List<String> toks = new ArrayList<>(ids.length);
        for (int i = 0; i < ids.length; i++) {
            TokenIds.require(tokens, ids[i], "ids[" + i + "]", source);
            if (!(skipSpecialTokens && isSpecial(ids[i]))) toks.add(tokens[ids[i]]);
        }
        if (decodeSteps == null) return String.join(" ", toks);
        for (BpeTokenizer.DecodeStep st : decodeSteps) toks = BpeTokenizer.apply(st, toks);
        return String.join("", toks);
    }

    @Override
    public StreamDecoder newStreamDecoder(boolean skipSpecialTokens) {
        if (decodeSteps != null) return new StreamDecoder(new BpeTokenizer.PieceStream(decodeSteps, tokens, source, this::isSpecial, skipSpecialTokens));
        boolean[] started = {false};
        return new StreamDecoder(id -> {
            TokenIds.require(tokens, id, "token", source);
            if (skipSpecialTokens && isSpecial(id)) return new byte[0];
            String t = started[0] ? " " + tokens[id] : tokens[id];
            started[0] = true;
            return t.getBytes(StandardCharsets.UTF_8);
        });
    }

    // ---------------------------------------------------------------------------------------------

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int tokenToId(String token) {
        for (AddedToken a : added) if (a.content().equals(token)) return a.id();
        Integer id = pieceToId.get(token);
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

    /** The model's {@code unk_id}, or -1 when it has none (then an unknown character cannot be encoded). */
    public int unkId() {
        return unkId;
    }

    /** The score of piece {@code id} of the model's vocabulary. */
    public double score(int id) {
        if (id < 0 || id >= scores.length) throw new IllegalArgumentException("score: id " + id + " is not in the model's vocabulary (" + scores.length + " pieces)");
        return scores[id];
    }

    @Override
    public String toString() {
        return "UnigramTokenizer[" + source + ", " + pieces.length + " pieces, unk_id " + unkId + (byteFallback ? ", byte fallback" : "") + ", "
                + added.size() + " added]";
    }

    /**
     * A trie over UTF-16 units of the vocabulary's pieces, in flat arrays: node {@code k}'s children
     * are {@code label/target[first[k] .. first[k] + count[k])}, sorted by label; {@code value[k]} is
     * the piece id ending there or -1. The empty piece is never matched (as HF's trie iterator).
     */
    static final class CharTrie {
        private int[] first = new int[16], count = new int[16], value = new int[16];
        private char[] label = new char[16];
        private int[] target = new int[16];
        private int nodes, edges;

        CharTrie(Map<String, Integer> ids) {
            String[] keys = ids.keySet().stream().filter(k -> !k.isEmpty()).sorted().toArray(String[]::new);
            // an explicit stack of (node, lo, hi, depth): sorted keys[lo, hi) share their first depth units
            // (no recursion, so a very long piece cannot overflow the call stack)
            java.util.ArrayDeque<int[]> todo = new java.util.ArrayDeque<>();
            todo.push(new int[] {newNode(), 0, keys.length, 0});
            while (!todo.isEmpty()) {
                int[] t = todo.pop();
                int node = t[0], lo = t[1], hi = t[2], depth = t[3];
                if (lo < hi && keys[lo].length() == depth) value[node] = ids.get(keys[lo++]); // the prefix itself sorts first
                int groups = 0;
                for (int i = lo; i < hi; groups++) {
                    char c = keys[i].charAt(depth);
                    while (i < hi && keys[i].charAt(depth) == c) i++;
                }
                int at = edges;
                if (edges + groups > label.length) {
                    int cap = Math.max(label.length * 2, edges + groups);
                    label = Arrays.copyOf(label, cap);
                    target = Arrays.copyOf(target, cap);
                }
                edges += groups;
                first[node] = at;
                count[node] = groups;
                for (int i = lo, g = 0; i < hi; g++) {
                    char c = keys[i].charAt(depth);
                    int j = i;
                    while (j < hi && keys[j].charAt(depth) == c) j++;
                    int child = newNode();
                    label[at + g] = c;
                    target[at + g] = child;
                    todo.push(new int[] {child, i, j, depth + 1});
                    i = j;
                }
            }
        }

        private int newNode() {
            if (nodes == first.length) {
                first = Arrays.copyOf(first, nodes * 2);
                count = Arrays.copyOf(count, nodes * 2);
                value = Arrays.copyOf(value, nodes * 2);
            }
            value[nodes] = -1;
            return nodes++;
        }

        /** The child of {@code node} along {@code c}, or -1. */
        int child(int node, char c) {
            int lo = first[node], hi = lo + count[node] - 1;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                char m = label[mid];
                if (m < c) lo = mid + 1;
                else if (m > c) hi = mid - 1;
                else return target[mid];
            }
            return -1;
        }

        int value(int node) {
            return value[node];
        }
    }
}
