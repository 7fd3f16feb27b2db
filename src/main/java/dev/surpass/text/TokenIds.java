package dev.surpass.text;

/**
 * Lookups in a tokenizer's id → token table ({@code tokens[id]}, null where no token has the id),
 * and the special-token pairs of their post-processors, shared by {@link BpeTokenizer} and
 * {@link WordPieceTokenizer} so that both answer and fail alike.
 */
final class TokenIds {
    private TokenIds() {}

    /** {@code tokens[id]}, or null when no token has the id (out of range or a hole). */
    static String tokenOrNull(String[] tokens, int id) {
        return id < 0 || id >= tokens.length ? null : tokens[id];
    }

    /**
     * {@code tokens[id]} for an id being decoded.
     *
     * @throws IllegalArgumentException naming {@code what} (e.g. {@code ids[3]}) and the tokenizer's
     *                                  {@code source} when no token has the id
     */
    static String require(String[] tokens, int id, String what, String source) {
        String t = tokenOrNull(tokens, id);
        if (t == null) {
            throw new IllegalArgumentException("decode: " + what + " = " + id + " is not a token of " + source + " (vocabulary size "
                    + tokens.length + ")");
        }
        return t;
    }

    /**
     * The id of a {@code BertProcessing} / {@code RobertaProcessing} special token, {@code processor.key}
     * being a {@code [token, id]} pair such as {@code ["<s>", 0]}.
     *
     * @throws IllegalArgumentException naming {@code where} and {@code path.key} when it is not such a pair
     */
    static int specialPairId(com.fasterxml.jackson.databind.JsonNode processor, String path, String key, String where) {
        com.fasterxml.jackson.databind.JsonNode pair = processor.path(key);
        if (!pair.isArray() || pair.size() != 2 || !pair.get(0).isTextual() || !pair.get(1).canConvertToInt() || !pair.get(1).isIntegralNumber()
                || pair.get(1).asInt() < 0) {
            throw new IllegalArgumentException(where + ": " + path + "." + key + " is " + pair + "; expected a [token, id] pair such as [\"<s>\", 0]");
        }
        return pair.get(1).asInt();
    }
}
