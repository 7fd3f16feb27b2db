package dev.surpass.backend;

import dev.surpass.DeviceKind;
import java.lang.foreign.MemorySegment;

/** Host memory from a shared arena per allocation, freed when the allocation is released. */
public final class CpuBackend implements Backend {
    public static final CpuBackend INSTANCE = new CpuBackend();

    private CpuBackend() {}

    @Override
    public DeviceKind kind() {
        return DeviceKind.CPU;
    }

    @Override
    public int ordinal() {
        return 0;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String describe() {
        return "cpu: " + Runtime.getRuntime().availableProcessors() + " cores, Vector API float species "
                + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length() + " lanes";
    }

    private final HostPool pool = new HostPool();

    /** Host memory, 64-byte aligned; contents unspecified (a reused block keeps old bytes). */
    @Override
    public Storage allocate(long bytes) {
        HostPool.Block b = pool.take(bytes);
        return new HostStorage(b.segment().asSlice(0, bytes), () -> pool.give(b));
    }

    /** Bytes of freed blocks kept for reuse. */
    public long pooledBytes() {
        return pool.parkedBytes();
    }

    /** Returns the blocks kept for reuse to the JVM. */
    public void trimPool() {
        pool.trim();
    }

    @Override
    public void copyFromHost(MemorySegment src, Storage dst, long dstOffset, long bytes) {
        MemorySegment.copy(src, 0, dst.hostSegment(), dstOffset, bytes);
    }

    @Override
    public void copyToHost(Storage src, long srcOffset, MemorySegment dst, long bytes) {
        MemorySegment.copy(src.hostSegment(), srcOffset, dst, 0, bytes);
    }

    @Override
    public void copy(Storage src, long srcOffset, Storage dst, long dstOffset, long bytes) {
        MemorySegment.copy(src.hostSegment(), srcOffset, dst.hostSegment(), dstOffset, bytes);
    }

    @Override
    public void zero(Storage dst, long offset, long bytes) {
        dst.hostSegment().asSlice(offset, bytes).fill((byte) 0);
    }

    @Override
    public void synchronize() {}

    @Override
    public void close() {}
}
