package dev.surpass.diffusion;

import dev.surpass.DType;
import dev.surpass.backend.KernelNames;
import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.ArrayList;
import java.util.List;

/**
 * Launches the sampler-step kernels of {@code kernels/diffusion/} (one fused pass each; body in
 * {@code step.cuh}). Trusts its caller: shapes and options were checked by {@link Steps}.
 */
final class CudaSamplers {
    private CudaSamplers() {}

    static final String FAMILY = "diffusion";
    static final int THREADS = 256;
    static final int MAX_BLOCKS = 65535 * 32;
    // flag bits of step.cuh
    static final int NOISE = 1, LEARNED_RANGE = 2, CLIP = 4, SECOND_ORDER = 8;

    static String name(String op, DType dtype) {
        return KernelNames.of("diffusion", op, dtype);
    }

    /** Every kernel this launcher may launch (checked against abi.txt and the fatbin by a test). */
    static List<String> kernelNames() {
        List<String> names = new ArrayList<>();
        for (StepPlan.Kind k : StepPlan.Kind.values()) {
            for (DType t : Steps.dtypes()) names.add(name(k.op, t));
        }
        for (DType t : Steps.dtypes()) names.add(name("noise", t));
        names.add("surpass_diffusion_philox_u32");
        return names;
    }

    /** Elements per thread group: one 16-byte pack. */
    static int vec(DType t) {
        return 16 / t.byteSize();
    }

    static int flags(StepPlan p) {
        int f = 0;
        if (p.noise()) f |= NOISE;
        if (p.learnedRange()) f |= LEARNED_RANGE;
        if (p.clip() > 0) f |= CLIP;
        if (p.kind() == StepPlan.Kind.DPMPP_2M && p.p2() != 0) f |= SECOND_ORDER;
        return f;
    }

    static void step(StepPlan p, StepLayout l, Tensor x, Tensor mo, Tensor state, Tensor out) {
        long n = l.numel();
        if (n == 0) return;
        int v = vec(x.dtype());
        long groups = (n + v - 1) / v;
        CudaBackend.of(out).launch(FAMILY, name(p.kind().op, x.dtype()),
                Dim3.gridStride(groups, THREADS, MAX_BLOCKS), Dim3.of(THREADS), 0,
                x.devicePointer(), mo.devicePointer(), out.devicePointer(), state == null ? 0L : state.devicePointer(),
                l.batch(), l.channels(), l.spatial(), l.cfg(), l.guided(), l.scale(), l.learned() ? 1 : 0,
                p.seed(), p.stream(), flags(p),
                (float) p.ax(), (float) p.am(), (float) p.ex(), (float) p.em(), (float) p.clip(), (float) p.a(), (float) p.bInv(),
                (float) p.p0(), (float) p.p1(), (float) p.p2(), (float) p.minLog(), (float) (p.maxLog() - p.minLog()));
    }
}
