package dev.surpass;

import dev.surpass.backend.Storage;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A contiguous, row-major n-dimensional array on one {@link Device}.
 *
 * <p>Ownership: a tensor owns a reference to its memory and frees it on {@link #close()} (views
 * made by {@link #reshape} share the memory; the last one closed frees it). Use a {@link Scope} for
 * temporaries. A {@link Cleaner} frees memory of tensors that become unreachable unclosed, counted
 * by {@link #leakedCount()} ({@code -Dsurpass.debug.leaks=true} logs where each was made); it is a
 * safety net, not the way to manage memory. Using a tensor after
 * it, or its device, was closed throws {@link IllegalStateException}; closing twice is harmless.
 *
 * <p>Thread rules: a tensor's metadata is immutable and may be read from any thread. Its contents
 * may be read by many threads at once but written by one (an op writing it, an upload into it); on
 * CUDA a tensor produced on one thread is handed to another after {@link Device#synchronize()}.
 */
public final class Tensor implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final AtomicLong LEAKED = new AtomicLong();
    /** {@code -Dsurpass.debug.leaks=true}: remember where each tensor was made and log it if the Cleaner frees it. */
    private static final boolean TRACE_LEAKS = Boolean.getBoolean("surpass.debug.leaks");

    private final Buffer buffer;
    private final long byteOffset;
    private final DType dtype;
    private final long[] shape;
    private final long numel;
    private final Release release;
    private final Cleaner.Cleanable cleanable;

    /** Releases the buffer reference once, whether by close() or by the cleaner. */
    private static final class Release implements Runnable {
        private final Buffer buffer;
        private final Throwable madeAt;
        volatile boolean explicit;

        Release(Buffer buffer) {
            this.buffer = buffer;
            this.madeAt = TRACE_LEAKS ? new Throwable("a tensor freed by the Cleaner was made here") : null;
        }

        @Override
        public void run() {
            if (!explicit && buffer.isLive()) { // not closed, and its device was not closed either
                LEAKED.incrementAndGet();
                if (madeAt != null) System.getLogger("dev.surpass").log(System.Logger.Level.WARNING, "surpass: tensor not closed", madeAt);
            }
            buffer.release();
        }
    }

    Tensor(Buffer buffer, long byteOffset, DType dtype, long[] shape) {
        this.buffer = buffer;
        this.byteOffset = byteOffset;
        this.dtype = dtype;
        this.shape = shape;
        this.numel = Shapes.numel(shape);
        this.release = new Release(buffer);
        this.cleanable = CLEANER.register(this, release);
    }

    /**
     * Number of tensors freed by the cleaner instead of {@link #close()} since the JVM started (a
     * tensor whose device was closed first is not counted: the close freed it).
     */
    public static long leakedCount() {
        return LEAKED.get();
    }

    public Device device() {
        return buffer.device;
    }

    public DType dtype() {
        return dtype;
    }

    /** A copy of the shape. */
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Size of dim {@code i}; negative {@code i} counts from the end. */
    public long dim(int i) {
        int j = i < 0 ? shape.length + i : i;
        if (j < 0 || j >= shape.length) {
            throw new IllegalArgumentException("dim " + i + " out of range for rank " + shape.length);
        }
        return shape[j];
    }

    public long numel() {
        return numel;
    }

    public long byteSize() {
        return numel * dtype.byteSize();
    }

    /** True after {@link #close()} (or after its device closed). */
    public boolean isClosed() {
        return release.explicit || !buffer.isLive();
    }

    private void ensureOpen() {
        if (release.explicit) throw new IllegalStateException("tensor " + describe() + " is closed");
        if (!buffer.isLive()) throw new IllegalStateException("tensor " + describe() + " was freed: its device was closed");
    }

    /** Internal: the storage (checked open). */
    public Storage storage() {
        ensureOpen();
        return buffer.storage;
    }

    /** Internal: byte offset of element 0 inside {@link #storage()}. */
    public long byteOffset() {
        return byteOffset;
    }

    /** The host bytes of a CPU tensor (exactly {@link #byteSize()} long). */
    public MemorySegment hostSegment() {
        Storage s = storage();
        if (!s.isHost()) throw new IllegalStateException("tensor " + describe() + " lives on " + device().name() + ", not the host");
        return s.hostSegment().asSlice(byteOffset, byteSize());
    }

    /** The CUDA device address of element 0 (for interop with other CUDA code). */
    public long devicePointer() {
        Storage s = storage();
        if (s.isHost()) throw new IllegalStateException("tensor " + describe() + " lives on the host, not a GPU");
        return s.devicePointer() + byteOffset;
    }

    /**
     * A view with another shape over the same memory; one dim may be -1 (inferred). The view holds
     * its own reference: close it too (or track it in a scope).
     */
    public Tensor reshape(long... newShape) {
        ensureOpen();
        long[] s = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1) {
                if (infer >= 0) throw new IllegalArgumentException("reshape " + Arrays.toString(newShape) + ": more than one -1");
                infer = i;
            } else if (s[i] < 0) {
                throw new IllegalArgumentException("reshape " + Arrays.toString(newShape) + ": dim " + i + " is negative");
            } else if (known != 0) { // a 0 dim makes the count 0 whatever follows; past long it cannot match
                if (s[i] != 0 && known > Long.MAX_VALUE / s[i]) {
                    throw new IllegalArgumentException("reshape " + describe() + " to " + Arrays.toString(newShape)
                            + ": the new shape has more than 2^63 elements");
                }
                known *= s[i];
            }
        }
        if (infer >= 0) {
            if (known == 0 || numel % known != 0) {
                throw new IllegalArgumentException("reshape " + describe() + " to " + Arrays.toString(newShape) + ": cannot infer -1");
            }
            s[infer] = numel / known;
        }
        if (Shapes.numel(s) != numel) {
            throw new IllegalArgumentException("reshape " + describe() + " to " + Arrays.toString(newShape) + ": element counts differ");
        }
        if (!buffer.retain()) throw new IllegalStateException("tensor " + describe() + " was freed");
        return new Tensor(buffer, byteOffset, dtype, s);
    }

    /**
     * A view of the {@code numel(shape)} elements that start at flat index {@code elementOffset}:
     * a contiguous part of this tensor under its own shape, sharing its memory (e.g. the rows of
     * one weight inside a merged projection). It holds its own reference: close it too.
     *
     * @throws IllegalArgumentException for a negative offset or dim, or a range past this tensor's end
     */
    public Tensor view(long elementOffset, long... shape) {
        ensureOpen();
        if (shape == null) throw new IllegalArgumentException("view: shape is null");
        long n = Shapes.numel(shape);
        if (elementOffset < 0 || elementOffset > numel || n > numel - elementOffset) {
            throw new IllegalArgumentException("view of " + describe() + ": elements [" + elementOffset + ", " + elementOffset + " + " + n
                    + ") shaped " + Arrays.toString(shape) + " are not inside its " + numel + " elements");
        }
        if (!buffer.retain()) throw new IllegalStateException("tensor " + describe() + " was freed");
        return new Tensor(buffer, byteOffset + elementOffset * dtype.byteSize(), dtype, shape.clone());
    }

    /** Copies this tensor to {@code target} (any device); same dtype and shape. */
    public Tensor to(Device target) {
        ensureOpen();
        if (target == null) throw new IllegalArgumentException("target device is null");
        Tensor out = target.allocate(dtype, shape);
        try {
            if (target.sameAs(device())) {
                target.backend().copy(storage(), byteOffset, out.storage(), out.byteOffset(), byteSize());
            } else if (device().isCpu()) {
                target.backend().copyFromHost(hostSegment(), out.storage(), out.byteOffset(), byteSize());
            } else if (target.isCpu()) {
                device().backend().copyToHost(storage(), byteOffset, out.hostSegment(), byteSize());
            } else {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment tmp = a.allocate(Math.max(1, byteSize()), 64).asSlice(0, byteSize());
                    copyTo(tmp);
                    target.backend().copyFromHost(tmp, out.storage(), out.byteOffset(), byteSize());
                }
            }
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
        return out;
    }

    /** A copy converted to floating {@code target} dtype on the same device (through fp32). */
    public Tensor to(DType target) {
        ensureOpen();
        if (target == null || !target.isFloating() || !dtype.isFloating()) {
            throw new IllegalArgumentException("to(DType) converts between floating dtypes; got " + dtype + " -> " + target);
        }
        return device().upload(target, toFloatArray(), shape);
    }

    /** Copies the raw bytes into {@code dst} (at least {@link #byteSize()} bytes). */
    public void copyTo(MemorySegment dst) {
        ensureOpen();
        if (dst == null) throw new IllegalArgumentException("destination segment is null");
        if (dst.byteSize() < byteSize()) {
            throw new IllegalArgumentException("destination has " + dst.byteSize() + " bytes, tensor " + describe() + " needs " + byteSize());
        }
        device().backend().copyToHost(storage(), byteOffset, dst.asSlice(0, byteSize()), byteSize());
    }

    /** Overwrites the contents from raw bytes of this dtype ({@link #byteSize()} bytes). */
    public void copyFrom(MemorySegment src) {
        ensureOpen();
        if (src == null || src.byteSize() != byteSize()) {
            throw new IllegalArgumentException("source must have exactly " + byteSize() + " bytes for " + describe());
        }
        device().backend().copyFromHost(src, storage(), byteOffset, byteSize());
    }

    private int arrayLength() {
        if (numel > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("tensor " + describe() + " has too many elements for a Java array; use copyTo(MemorySegment)");
        }
        return (int) numel;
    }

    /** The values as fp32 (floating dtypes widened exactly; I32/I64 converted). */
    public float[] toFloatArray() {
        int n = arrayLength();
        float[] out = new float[n];
        switch (dtype) {
            case F32 -> copyTo(MemorySegment.ofArray(out));
            case F16, BF16 -> {
                short[] b = toShortArray();
                if (dtype == DType.F16) for (int i = 0; i < n; i++) out[i] = DType.f16ToFloat(b[i]);
                else for (int i = 0; i < n; i++) out[i] = DType.bf16ToFloat(b[i]);
            }
            case I32 -> {
                int[] v = toIntArray();
                for (int i = 0; i < n; i++) out[i] = v[i];
            }
            case I64 -> {
                long[] v = toLongArray();
                for (int i = 0; i < n; i++) out[i] = v[i];
            }
        }
        return out;
    }

    /** The raw 16-bit patterns of an F16 or BF16 tensor. */
    public short[] toShortArray() {
        if (dtype != DType.F16 && dtype != DType.BF16) throw new IllegalStateException("toShortArray needs F16 or BF16, tensor is " + dtype);
        short[] out = new short[arrayLength()];
        copyTo(MemorySegment.ofArray(out));
        return out;
    }

    /** The values of an I32 tensor. */
    public int[] toIntArray() {
        if (dtype != DType.I32) throw new IllegalStateException("toIntArray needs I32, tensor is " + dtype);
        int[] out = new int[arrayLength()];
        copyTo(MemorySegment.ofArray(out));
        return out;
    }

    /** The values of an I64 tensor. */
    public long[] toLongArray() {
        if (dtype != DType.I64) throw new IllegalStateException("toLongArray needs I64, tensor is " + dtype);
        long[] out = new long[arrayLength()];
        copyTo(MemorySegment.ofArray(out));
        return out;
    }

    /** Reads element {@code flatIndex} of a CPU tensor as fp32 (slow; for tests and debugging). */
    public float getFloat(long flatIndex) {
        MemorySegment s = hostSegment();
        if (flatIndex < 0 || flatIndex >= numel) throw new IndexOutOfBoundsException("index " + flatIndex + " of " + numel);
        return switch (dtype) {
            case F32 -> s.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, flatIndex);
            case F16 -> DType.f16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, flatIndex));
            case BF16 -> DType.bf16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, flatIndex));
            case I32 -> s.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, flatIndex);
            case I64 -> s.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, flatIndex);
        };
    }

    /** "F32[2, 3]@cpu". */
    public String describe() {
        return dtype + Arrays.toString(shape) + "@" + buffer.device.name();
    }

    /** Releases this tensor's reference to its memory; idempotent. */
    @Override
    public void close() {
        if (release.explicit) return;
        release.explicit = true;
        cleanable.clean();
    }

    @Override
    public String toString() {
        return "Tensor[" + describe() + (isClosed() ? ", closed" : "") + "]";
    }
}
