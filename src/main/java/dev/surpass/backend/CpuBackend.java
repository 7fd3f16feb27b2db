package dev.surpass.backend;

import dev.surpass.DeviceKind;
import java.lang.foreign.Arena;
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

    @Override
    public Storage allocate(long bytes) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment seg = arena.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
            return new HostStorage(seg, arena);
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            arena.close();
            throw new IllegalStateException("cannot allocate " + bytes + " bytes of host memory: " + e.getMessage(), e);
        }
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
