package dev.surpass.text;

import java.util.Arrays;

/** A growable int array: the token ids an encoder collects. */
final class IntList {
    private int[] a = new int[16];
    private int n;

    void add(int v) {
        if (n == a.length) a = Arrays.copyOf(a, n * 2);
        a[n++] = v;
    }

    void addAll(int[] v) {
        if (n + v.length > a.length) a = Arrays.copyOf(a, Math.max(n + v.length, n * 2));
        System.arraycopy(v, 0, a, n, v.length);
        n += v.length;
    }

    int size() {
        return n;
    }

    int[] toArray() {
        return Arrays.copyOf(a, n);
    }
}
