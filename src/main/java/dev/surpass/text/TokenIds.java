package dev.surpass.text;

/**
 * Lookups in a tokenizer's id → token table ({@code tokens[id]}, null where no token has the id),
 * shared by {@link BpeTokenizer} and {@link WordPieceTokenizer} so that both answer and fail alike.
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
}
