package dev.surpass.backend;

import dev.surpass.DeviceKind;
import java.lang.foreign.MemorySegment;

/**
 * What a {@link dev.surpass.Device} delegates to: the CPU backend or a CUDA backend. Internal; one
 * backend per device, shared by every thread that uses the device, so every method is thread-safe.
 *
 * <p>Copies are ordered with the calling thread's work on the device: on CUDA each thread has its
 * own stream and a copy to the host returns only when the bytes have arrived.
 */
public interface Backend extends AutoCloseable {
    DeviceKind kind();

    /** Device ordinal (0 for the CPU). */
    int ordinal();

    /** Short name, e.g. "cpu" or "cuda:0 (NVIDIA H200)". */
    String name();

    /** Multi-line description for {@code surpass info}. */
    String describe();

    /** Allocates {@code bytes} uninitialised bytes (64-byte aligned on the host, 256 on CUDA). */
    Storage allocate(long bytes);

    /**
     * The allocations of this device not yet freed, counted process-wide (every handle of the
     * device, every thread); a debug figure for leak checks.
     */
    LiveCounter live();

    /** Host → storage. */
    void copyFromHost(MemorySegment src, Storage dst, long dstOffset, long bytes);

    /** Storage → host; the bytes are in {@code dst} when this returns. */
    void copyToHost(Storage src, long srcOffset, MemorySegment dst, long bytes);

    /** Storage → storage on this backend. */
    void copy(Storage src, long srcOffset, Storage dst, long dstOffset, long bytes);

    /** Sets {@code bytes} bytes of {@code dst} from {@code offset} to zero. */
    void zero(Storage dst, long offset, long bytes);

    /** Waits until the work this thread queued on the device is done. */
    void synchronize();

    /** Releases what the backend holds (contexts, modules, pools). Idempotent. */
    @Override
    void close();
}
