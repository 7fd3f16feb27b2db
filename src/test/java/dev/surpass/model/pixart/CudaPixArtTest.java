package dev.surpass.model.pixart;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.sd.PixArtPipeline;
import dev.surpass.model.sd.StableDiffusion;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PixArt on CUDA: the transformer (additional conditions, a non-square latent, padded text) against
 * the float64 forward and against the CPU model on the same inputs, with the padded tokens' states
 * changed (they must not matter there either); the α pipeline CUDA ↔ CPU from the same latents; no
 * device memory left after the calls. Skipped, visibly, without a GPU.
 */
@Tag("gpu")
class CudaPixArtTest {
    static final int B = 3, S = 7;

    @TempDir
    static Path tmp;

    private static Device cuda() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        return Device.cuda(0);
    }

    @Test
    void transformerMatchesCpuAndFloat64() {
        try (Device gpu = cuda(); Device cpu = Device.cpu()) {
            PixArtFixture f = new PixArtFixture(21, 4, 72, 2, 40, 16, true, null); // PixArt's head dim 72
            Path dir = f.write(tmp.resolve("t"), DType.F32, 1);
            int hh = 16, ww = 12;
            float[] x = PixArtTransformer2DModelTest.randn(1, B * 4 * hh * ww, 1), text = PixArtTransformer2DModelTest.randn(2, B * S * 40, 1);
            int[][] mask = PixArtTransformer2DModelTest.mask(S, 3, 1);
            float[] t = {999f, 500f, 1f};
            float[][] res = {{1024, 768}, {512, 512}, {768, 1024}};
            float[] ar = {1024f / 768, 1f, 768f / 1024};
            float[] padded = text.clone();
            for (int n = 0; n < B; n++) for (int j = 0; j < S; j++) if (mask[n][j] == 0) for (int k = 0; k < 40; k++) padded[(n * S + j) * 40 + k] = 40f;
            float[] onCpu, onGpu, onGpuPadded;
            try (PixArtTransformer2DModel m = PixArtTransformer2DModel.load(cpu, dir); Tensor xt = cpu.upload(DType.F32, x, B, 4, hh, ww);
                 Tensor tt = cpu.upload(DType.F32, text, B, S, 40); Tensor o = m.forward(xt, t, tt, mask, res, ar)) {
                onCpu = o.toFloatArray();
            }
            int live = gpu.liveAllocations();
            try (PixArtTransformer2DModel m = PixArtTransformer2DModel.load(gpu, dir)) {
                try (Tensor xt = gpu.upload(DType.F32, x, B, 4, hh, ww); Tensor tt = gpu.upload(DType.F32, text, B, S, 40);
                     Tensor tp = gpu.upload(DType.F32, padded, B, S, 40)) {
                    try (Tensor o = m.forward(xt, t, tt, mask, res, ar)) {
                        onGpu = o.toFloatArray();
                    }
                    try (Tensor o = m.forward(xt, t, tp, mask, res, ar)) {
                        onGpuPadded = o.toFloatArray();
                    }
                }
            }
            assertEquals(live, gpu.liveAllocations(), "no device memory left behind");
            double[] want = f.forward(x, B, hh, ww, t, text, S, mask, res, ar);
            double vsRef = PixArtTransformer2DModelTest.relL2(onGpu, want), vsCpu = PixArtTransformer2DModelTest.relL2(onGpu, toDouble(onCpu));
            assertTrue(vsRef < 1e-4, "CUDA vs float64: relL2 " + vsRef);
            assertTrue(vsCpu < 1e-4, "CUDA vs CPU: relL2 " + vsCpu);
            assertArrayEquals(onGpu, onGpuPadded, "padded text states must not change the CUDA output");
        }
    }

    @Test
    void alphaPipelineMatchesCpu() {
        try (Device gpu = cuda(); Device cpu = Device.cpu()) {
            Path dir = PixArtPipelineTest.write(tmp.resolve("alpha"), "PixArtAlphaPipeline", 128, true, 31);
            float[] z = PixArtTransformer2DModelTest.randn(5, 2 * 4 * 8 * 8, 1);
            List<String> prompts = PixArtPipelineTest.PROMPTS, neg = PixArtPipelineTest.NEG;
            float[] a, b;
            try (PixArtPipeline p = PixArtPipeline.load(cpu, dir); Tensor l0 = cpu.upload(DType.F32, z, 2, 4, 8, 8);
                 Tensor l = p.sample(prompts, neg, options(l0), null)) {
                a = l.toFloatArray();
            }
            int live = gpu.liveAllocations();
            try (PixArtPipeline p = PixArtPipeline.load(gpu, dir); Tensor l0 = gpu.upload(DType.F32, z, 2, 4, 8, 8);
                 Tensor l = p.sample(prompts, neg, options(l0), null); Tensor img = p.decode(l)) {
                b = l.toFloatArray();
                assertArrayEquals(new long[] {2, 3, 16, 16}, img.shape());
            }
            assertEquals(live, gpu.liveAllocations(), "no device memory left behind");
            double err = PixArtTransformer2DModelTest.relL2(b, toDouble(a));
            assertTrue(err < 1e-4, "α pipeline CUDA vs CPU: relL2 " + err);
        }
    }

    private static StableDiffusion.Options options(Tensor latents) {
        return PixArtPipeline.defaults().withSize(16, 16).withSteps(4).withLatents(latents);
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
