package dev.surpass.diffusion;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Shapes;
import dev.surpass.Tensor;
import dev.surpass.backend.Parallel;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;

/**
 * Gaussian noise tensors from {@link Philox}, the same numbers on every device: element i of a
 * tensor drawn at {@code (seed, stream)} is {@code Philox.normal(seed, stream, i)} (rounded to the
 * dtype). Use it for the initial latents of a sampling run, so a whole trajectory can be compared
 * across devices from the seed alone. Thread rules: stateless.
 */
public final class Noise {
    private Noise() {}

    /** A new tensor of standard normals on {@code device}. */
    public static Tensor gaussian(Device device, DType dtype, long seed, long stream, long... shape) {
        if (device == null) throw new IllegalArgumentException("gaussian: device is null");
        if (dtype == null || !dtype.isFloating()) throw new IllegalArgumentException("gaussian: dtype must be F32, F16 or BF16, got " + dtype);
        if (shape == null) throw new IllegalArgumentException("gaussian: shape is null");
        long n = Shapes.numel(shape);
        if (device.isCpu()) {
            if (n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("gaussian: " + n + " elements is too many for the CPU path");
            // The CPU path draws into a heap array before the upload: refuse what the heap cannot hold
            // instead of failing with an OutOfMemoryError half way.
            long heap = Runtime.getRuntime().maxMemory();
            if (4 * n > heap / 2) {
                throw new IllegalArgumentException("gaussian: " + n + " elements (" + 4 * n + " bytes as F32) exceed half the Java heap ("
                        + heap + " bytes); draw in smaller pieces or raise -Xmx");
            }
            float[] z = new float[(int) n];
            long blocks = (n + 4095) / 4096;
            Parallel.forRange(blocks, 4, (lo, hi) -> {
                for (long b = lo; b < hi; b++) {
                    long s = b * 4096;
                    Philox.normals(seed, stream, s, z, (int) s, (int) Math.min(4096, n - s));
                }
            });
            return device.upload(dtype, z, shape);
        }
        Tensor out = device.allocate(dtype, shape);
        try {
            if (n > 0) {
                CudaBackend.of(out).launch(CudaSamplers.FAMILY, CudaSamplers.name("noise", dtype),
                        Dim3.gridStride((n + 3) / 4, CudaSamplers.THREADS, CudaSamplers.MAX_BLOCKS), Dim3.of(CudaSamplers.THREADS), 0,
                        out.devicePointer(), n, seed, stream);
            }
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
        return out;
    }

    /**
     * The raw Philox words of blocks {@code 0 .. blocks−1} at {@code (seed, stream)}, as an I32
     * tensor of {@code 4·blocks} (word k of block b at 4b + k): to check the streams bit for bit.
     */
    public static Tensor philoxWords(Device device, long seed, long stream, long blocks) {
        if (device == null) throw new IllegalArgumentException("philoxWords: device is null");
        if (blocks < 0 || blocks > (Integer.MAX_VALUE - 8) / 4) throw new IllegalArgumentException("philoxWords: blocks must be in [0, 2^29), got " + blocks);
        if (device.isCpu()) {
            int[] w = new int[(int) (4 * blocks)];
            int[] b4 = new int[4];
            for (long b = 0; b < blocks; b++) {
                Philox.words(seed, stream, b, b4);
                System.arraycopy(b4, 0, w, (int) (4 * b), 4);
            }
            return device.upload(w, 4 * blocks);
        }
        Tensor out = device.allocate(DType.I32, 4 * blocks);
        try {
            if (blocks > 0) {
                CudaBackend.of(out).launch(CudaSamplers.FAMILY, "surpass_diffusion_philox_u32",
                        Dim3.gridStride(blocks, CudaSamplers.THREADS, CudaSamplers.MAX_BLOCKS), Dim3.of(CudaSamplers.THREADS), 0,
                        out.devicePointer(), blocks, seed, stream);
            }
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
        return out;
    }
}
