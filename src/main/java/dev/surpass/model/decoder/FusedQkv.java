package dev.surpass.model.decoder;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;

/**
 * Splits a fused {@code query_key_value} projection whose rows are grouped per head as
 * {@code (heads, 3, headDim)} (GPT-NeoX, BLOOM: HF's {@code view(..., heads, 3, head_dim)}) into
 * separate q, k and v projections with their heads in order.
 */
public final class FusedQkv {
    private FusedQkv() {}

    /**
     * Rows {@code [3·heads·headDim, cols]} (per head h: its q rows, then k, then v, headDim each)
     * → F32 q, k, v {@code [heads·headDim, cols]} on {@code device} (shape {@code [heads·headDim]}
     * when {@code cols} is 1: a bias). The caller owns the three tensors.
     */
    public static Tensor[] splitPerHead(Device device, float[] qkv, int heads, int headDim, int cols) {
        int e = heads * headDim;
        float[][] out = new float[3][e * cols];
        for (int head = 0; head < heads; head++) {
            for (int part = 0; part < 3; part++) {
                System.arraycopy(qkv, (head * 3 * headDim + part * headDim) * cols, out[part], head * headDim * cols, headDim * cols);
            }
        }
        Tensor[] t = new Tensor[3];
        try {
            for (int part = 0; part < 3; part++) {
                t[part] = cols == 1 ? device.upload(DType.F32, out[part], e) : device.upload(DType.F32, out[part], e, cols);
            }
            return t;
        } catch (RuntimeException | Error x) {
            for (Tensor u : t) if (u != null) u.close();
            throw x;
        }
    }
}
