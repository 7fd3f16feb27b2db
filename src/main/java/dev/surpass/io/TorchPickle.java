package dev.surpass.io;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A restricted reader of the pickle that {@code torch.save} writes as {@code data.pkl}: it
 * interprets the pickle opcodes into plain values and never runs or imports anything. Dicts
 * become {@link LinkedHashMap}s, lists {@link ArrayList}s, tuples {@link Tuple}s, ints
 * {@link Long} (or {@link BigInteger}), floats {@link Double}; a tensor rebuilt by
 * {@code torch._utils._rebuild_tensor_v2} (or a Parameter around one) becomes a {@link TensorRef}
 * on the {@link StorageRef} its persistent id names. Any other class or function the pickle names
 * (an {@code argparse.Namespace}, an optimizer's state) becomes an inert {@link Opaque}: calling it,
 * instantiating it or setting its state just yields another {@code Opaque}.
 *
 * <p>Errors: {@link IllegalArgumentException} naming {@code where} and the byte offset for a
 * truncated or malformed pickle, an opcode outside protocols 2–5's binary set, or a stack, memo or
 * length that the bytes cannot back.
 */
final class TorchPickle {
    private TorchPickle() {}

    /** A module-qualified name from GLOBAL / STACK_GLOBAL. */
    record Global(String module, String name) {
        @Override
        public String toString() {
            return module + "." + name;
        }
    }

    /** A pickled tuple. */
    record Tuple(List<Object> items) {}

    /** Anything the reader does not interpret (never executed). */
    record Opaque(String what) {}

    /** A storage from a persistent id {@code ('storage', torch.XStorage, key, location, numel)}. */
    record StorageRef(String key, String type, long numel) {}

    /** {@code _rebuild_tensor_v2(storage, offset, size, stride, …)}: a strided view of a storage, in elements. */
    record TensorRef(StorageRef storage, long offset, long[] size, long[] stride) {}

    private static final Object MARK = new Object();
    private static final int MAX_MEMO = 1 << 24;

    /** Unpickles {@code bytes}; {@code where} names the file in errors. */
    static Object load(byte[] bytes, String where) {
        return new Reader(bytes, where).run();
    }

    private static final class Reader {
        final ByteBuffer in;
        final String where;
        final ArrayList<Object> stack = new ArrayList<>();
        final ArrayList<Integer> marks = new ArrayList<>();
        final HashMap<Long, Object> memo = new HashMap<>();

        Reader(byte[] bytes, String where) {
            this.in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            this.where = where;
        }

        IllegalArgumentException bad(String what) {
            return new IllegalArgumentException(where + ": data.pkl at byte " + in.position() + ": " + what);
        }

        void need(long n) {
            if (n < 0 || n > in.remaining()) throw bad("truncated (needs " + n + " more bytes, " + in.remaining() + " left)");
        }

        int u8() {
            need(1);
            return in.get() & 0xff;
        }

        long u32() {
            need(4);
            return in.getInt() & 0xffffffffL;
        }

        long i64len() {
            need(8);
            long n = in.getLong();
            if (n < 0) throw bad("negative length " + n);
            return n;
        }

        byte[] bytes(long n) {
            need(n);
            byte[] b = new byte[(int) n];
            in.get(b);
            return b;
        }

        String utf8(long n) {
            return new String(bytes(n), StandardCharsets.UTF_8);
        }

        String line() {
            int start = in.position();
            while (in.hasRemaining()) {
                if (in.get() == '\n') {
                    byte[] b = Arrays.copyOfRange(in.array(), start, in.position() - 1);
                    return new String(b, StandardCharsets.UTF_8);
                }
            }
            throw bad("truncated (a GLOBAL name has no end of line)");
        }

        Object pop() {
            if (stack.isEmpty() || (!marks.isEmpty() && marks.get(marks.size() - 1) == stack.size())) throw bad("pop from an empty stack");
            return stack.remove(stack.size() - 1);
        }

        Object top() {
            if (stack.isEmpty()) throw bad("empty stack");
            return stack.get(stack.size() - 1);
        }

        /** Pops everything above the last MARK (and the mark). */
        List<Object> popMark() {
            if (marks.isEmpty()) throw bad("no MARK on the stack");
            int m = marks.remove(marks.size() - 1);
            List<Object> items = new ArrayList<>(stack.subList(m, stack.size()));
            stack.subList(m, stack.size()).clear();
            return items;
        }

        void push(Object o) {
            stack.add(o);
        }

        void put(long key) {
            if (memo.size() >= MAX_MEMO && !memo.containsKey(key)) throw bad("memo over " + MAX_MEMO + " entries");
            memo.put(key, top());
        }

        Object get(long key) {
            if (!memo.containsKey(key)) throw bad("memo key " + key + " was never stored");
            return memo.get(key);
        }

        @SuppressWarnings("unchecked")
        Object run() {
            while (true) {
                int op = u8();
                switch (op) {
                    case 0x80 -> { // PROTO
                        int v = u8();
                        if (v < 2 || v > 5) throw bad("pickle protocol " + v + "; torch.save writes 2 (readers take 2–5)");
                    }
                    case 0x95 -> i64len(); // FRAME: a length hint
                    case '.' -> { // STOP
                        if (stack.size() != 1) throw bad("STOP with " + stack.size() + " values on the stack");
                        return stack.get(0);
                    }
                    case '(' -> marks.add(stack.size());
                    case '0' -> pop();
                    case '1' -> popMark();
                    case '2' -> push(top());
                    case 'N' -> push(null);
                    case 0x88 -> push(Boolean.TRUE);
                    case 0x89 -> push(Boolean.FALSE);
                    case 'J' -> {
                        need(4);
                        push((long) in.getInt());
                    }
                    case 'K' -> push((long) u8());
                    case 'M' -> {
                        need(2);
                        push((long) (in.getShort() & 0xffff));
                    }
                    case 0x8a -> push(longN(u8()));
                    case 0x8b -> push(longN(u32()));
                    case 'G' -> {
                        need(8);
                        push(in.order(ByteOrder.BIG_ENDIAN).getDouble());
                        in.order(ByteOrder.LITTLE_ENDIAN);
                    }
                    case 'X' -> push(utf8(u32()));
                    case 0x8c -> push(utf8(u8()));
                    case 0x8d -> push(utf8(i64len()));
                    case 'T' -> push(new String(bytes(u32()), StandardCharsets.ISO_8859_1));
                    case 'U' -> push(new String(bytes(u8()), StandardCharsets.ISO_8859_1));
                    case 'B' -> push(bytes(u32()));
                    case 'C' -> push(bytes(u8()));
                    case 0x8e, 0x96 -> push(bytes(i64len()));
                    case ')' -> push(new Tuple(List.of()));
                    case 0x85 -> push(tuple(1));
                    case 0x86 -> push(tuple(2));
                    case 0x87 -> push(tuple(3));
                    case 't' -> push(new Tuple(popMark()));
                    case ']' -> push(new ArrayList<>());
                    case 'l' -> push(new ArrayList<>(popMark()));
                    case '}' -> push(new LinkedHashMap<>());
                    case 'd' -> {
                        List<Object> kv = popMark();
                        push(dictOf(kv));
                    }
                    case 0x8f -> push(new ArrayList<>()); // EMPTY_SET (kept as a list)
                    case 0x90 -> { // ADDITEMS
                        List<Object> items = popMark();
                        if (top() instanceof List<?> l) ((List<Object>) l).addAll(items);
                    }
                    case 0x91 -> push(new ArrayList<>(popMark())); // FROZENSET
                    case 'a' -> {
                        Object v = pop();
                        list(top()).add(v);
                    }
                    case 'e' -> {
                        List<Object> items = popMark();
                        list(top()).addAll(items);
                    }
                    case 's' -> {
                        Object v = pop(), k = pop();
                        dict(top()).put(key(k), v);
                    }
                    case 'u' -> {
                        List<Object> kv = popMark();
                        Map<Object, Object> d = dict(top());
                        if (kv.size() % 2 != 0) throw bad("SETITEMS with an odd number of items");
                        for (int i = 0; i < kv.size(); i += 2) d.put(key(kv.get(i)), kv.get(i + 1));
                    }
                    case 'q' -> put(u8());
                    case 'r' -> put(u32());
                    case 0x94 -> put(memo.size());
                    case 'h' -> push(get(u8()));
                    case 'j' -> push(get(u32()));
                    case 'c' -> {
                        String module = line(), name = line();
                        push(new Global(module, name));
                    }
                    case 0x93 -> { // STACK_GLOBAL
                        Object name = pop(), module = pop();
                        if (!(module instanceof String m) || !(name instanceof String n)) throw bad("STACK_GLOBAL of non-strings");
                        push(new Global(m, n));
                    }
                    case 'R' -> { // REDUCE
                        Object args = pop(), fn = pop();
                        push(reduce(fn, args));
                    }
                    case 0x81 -> { // NEWOBJ
                        Object args = pop(), cls = pop();
                        push(reduce(cls, args));
                    }
                    case 0x92 -> { // NEWOBJ_EX
                        pop();
                        Object args = pop(), cls = pop();
                        push(reduce(cls, args));
                    }
                    case 'b' -> { // BUILD: state is not applied (a state_dict's _metadata, an object's __dict__)
                        pop();
                        top();
                    }
                    case 'Q' -> push(persistent(pop()));
                    default -> throw bad(String.format("opcode 0x%02x is not one torch.save writes", op));
                }
            }
        }

        Object longN(long n) {
            byte[] b = bytes(n);
            if (n == 0) return 0L;
            byte[] be = new byte[b.length];
            for (int i = 0; i < b.length; i++) be[i] = b[b.length - 1 - i];
            BigInteger v = new BigInteger(be);
            return v.bitLength() < 64 ? (Object) v.longValue() : v;
        }

        Tuple tuple(int n) {
            Object[] items = new Object[n];
            for (int i = n - 1; i >= 0; i--) items[i] = pop();
            return new Tuple(Arrays.asList(items));
        }

        Map<Object, Object> dictOf(List<Object> kv) {
            if (kv.size() % 2 != 0) throw bad("DICT with an odd number of items");
            Map<Object, Object> d = new LinkedHashMap<>();
            for (int i = 0; i < kv.size(); i += 2) d.put(key(kv.get(i)), kv.get(i + 1));
            return d;
        }

        /** Dict keys: strings and ints as they are; anything else by its text (keys are only used as names). */
        Object key(Object k) {
            return k instanceof String || k instanceof Long ? k : String.valueOf(k);
        }

        @SuppressWarnings("unchecked")
        List<Object> list(Object o) {
            if (o instanceof List<?> l) return (List<Object>) l;
            if (o instanceof Opaque) return new ArrayList<>(); // appends to an uninterpreted object are dropped
            throw bad("APPEND to a " + kind(o));
        }

        @SuppressWarnings("unchecked")
        Map<Object, Object> dict(Object o) {
            if (o instanceof Map<?, ?> m) return (Map<Object, Object>) m;
            if (o instanceof Opaque) return new LinkedHashMap<>(); // items of an uninterpreted mapping are dropped
            throw bad("SETITEM on a " + kind(o));
        }

        String kind(Object o) {
            return o == null ? "None" : o.getClass().getSimpleName();
        }

        Object persistent(Object pid) {
            if (pid instanceof Tuple t && t.items().size() >= 5 && "storage".equals(t.items().get(0))
                    && t.items().get(1) instanceof Global type && t.items().get(2) instanceof String key
                    && t.items().get(4) instanceof Long numel && numel >= 0) {
                return new StorageRef(key, type.name(), numel);
            }
            throw bad("persistent id " + pid + " is not ('storage', torch.<Type>Storage, key, location, numel)");
        }

        Object reduce(Object fn, Object args) {
            if (!(fn instanceof Global g)) return new Opaque("call of " + kind(fn));
            List<Object> a = args instanceof Tuple t ? t.items() : List.of();
            String name = g.toString();
            switch (name) {
                case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor" -> {
                    if (a.size() < 4 || !(a.get(0) instanceof StorageRef s) || !(a.get(1) instanceof Long off)) {
                        throw bad(name + " with arguments " + a);
                    }
                    return new TensorRef(s, off, longs(a.get(2), name + " size"), longs(a.get(3), name + " stride"));
                }
                case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state" -> {
                    return a.isEmpty() ? new Opaque(name) : a.get(0);
                }
                case "collections.OrderedDict", "builtins.dict" -> {
                    Map<Object, Object> d = new LinkedHashMap<>();
                    if (!a.isEmpty() && a.get(0) instanceof List<?> pairs) {
                        for (Object p : pairs) {
                            if (p instanceof Tuple t && t.items().size() == 2) d.put(key(t.items().get(0)), t.items().get(1));
                        }
                    }
                    return d;
                }
                default -> {
                    return new Opaque(name);
                }
            }
        }

        long[] longs(Object o, String what) {
            if (!(o instanceof Tuple t)) throw bad(what + " is " + o + "; expected a tuple of ints");
            long[] v = new long[t.items().size()];
            for (int i = 0; i < v.length; i++) {
                if (!(t.items().get(i) instanceof Long x) || x < 0) throw bad(what + " is " + t.items() + "; expected non-negative ints");
                v[i] = x;
            }
            return v;
        }
    }
}
