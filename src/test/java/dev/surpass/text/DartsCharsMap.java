package dev.surpass.text;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Builds a SentencePiece {@code precompiled_charsmap} for tests, in the layout of
 * {@code Normalizer::EncodePrecompiledCharsMap}: {@code u32 trie_size}, a Darts-clone double array
 * mapping each UTF-8 source string to the offset of its replacement, then the replacements, each
 * ended by a NUL byte. The double array is placed greedily (each node's children at the first free
 * base; bases are unique, so a lookup never lands on another node's child with the same label),
 * which is a valid Darts-clone array, not the byte-identical one darts-clone would build.
 */
public final class DartsCharsMap {
    private DartsCharsMap() {}

    private static final class Node {
        final TreeMap<Integer, Node> children = new TreeMap<>();
        int value = -1;
        int pos;
    }

    /** The base64 charsmap for {@code rules} (source string → replacement). */
    public static String base64(Map<String, String> rules) {
        return Base64.getEncoder().encodeToString(build(rules));
    }

    static byte[] build(Map<String, String> rules) {
        ByteArrayOutputStream strings = new ByteArrayOutputStream();
        Node root = new Node();
        for (var e : new TreeMap<>(rules).entrySet()) {
            if (e.getKey().isEmpty()) throw new IllegalArgumentException("empty key");
            Node n = root;
            for (byte b : e.getKey().getBytes(StandardCharsets.UTF_8)) n = n.children.computeIfAbsent(b & 0xFF, k -> new Node());
            n.value = strings.size();
            strings.writeBytes(e.getValue().getBytes(StandardCharsets.UTF_8));
            strings.write(0);
        }
        int[] units = new int[1024];
        boolean[] used = new boolean[1024];
        Set<Integer> bases = new HashSet<>();
        used[0] = true;
        root.pos = 0;
        ArrayDeque<Node> queue = new ArrayDeque<>();
        queue.add(root);
        while (!queue.isEmpty()) {
            Node n = queue.poll();
            int base = 1;
            search:
            for (; ; base++) {
                if (bases.contains(base)) continue;
                if (n.value >= 0 && (base >= used.length ? false : used[base])) continue;
                for (int c : n.children.keySet()) {
                    int p = base ^ c;
                    if (p == 0 || (p < used.length && used[p])) continue search;
                }
                break;
            }
            int need = (base | 0xFF) + 1;
            if (need > used.length) {
                int cap = Math.max(need, used.length * 2);
                used = Arrays.copyOf(used, cap);
                units = Arrays.copyOf(units, cap);
            }
            bases.add(base);
            int offset = n.pos ^ base;
            if (offset >= 1 << 21) throw new IllegalStateException("offset too large for this small builder");
            // this node's unit: offset, has_leaf, label (the label was written when the parent placed it)
            units[n.pos] |= offset << 10 | (n.value >= 0 ? 1 << 8 : 0);
            if (n.value >= 0) {
                used[base] = true;
                units[base] = n.value | 0x80000000; // a value unit: its label has bit 31, matching no byte
            }
            for (var e : n.children.entrySet()) {
                Node ch = e.getValue();
                ch.pos = base ^ e.getKey();
                used[ch.pos] = true;
                units[ch.pos] = e.getKey();
                queue.add(ch);
            }
        }
        int size = used.length;
        while (size > 1 && !used[size - 1]) size--;
        ByteBuffer out = ByteBuffer.allocate(4 + size * 4 + strings.size()).order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(size * 4);
        for (int i = 0; i < size; i++) out.putInt(units[i]);
        out.put(strings.toByteArray());
        return out.array();
    }
}
