package dev.surpass;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Frees temporaries: everything {@link #track tracked} is closed, in reverse order, when the scope
 * closes. Not thread-safe: a scope belongs to the thread that opened it.
 *
 * <pre>{@code
 * try (Scope s = Scope.open()) {
 *     Tensor h = s.track(Gemm.linear(x, w, b));
 *     Tensor y = Activation.gelu(h, Activation.Gelu.ERF); // y outlives the scope
 * }
 * }</pre>
 */
public final class Scope implements AutoCloseable {
    private static final AtomicInteger OPEN = new AtomicInteger();

    private final Deque<AutoCloseable> owned = new ArrayDeque<>();
    private boolean closed;

    private Scope() {}

    public static Scope open() {
        Scope s = new Scope();
        OPEN.incrementAndGet();
        return s;
    }

    /** Scopes opened and not yet closed, process-wide (a debug figure for leak checks). */
    public static int openCount() {
        return OPEN.get();
    }

    /** Takes ownership of {@code resource}; returns it. */
    public <T extends AutoCloseable> T track(T resource) {
        if (closed) throw new IllegalStateException("scope is closed");
        if (resource != null) owned.push(resource);
        return resource;
    }

    /** Closes every tracked resource, newest first; the first failure is rethrown after all ran. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        OPEN.decrementAndGet();
        RuntimeException first = null;
        while (!owned.isEmpty()) {
            try {
                owned.pop().close();
            } catch (Exception e) {
                if (first == null) first = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                else first.addSuppressed(e);
            }
        }
        if (first != null) throw first;
    }
}
