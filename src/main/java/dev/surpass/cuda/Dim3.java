package dev.surpass.cuda;

/**
 * A CUDA grid or block shape. Components must be at least 1; the device limits (grid x up to
 * 2^31-1, y and z up to 65535; block x and y up to 1024, z up to 64, at most 1024 threads) are
 * checked at launch against the GPU's reported attributes.
 */
public record Dim3(int x, int y, int z) {
    public Dim3 {
        if (x < 1) throw new IllegalArgumentException("Dim3.x must be >= 1, got " + x);
        if (y < 1) throw new IllegalArgumentException("Dim3.y must be >= 1, got " + y);
        if (z < 1) throw new IllegalArgumentException("Dim3.z must be >= 1, got " + z);
    }

    /** (x, 1, 1). */
    public static Dim3 of(int x) {
        return new Dim3(x, 1, 1);
    }

    /** (x, y, 1). */
    public static Dim3 of(int x, int y) {
        return new Dim3(x, y, 1);
    }

    /**
     * The 1-D grid for a grid-stride loop over {@code n} items with {@code threads} per block:
     * {@code min(ceil(n / threads), maxBlocks)} blocks (at least 1).
     */
    public static Dim3 gridStride(long n, int threads, int maxBlocks) {
        if (n < 0) throw new IllegalArgumentException("n must be >= 0, got " + n);
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        if (maxBlocks < 1) throw new IllegalArgumentException("maxBlocks must be >= 1, got " + maxBlocks);
        long blocks = n / threads + (n % threads == 0 ? 0 : 1); // no overflow near Long.MAX_VALUE
        return of((int) Math.max(1, Math.min(blocks, maxBlocks)));
    }

    /** x·y·z as a long (thread count of a block, block count of a grid). */
    public long volume() {
        return (long) x * y * z;
    }

    @Override
    public String toString() {
        return "(" + x + ", " + y + ", " + z + ")";
    }
}
