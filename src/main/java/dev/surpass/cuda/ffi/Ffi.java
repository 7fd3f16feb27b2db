package dev.surpass.cuda.ffi;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/** Shared FFM plumbing for the CUDA bindings: library lookup and downcall creation. Internal. */
final class Ffi {
    static final Linker LINKER = Linker.nativeLinker();

    private Ffi() {}

    /**
     * A lookup over the shared library {@code name} (dlopen search rules), loaded for the life of
     * the process, or empty when the library cannot be loaded. Never throws a linkage error.
     */
    static Optional<SymbolLookup> library(String name) {
        try {
            return Optional.of(SymbolLookup.libraryLookup(name, Arena.global()));
        } catch (IllegalArgumentException | IllegalCallerException | LinkageError e) {
            return Optional.empty();
        }
    }

    /** A downcall to {@code symbol}, which must exist in {@code lib}. */
    static MethodHandle required(SymbolLookup lib, String libName, String symbol, FunctionDescriptor fd) {
        MemorySegment addr = lib.find(symbol)
                .orElseThrow(() -> new MissingSymbolException(libName + " has no symbol " + symbol));
        return LINKER.downcallHandle(addr, fd);
    }

    /** A downcall to the first of {@code symbols} that exists in {@code lib}, or null. */
    static MethodHandle optional(SymbolLookup lib, FunctionDescriptor fd, String... symbols) {
        for (String s : symbols) {
            Optional<MemorySegment> addr = lib.find(s);
            if (addr.isPresent()) return LINKER.downcallHandle(addr.get(), fd);
        }
        return null;
    }

    /** Rethrows what a downcall's invokeExact threw (never a checked exception in practice). */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException("native call failed", t);
    }

    /** A library was found but lacks a symbol we need (a driver too old for this code). */
    static final class MissingSymbolException extends RuntimeException {
        MissingSymbolException(String message) {
            super(message);
        }
    }
}
