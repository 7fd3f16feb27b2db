package dev.surpass.cuda;

/**
 * What the driver reports about one GPU (queried once, when the GPU is first opened).
 *
 * @param ordinal device ordinal as the driver numbers it (after {@code CUDA_VISIBLE_DEVICES})
 * @param name e.g. "NVIDIA H200"
 * @param ccMajor compute capability major (9 on Hopper)
 * @param ccMinor compute capability minor
 * @param smCount streaming multiprocessors
 * @param totalMemory device memory in bytes
 * @param maxSharedPerBlock static shared memory per block without opt-in (48 KiB)
 * @param maxSharedPerBlockOptin dynamic shared memory per block a kernel may opt in to
 * @param maxSharedPerSm shared memory per multiprocessor
 * @param l2Bytes L2 cache size
 * @param maxThreadsPerBlock threads per block
 * @param maxBlockX largest block x
 * @param maxBlockY largest block y
 * @param maxBlockZ largest block z
 * @param maxGridX largest grid x
 * @param maxGridY largest grid y
 * @param maxGridZ largest grid z
 * @param driverVersion CUDA version the driver supports, as {@code cuDriverGetVersion} gives it (13000 = 13.0)
 */
public record CudaProperties(int ordinal, String name, int ccMajor, int ccMinor, int smCount, long totalMemory,
                             int maxSharedPerBlock, int maxSharedPerBlockOptin, int maxSharedPerSm, int l2Bytes,
                             int maxThreadsPerBlock, int maxBlockX, int maxBlockY, int maxBlockZ,
                             int maxGridX, int maxGridY, int maxGridZ, int driverVersion) {
    /** "sm_90" style architecture name. */
    public String arch() {
        return "sm_" + ccMajor + ccMinor;
    }

    /** "13.0" from 13000. */
    public String driverVersionString() {
        return (driverVersion / 1000) + "." + (driverVersion % 1000) / 10;
    }
}
