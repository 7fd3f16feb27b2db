package dev.surpass.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Text ↔ token ids, read from a Hugging Face {@code tokenizer.json}. {@link #load} picks the
 * implementation from {@code model.type}: {@code BPE} with a ByteLevel pre-tokenizer (GPT-2,
 * GPT-NeoX, the state-spaces Mamba models, Llama 3) is {@link BpeTokenizer}, unless its
 * {@code end_of_word_suffix} is {@code "</w>"} (CLIP's) which makes it a {@link ClipTokenizer}; {@code WordPiece} (BERT)
 * is {@link WordPieceTokenizer}, {@code Unigram} (SentencePiece: XLM-RoBERTa, T5) is
 * {@link UnigramTokenizer}; a SentencePiece {@code .model} file is read by {@link SentencePieceModel}; other models are
 * rejected with a message naming the field.
 *
 * <p>Thread rules: a loaded tokenizer is immutable and may be used from any number of threads; a
 * {@link StreamDecoder} belongs to one thread.
 */
public interface Tokenizer {
    /** Ids of {@code text} with the post-processor's special tokens (like HF {@code encode(text)}). */
    default int[] encode(String text) {
        return encode(text, true);
    }

    /** Ids of {@code text}; {@code addSpecialTokens} applies the post-processor's template (BOS/EOS…). */
    int[] encode(String text, boolean addSpecialTokens);

    /**
     * Ids of {@code text} with at most {@code maxLength} of them (0: no limit), as HF's
     * {@code encode(text, truncation=True, max_length=maxLength)}: the text's ids are cut at their end
     * and the post-processor's special tokens kept around them.
     *
     * @throws IllegalArgumentException when {@code maxLength} cannot hold the special tokens
     */
    default int[] encode(String text, boolean addSpecialTokens, int maxLength) {
        if (maxLength < 0) throw new IllegalArgumentException("encode: maxLength is " + maxLength);
        int[] full = encode(text, addSpecialTokens);
        if (maxLength == 0 || full.length <= maxLength) return full;
        int[] content = encode(text, false);
        int extra = full.length - content.length;
        if (maxLength < extra) throw new IllegalArgumentException("encode: maxLength " + maxLength + " is shorter than the " + extra + " special tokens");
        int at = 0; // where the text's ids sit inside the template
        while (at <= extra && !java.util.Arrays.equals(full, at, at + content.length, content, 0, content.length)) at++;
        if (at > extra) throw new IllegalStateException("encode: the special tokens do not wrap the text's ids");
        int keep = maxLength - extra;
        int[] out = new int[maxLength];
        System.arraycopy(full, 0, out, 0, at);
        System.arraycopy(content, 0, out, at, keep);
        System.arraycopy(full, at + content.length, out, at + keep, extra - at);
        return out;
    }

    /** The text of {@code ids}, special tokens included (like HF {@code decode(ids)}). */
    default String decode(int[] ids) {
        return decode(ids, false);
    }

    /** The text of {@code ids}; {@code skipSpecialTokens} leaves out added tokens marked special. */
    String decode(int[] ids, boolean skipSpecialTokens);

    /**
     * A decoder for ids that arrive one at a time (generation), holding back incomplete characters.
     * It decodes one text: to stream a continuation, push the prompt's ids first (a SentencePiece
     * decoder strips the leading space of a text's first token only).
     */
    StreamDecoder newStreamDecoder(boolean skipSpecialTokens);

    /** One more than the largest id (vocabulary and added tokens). */
    int vocabSize();

    /** The id of a token string (vocabulary or added token), or -1. */
    int tokenToId(String token);

    /** The token string of an id, or null when no token has it. */
    String idToToken(int id);

    /** True when {@code id} is an added token marked {@code special} (e.g. {@code <|endoftext|>}). */
    boolean isSpecial(int id);

    /**
     * Reads a {@code tokenizer.json}.
     *
     * @throws IllegalArgumentException naming the file and the field for an unreadable or
     *                                  unsupported file
     */
    static Tokenizer load(Path file) {
        // a raw SentencePiece model (spiece.model, sentencepiece.bpe.model) for repositories without tokenizer.json
        if (file != null && file.getFileName() != null && file.getFileName().toString().endsWith(".model")) {
            return SentencePieceModel.read(file).toTokenizer(file.toString());
        }
        JsonNode root = readJson(file);
        String type = root.path("model").path("type").asText("");
        if (type.isEmpty() && root.path("model").has("merges")) type = "BPE"; // older files omit model.type
        return switch (type) {
            case "BPE" -> "</w>".equals(root.path("model").path("end_of_word_suffix").asText(""))
                    ? ClipTokenizer.fromJson(root, file.toString()) // CLIPTokenizerFast's file
                    : BpeTokenizer.fromJson(root, file.toString());
            case "WordPiece" -> WordPieceTokenizer.fromJson(root, file.toString());
            case "Unigram" -> UnigramTokenizer.fromJson(root, file.toString());
            case "" -> throw new IllegalArgumentException(file + ": field \"model.type\" is missing");
            default -> throw new IllegalArgumentException(file + ": model.type \"" + type + "\" is not supported (supported: BPE, WordPiece, Unigram)");
        };
    }

    /** Parses a JSON file into a tree; errors name the file. */
    static JsonNode readJson(Path file) {
        if (file == null) throw new IllegalArgumentException("tokenizer file is null");
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": no such tokenizer file");
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new IllegalArgumentException(file + ": expected a JSON object");
        return root;
    }
}
