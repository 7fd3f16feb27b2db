package dev.surpass.scan;

/**
 * The geometry of one scan, after validation: {@code batch} rows of {@code length} tokens (u, delta,
 * z {@code [batch, dm, length]}; B, C {@code [batch, groups, n, length]}), cut into sequences. Dense:
 * sequence s is batch row s, tokens {@code [0, length)}. Varlen ({@code cu != null}, batch 1):
 * sequence s is tokens {@code [cu[s], cu[s+1])} of the packed row. Channel d reads B/C group
 * {@code d / (dm / groups)}.
 */
record ScanDims(int batch, int dm, int n, int groups, int length, int[] cu) {
    ScanDims {
        assert batch >= 0 && dm >= 0 && n >= 1 && groups >= 1 && (dm == 0 || dm % groups == 0) && length >= 0;
        assert cu == null || (batch == 1 && cu.length >= 2 && cu[0] == 0 && cu[cu.length - 1] == length);
    }

    /** Number of sequences: rows of the initial and last states. */
    int sequences() {
        return cu == null ? batch : cu.length - 1;
    }

    /** The batch row sequence s lives in. */
    int batchOf(int s) {
        return cu == null ? s : 0;
    }

    int start(int s) {
        return cu == null ? 0 : cu[s];
    }

    int end(int s) {
        return cu == null ? length : cu[s + 1];
    }

    /** The B/C group of channel d. */
    int groupOf(int d) {
        return d / (dm / groups);
    }

    /** Longest sequence. */
    int maxLength() {
        if (cu == null) return length;
        int m = 0;
        for (int s = 0; s + 1 < cu.length; s++) m = Math.max(m, cu[s + 1] - cu[s]);
        return m;
    }
}
