package dev.surpass.text;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * A raw SentencePiece {@code .model} file ({@code spiece.model}, {@code sentencepiece.bpe.model}):
 * the {@code ModelProto} protobuf read by a minimal hand-written decoder, only the fields a Unigram
 * tokenizer needs — {@code pieces} (piece, score, type), {@code trainer_spec.model_type},
 * {@code unk_id} and {@code byte_fallback}, {@code normalizer_spec.precompiled_charsmap},
 * {@code add_dummy_prefix} and {@code remove_extra_whitespaces}; other fields are skipped.
 *
 * <p>{@link #toTokenizerJson} turns it into the {@code tokenizer.json} that transformers' generic
 * {@code SpmConverter} writes for a Unigram model, so the result tokenizes as HF's fast tokenizer
 * converted from the same file with no family-specific rules: Precompiled, then (when
 * {@code remove_extra_whitespaces}) Strip on the right and runs of spaces to one {@code ▁}; Metaspace
 * ({@code always} when {@code add_dummy_prefix}, else {@code never}); CONTROL pieces as special added
 * tokens and USER_DEFINED ones as plain added tokens, both matched on the raw text; no post-processor.
 * Unlike the converter, {@code trainer_spec.byte_fallback} is kept (SentencePiece's own behaviour).
 * Family rules are not applied: XLM-R's fairseq id shift (HF's ids are the file's plus one, with
 * {@code <s> <pad> </s> <unk>} first) and T5's {@code </s>} template and extra ids come with their
 * {@code tokenizer.json}, which should be preferred when the repository has one.
 */
public final class SentencePieceModel {
    /** SentencePiece's piece types ({@code ModelProto.SentencePiece.Type}). */
    public enum Type { NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE }

    /** One piece of the model. */
    public record Piece(String piece, float score, Type type) {}

    private final List<Piece> pieces;
    private final int modelType, unkId;
    private final boolean byteFallback, addDummyPrefix, removeExtraWhitespaces;
    private final byte[] charsMap;

    private SentencePieceModel(List<Piece> pieces, int modelType, int unkId, boolean byteFallback, byte[] charsMap, boolean addDummyPrefix,
                               boolean removeExtraWhitespaces) {
        this.pieces = List.copyOf(pieces);
        this.modelType = modelType;
        this.unkId = unkId;
        this.byteFallback = byteFallback;
        this.charsMap = charsMap;
        this.addDummyPrefix = addDummyPrefix;
        this.removeExtraWhitespaces = removeExtraWhitespaces;
    }

    public List<Piece> pieces() {
        return pieces;
    }

    /** {@code trainer_spec.model_type}: 1 Unigram, 2 BPE, 3 word, 4 char. */
    public int modelType() {
        return modelType;
    }

    public int unkId() {
        return unkId;
    }

    public boolean byteFallback() {
        return byteFallback;
    }

    public boolean addDummyPrefix() {
        return addDummyPrefix;
    }

    public boolean removeExtraWhitespaces() {
        return removeExtraWhitespaces;
    }

    /** {@code normalizer_spec.precompiled_charsmap} (empty when the model has none). */
    public byte[] precompiledCharsMap() {
        return charsMap.clone();
    }

    /**
     * Reads a {@code .model} file.
     *
     * @throws IllegalArgumentException naming the file and field when it is not a readable ModelProto
     */
    public static SentencePieceModel read(Path file) {
        if (file == null) throw new IllegalArgumentException("SentencePiece model file is null");
        byte[] b;
        try {
            b = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read the SentencePiece model: " + e.getMessage(), e);
        }
        return parse(b, file.toString());
    }

    /** Parses ModelProto bytes; {@code where} names them in errors. */
    public static SentencePieceModel parse(byte[] bytes, String where) {
        List<Piece> pieces = new ArrayList<>();
        int[] trainer = {1, 0, 0}; // model_type (default UNIGRAM), unk_id (default 0), byte_fallback
        byte[] charsMap = new byte[0];
        boolean[] norm = {true, true}; // add_dummy_prefix, remove_extra_whitespaces (defaults true)
        Reader r = new Reader(bytes, 0, bytes.length, where, "ModelProto");
        while (r.more()) {
            int tag = r.tag();
            int field = tag >>> 3;
            if (field == 1 && (tag & 7) == 2) {
                pieces.add(piece(r.sub("pieces[" + pieces.size() + "]"), pieces.size()));
            } else if (field == 2 && (tag & 7) == 2) {
                Reader t = r.sub("trainer_spec");
                while (t.more()) {
                    int tt = t.tag();
                    switch (tt) {
                        case 3 << 3 -> trainer[0] = (int) t.varint();
                        case 40 << 3 -> trainer[1] = (int) t.varint();
                        case 35 << 3 -> trainer[2] = t.varint() != 0 ? 1 : 0;
                        default -> t.skip(tt);
                    }
                }
            } else if (field == 3 && (tag & 7) == 2) {
                Reader n = r.sub("normalizer_spec");
                while (n.more()) {
                    int nt = n.tag();
                    switch (nt) {
                        case 2 << 3 | 2 -> charsMap = n.bytes("normalizer_spec.precompiled_charsmap");
                        case 3 << 3 -> norm[0] = n.varint() != 0;
                        case 4 << 3 -> norm[1] = n.varint() != 0;
                        default -> n.skip(nt);
                    }
                }
            } else {
                r.skip(tag);
            }
        }
        if (pieces.isEmpty()) throw new IllegalArgumentException(where + ": ModelProto.pieces is empty; not a SentencePiece model");
        return new SentencePieceModel(pieces, trainer[0], trainer[1], trainer[2] != 0, charsMap, norm[0], norm[1]);
    }

    private static Piece piece(Reader r, int index) {
        String piece = null;
        float score = 0;
        int type = 1;
        while (r.more()) {
            int tag = r.tag();
            switch (tag) {
                case 1 << 3 | 2 -> piece = r.string("pieces[" + index + "].piece");
                case 2 << 3 | 5 -> score = Float.intBitsToFloat(r.fixed32());
                case 3 << 3 -> type = (int) r.varint();
                default -> r.skip(tag);
            }
        }
        if (piece == null || piece.isEmpty()) throw new IllegalArgumentException(r.where + ": ModelProto.pieces[" + index + "].piece is missing or empty");
        Type t = switch (type) {
            case 1 -> Type.NORMAL;
            case 2 -> Type.UNKNOWN;
            case 3 -> Type.CONTROL;
            case 4 -> Type.USER_DEFINED;
            case 5 -> Type.UNUSED;
            case 6 -> Type.BYTE;
            default -> throw new IllegalArgumentException(r.where + ": ModelProto.pieces[" + index + "].type is " + type + "; expected 1..6");
        };
        return new Piece(piece, score, t);
    }

    /**
     * The {@code tokenizer.json} tree transformers' {@code SpmConverter} would write for this model
     * (see the class comment).
     *
     * @throws IllegalArgumentException when the model is not a Unigram model or its unk_id is out of range
     */
    public ObjectNode toTokenizerJson(String where) {
        if (modelType != 1) {
            throw new IllegalArgumentException(where + ": trainer_spec.model_type is " + modelType + "; only 1 (UNIGRAM) is supported (2 is BPE: use its tokenizer.json)");
        }
        if (unkId < 0 || unkId >= pieces.size()) {
            throw new IllegalArgumentException(where + ": trainer_spec.unk_id is " + unkId + "; expected an index into the " + pieces.size() + " pieces");
        }
        if (charsMap.length > 0) PrecompiledCharsMap.parse(charsMap, where, "normalizer_spec.precompiled_charsmap"); // fail naming the proto field
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < pieces.size(); i++) {
            Piece p = pieces.get(i);
            if (p.type() != Type.CONTROL && p.type() != Type.USER_DEFINED) continue;
            added.addObject().put("id", i).put("content", p.piece()).put("single_word", false).put("lstrip", false).put("rstrip", false)
                    .put("normalized", false).put("special", p.type() == Type.CONTROL);
        }
        ObjectNode normalizer = root.putObject("normalizer").put("type", "Sequence");
        ArrayNode ns = normalizer.putArray("normalizers");
        if (charsMap.length > 0) ns.addObject().put("type", "Precompiled").put("precompiled_charsmap", Base64.getEncoder().encodeToString(charsMap));
        if (removeExtraWhitespaces) {
            ns.addObject().put("type", "Strip").put("strip_left", false).put("strip_right", true);
            ns.addObject().put("type", "Replace").put("content", "\u2581").putObject("pattern").put("Regex", " {2,}");
        }
        String scheme = addDummyPrefix ? "always" : "never";
        root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "\u2581").put("prepend_scheme", scheme).put("split", true);
        root.putNull("post_processor");
        root.putObject("decoder").put("type", "Metaspace").put("replacement", "\u2581").put("prepend_scheme", scheme).put("split", true);
        ObjectNode model = root.putObject("model").put("type", "Unigram").put("unk_id", unkId).put("byte_fallback", byteFallback);
        ArrayNode vocab = model.putArray("vocab");
        for (Piece p : pieces) vocab.addArray().add(p.piece()).add((double) p.score());
        return root;
    }

    /** The Unigram tokenizer of this model ({@link #toTokenizerJson}). */
    public UnigramTokenizer toTokenizer(String where) {
        return UnigramTokenizer.fromJson(toTokenizerJson(where), where);
    }

    /** A protobuf reader over {@code b[pos, end)}; errors name {@code where} and the message being read. */
    private static final class Reader {
        final byte[] b;
        int pos;
        final int end;
        final String where, what;

        Reader(byte[] b, int pos, int end, String where, String what) {
            this.b = b;
            this.pos = pos;
            this.end = end;
            this.where = where;
            this.what = what;
        }

        boolean more() {
            return pos < end;
        }

        private IllegalArgumentException bad(String msg) {
            return new IllegalArgumentException(where + ": " + what + ": " + msg + " at byte " + pos + " (not a SentencePiece model, or truncated)");
        }

        int tag() {
            long t = varint();
            if (t >>> 3 == 0 || t > Integer.MAX_VALUE) throw bad("invalid field tag " + t);
            return (int) t;
        }

        long varint() {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) throw bad("truncated varint");
                int x = b[pos++] & 0xFF;
                v |= (long) (x & 0x7F) << shift;
                if (x < 0x80) return v;
            }
            throw bad("varint longer than 10 bytes");
        }

        int fixed32() {
            if (end - pos < 4) throw bad("truncated fixed32");
            int v = (b[pos] & 0xFF) | (b[pos + 1] & 0xFF) << 8 | (b[pos + 2] & 0xFF) << 16 | (b[pos + 3] & 0xFF) << 24;
            pos += 4;
            return v;
        }

        private int length() {
            long n = varint();
            if (n < 0 || n > end - pos) throw bad("length " + n + " runs past the end");
            return (int) n;
        }

        Reader sub(String name) {
            int n = length();
            Reader r = new Reader(b, pos, pos + n, where, what.equals("ModelProto") ? "ModelProto." + name : what + "." + name);
            pos += n;
            return r;
        }

        byte[] bytes(String name) {
            int n = length();
            byte[] out = java.util.Arrays.copyOfRange(b, pos, pos + n);
            pos += n;
            return out;
        }

        String string(String name) {
            byte[] raw = bytes(name);
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .decode(java.nio.ByteBuffer.wrap(raw)).toString();
            } catch (CharacterCodingException e) {
                throw new IllegalArgumentException(where + ": ModelProto." + name + " is not valid UTF-8", e);
            }
        }

        void skip(int tag) {
            switch (tag & 7) {
                case 0 -> varint();
                case 1 -> {
                    if (end - pos < 8) throw bad("truncated fixed64");
                    pos += 8;
                }
                case 2 -> {
                    int n = length(); // read first: "pos += length()" would add to the position before the length's own bytes
                    pos += n;
                }
                case 5 -> fixed32();
                default -> throw bad("unsupported wire type " + (tag & 7) + " (field " + (tag >>> 3) + ")");
            }
        }
    }
}
