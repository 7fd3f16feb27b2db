package dev.surpass.attention;

import dev.surpass.DType;
import dev.surpass.Device;
import dev.surpass.Scope;
import dev.surpass.Tensor;
import dev.surpass.cuda.CudaBackend;
import dev.surpass.cuda.Dim3;
import java.util.ArrayList;
import java.util.List;

/**
 * The CUDA launchers of {@link Attention} (kernels under {@code kernels/attention/}, fatbin
 * {@code attention}). {@link Attention} validates, allocates the outputs and calls these with shapes
 * it has checked; here only launch limits (grid y/z ≤ 65535) are checked again.
 *
 * <p>Kernel choice (prefill): fp16/bf16 with 16-byte aligned q, k, v run the tensor-core kernel
 * {@code surpass_attention_flash_fwd_<dt>_d<P>} (P = head dim rounded up to 16); fp32, unaligned
 * inputs, or {@code -Dsurpass.attention.simple=true} run {@code surpass_attention_flash_fwd_simple_<dt>}
 * (plain fp32 FMA, a cross-check of the tensor-core kernel when debugging on a GPU). Dense batches use
 * the varlen code path with uniform offsets (null offset arrays). On compute capability 9.0, dense
 * fp16/bf16 prefill with D 64 or 128 (and no softcap or ALiBi) runs the Hopper kernel
 * {@code surpass_attention_flash_fwd_sm90a_<dt>_d<D>} (fatbin {@code attention_sm90a}: TMA + wgmma)
 * instead; {@link #hopperRefusal} decides, {@code -Dsurpass.attention.hopper=false} disables it.
 *
 * <p>Decode: one block per (sequence, kv-head, split) holding up to 8 q-heads of the group;
 * {@link #decodeSplits} picks the split count from the SM count and the longest visible length;
 * with more than one split the partial outputs and LSEs go to a temporary workspace merged by
 * {@code surpass_attention_combine_<dt>}.
 *
 * <p>Temporaries (offset arrays, page tables, workspaces) live in a {@link Scope} closed after the
 * launches; frees are stream-ordered after the kernels that read them.
 */
final class CudaAttention {
    private CudaAttention() {}

    static final String FAMILY = "attention";

    /** Route fp16/bf16 prefill to the simple kernel (debugging: compare with the tensor-core one). */
    static final boolean FORCE_SIMPLE = Boolean.getBoolean("surpass.attention.simple");

    /** Padded head dims of the tensor-core prefill kernels. */
    static final int[] MMA_DIMS = {32, 64, 80, 96, 128, 256};
    /** q-heads per decode block. */
    static final int[] DECODE_HEADS = {1, 2, 4, 8};

    private static final int SIMPLE_BM = 16, THREADS = 128, MAX_GRID_YZ = 65535;

    /** Kernel entry points this class launches (checked against the fatbin by the ABI test). */
    static List<String> kernelNames() {
        List<String> names = new ArrayList<>();
        for (boolean alibi : new boolean[] {false, true}) {
            for (DType t : new DType[] {DType.F16, DType.BF16}) {
                for (int p : MMA_DIMS) names.add(mmaKernel(t, p, alibi));
            }
            for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                names.add(simpleKernel(t, alibi));
                for (int hc : DECODE_HEADS) names.add(decodeKernel(t, hc, alibi));
            }
        }
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            names.add("surpass_attention_combine_" + suffix(t));
            names.add("surpass_attention_probabilities_" + suffix(t));
        }
        return names;
    }

    static String suffix(DType t) {
        return switch (t) {
            case F32 -> "f32";
            case F16 -> "f16";
            case BF16 -> "bf16";
            default -> throw new IllegalArgumentException("no attention kernel for " + t);
        };
    }

    // The _alibi_ entries are the same kernels with ALiBi slopes (one more parameter): separate
    // entries so that those without keep their code and registers.

    static String mmaKernel(DType t, int paddedDim) {
        return mmaKernel(t, paddedDim, false);
    }

    static String mmaKernel(DType t, int paddedDim, boolean alibi) {
        return "surpass_attention_flash_fwd_" + (alibi ? "alibi_" : "") + suffix(t) + "_d" + paddedDim;
    }

    static String simpleKernel(DType t) {
        return simpleKernel(t, false);
    }

    static String simpleKernel(DType t, boolean alibi) {
        return "surpass_attention_flash_fwd_simple_" + (alibi ? "alibi_" : "") + suffix(t);
    }

    static String decodeKernel(DType t, int headsPerBlock) {
        return decodeKernel(t, headsPerBlock, false);
    }

    static String decodeKernel(DType t, int headsPerBlock, boolean alibi) {
        return "surpass_attention_paged_decode_" + (alibi ? "alibi_" : "") + suffix(t) + "_h" + headsPerBlock;
    }

    /** The kernel arguments, with the slopes' pointer appended for an _alibi_ entry (0: none). */
    private static Object[] withAlibi(long alibi, Object... args) {
        if (alibi == 0L) return args;
        Object[] a = java.util.Arrays.copyOf(args, args.length + 1);
        a[args.length] = alibi;
        return a;
    }

    /** The tensor-core kernel's head dim: D rounded up to a multiple of 16 (72 → 80). */
    static int paddedDim(int d) {
        return (d + 15) / 16 * 16;
    }

    // The tensor-core kernel's tile per padded head dim: mirrors DefaultTile<P> in flash_attention_fwd.cu.

    /** Query rows per block of the tensor-core kernel (16 · m-tiles per warp · warps). */
    static int mmaBlockM(int paddedDim) {
        return paddedDim == 256 ? 64 : 128;
    }

    /** Threads per block of the tensor-core kernel (4 warps). */
    static int mmaThreads(int paddedDim) {
        return 128;
    }

    /** Keys per K/V tile of the tensor-core kernel. */
    static int mmaBlockN(int paddedDim) {
        return paddedDim >= 256 ? 32 : 64;
    }

    /** K and V buffers (each) of the tensor-core kernel's cp.async ring. */
    static int mmaStages(int paddedDim) {
        return paddedDim == 128 ? 1 : 2;
    }

    /** Dynamic shared memory of the tensor-core kernel: Q tile + the K and V rings, rows padded by 8 elements. */
    static int mmaSharedBytes(int paddedDim) {
        return (mmaBlockM(paddedDim) + 2 * mmaStages(paddedDim) * mmaBlockN(paddedDim)) * (paddedDim + 8) * 2;
    }

    /** Dynamic shared memory of the simple kernel (fp32 Q, K (odd stride), V and P tiles). */
    static int simpleSharedBytes(int d) {
        return (SIMPLE_BM * d + 32 * (d + 1) + 32 * d + 4 * 4 * 32) * 4;
    }

    /** Right window offset for the kernels: causal folded in (≤ 0), -1 unbounded. */
    static int rightOffset(AttentionOptions o) {
        if (o.isCausal()) return o.windowRight() < 0 ? 0 : Math.min(o.windowRight(), 0);
        return o.windowRight();
    }

    /** The ALiBi slopes as an fp32 device tensor [Hq] tracked by {@code sc}, or null when off (the kernels take a null pointer). */
    private static Tensor alibiSlopes(Scope sc, Device dev, AttentionOptions o) {
        float[] s = o.alibiSlopes();
        return s == null ? null : sc.track(dev.upload(DType.F32, s, s.length));
    }

    private static long pointer(Tensor t) {
        return t == null ? 0L : t.devicePointer();
    }

    // ---- prefill -------------------------------------------------------------------------------------

    /** Dense prefill: out [B,Nq,Hq,D], lse [B,Hq,Nq] fp32 or null. */
    static void prefill(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, AttentionOptions opts) {
        prefill(q, k, v, out, lse, opts, FORCE_SIMPLE);
    }

    /** Like {@link #prefill(Tensor, Tensor, Tensor, Tensor, Tensor, AttentionOptions)}; {@code simple} forces the simple kernel (tests). */
    static void prefill(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, AttentionOptions opts, boolean simple) {
        prefill(q, k, v, out, lse, opts, simple, HOPPER);
    }

    /**
     * Like the above; {@code hopper} allows the sm_90a kernel where {@link #hopperRefusal} accepts the call
     * (tests pass false to run the sm_80 kernel on a Hopper GPU).
     */
    static void prefill(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, AttentionOptions opts, boolean simple,
                        boolean hopper) {
        int batch = (int) q.dim(0), nq = (int) q.dim(1), hq = (int) q.dim(2), d = (int) q.dim(3);
        int nk = (int) k.dim(1), hkv = (int) k.dim(2);
        assert k.dim(0) == batch && v.dim(1) == nk && k.dim(3) == d && hq % hkv == 0;
        if (batch == 0 || nq == 0) return;
        if (!simple && hopper && hopperRefusal(q, k, v, out, opts) == null) {
            launchHopper(q, k, v, out, lse, opts);
            return;
        }
        long esz = q.dtype().byteSize();
        try (Scope sc = Scope.open()) {
            long alibi = pointer(alibiSlopes(sc, q.device(), opts));
            // Batches beyond 65535 (grid z) go in chunks: offset every pointer by the chunk's first batch.
            for (int b0 = 0; b0 < batch; b0 += MAX_GRID_YZ) {
                int nb = Math.min(MAX_GRID_YZ, batch - b0);
                long qOff = (long) b0 * nq * hq * d * esz, kOff = (long) b0 * nk * hkv * d * esz;
                long lsePtr = lse == null ? 0L : lse.devicePointer() + (long) b0 * hq * nq * 4;
                launchPrefill(q, q.devicePointer() + qOff, k.devicePointer() + kOff, v.devicePointer() + kOff,
                        out.devicePointer() + qOff, lsePtr, 0L, 0L, nb, nq, nk, 0, hq, hkv, d, opts, simple, alibi);
            }
        }
    }

    /** Varlen prefill: out [totalQ,Hq,D], lse [Hq,totalQ] fp32 or null; offsets already validated. */
    static void prefillVarlen(Tensor q, Tensor k, Tensor v, int[] cuSeqlensQ, int[] cuSeqlensK, int maxSeqlenQ,
                              int maxSeqlenK, Tensor out, Tensor lse, AttentionOptions opts) {
        prefillVarlen(q, k, v, cuSeqlensQ, cuSeqlensK, maxSeqlenQ, maxSeqlenK, out, lse, opts, FORCE_SIMPLE);
    }

    /** Like the above; {@code simple} forces the simple kernel (tests). */
    static void prefillVarlen(Tensor q, Tensor k, Tensor v, int[] cuSeqlensQ, int[] cuSeqlensK, int maxSeqlenQ,
                              int maxSeqlenK, Tensor out, Tensor lse, AttentionOptions opts, boolean simple) {
        int batch = cuSeqlensQ.length - 1;
        int totalQ = (int) q.dim(0), hq = (int) q.dim(1), d = (int) q.dim(2), hkv = (int) k.dim(1);
        assert cuSeqlensK.length == cuSeqlensQ.length && cuSeqlensQ[batch] == totalQ && cuSeqlensK[batch] == k.dim(0);
        if (batch == 0 || maxSeqlenQ == 0) return;
        Device dev = q.device();
        try (Scope sc = Scope.open()) {
            Tensor cuQ = sc.track(dev.upload(cuSeqlensQ, cuSeqlensQ.length));
            Tensor cuK = sc.track(dev.upload(cuSeqlensK, cuSeqlensK.length));
            long lsePtr = lse == null ? 0L : lse.devicePointer();
            long alibi = pointer(alibiSlopes(sc, dev, opts));
            // Offsets are absolute: a chunk of sequences only moves the offset arrays.
            for (int b0 = 0; b0 < batch; b0 += MAX_GRID_YZ) {
                int nb = Math.min(MAX_GRID_YZ, batch - b0);
                launchPrefill(q, q.devicePointer(), k.devicePointer(), v.devicePointer(), out.devicePointer(), lsePtr,
                        cuQ.devicePointer() + 4L * b0, cuK.devicePointer() + 4L * b0, nb, maxSeqlenQ, maxSeqlenK,
                        totalQ, hq, hkv, d, opts, simple, alibi);
            }
        }
    }

    /** True when the tensor-core kernel can run these pointers (16-byte aligned q, k, v; 4-byte aligned out). */
    static boolean mmaEligible(DType t, int d, long qp, long kp, long vp, long op, int maxSharedOptin) {
        if (t == DType.F32 || d % 8 != 0 || d > 256) return false;
        if (((qp | kp | vp) & 15) != 0 || (op & 3) != 0) return false;
        return mmaSharedBytes(paddedDim(d)) <= maxSharedOptin;
    }

    private static void launchPrefill(Tensor like, long qp, long kp, long vp, long op, long lsep, long cuQ, long cuK,
                                      int batch, int nq, int nk, int totalQ, int hq, int hkv, int d, AttentionOptions o,
                                      boolean simple, long alibi) {
        if (hq > MAX_GRID_YZ) {
            throw new IllegalArgumentException("attention on CUDA supports at most " + MAX_GRID_YZ + " q-heads, got " + hq);
        }
        CudaBackend be = CudaBackend.of(like);
        DType t = like.dtype();
        float scale = o.scaleFor(d), softcap = o.softcap();
        int wl = o.windowLeft(), wr = rightOffset(o);
        Object[] args = withAlibi(alibi, qp, kp, vp, op, lsep, cuQ, cuK, nq, nk, totalQ, hq, hkv, d, scale, softcap, wl, wr);
        boolean al = alibi != 0L;
        if (!simple && mmaEligible(t, d, qp, kp, vp, op, be.properties().maxSharedPerBlockOptin())) {
            int p = paddedDim(d);
            Dim3 grid = new Dim3(ceilDiv(nq, mmaBlockM(p)), hq, batch);
            be.launch(FAMILY, mmaKernel(t, p, al), grid, Dim3.of(mmaThreads(p)), mmaSharedBytes(p), args);
        } else {
            Dim3 grid = new Dim3(ceilDiv(nq, SIMPLE_BM), hq, batch);
            be.launch(FAMILY, simpleKernel(t, al), grid, Dim3.of(THREADS), simpleSharedBytes(d), args);
        }
    }

    // ---- Hopper prefill (v2, kernels/attention/flash_attention_fwd_sm90a.cu) ----------------------------

    /** The fatbin of the sm_90a kernels (sm_90a cubin only: runs on compute capability 9.0 exactly). */
    static final String HOPPER_FAMILY = "attention_sm90a";

    /** {@code -Dsurpass.attention.hopper=false} keeps dense prefill on the sm_80 kernel on Hopper GPUs too. */
    static final boolean HOPPER = !"false".equalsIgnoreCase(System.getProperty("surpass.attention.hopper", "true"));

    /** Head dims of the Hopper kernel; query rows per block, keys per tile, threads (3 warpgroups). */
    static final int[] HOPPER_DIMS = {64, 128};
    static final int HOPPER_BM = 128, HOPPER_BN = 128, HOPPER_THREADS = 384;

    static String hopperKernel(DType t, int d) {
        return "surpass_attention_flash_fwd_sm90a_" + suffix(t) + "_d" + d;
    }

    /** Entry points of {@link #HOPPER_FAMILY} (checked against abi.txt's [attention_sm90a] group). */
    static List<String> hopperKernelNames() {
        List<String> names = new ArrayList<>();
        for (DType t : new DType[] {DType.F16, DType.BF16}) {
            for (int d : HOPPER_DIMS) names.add(hopperKernel(t, d));
        }
        return names;
    }

    /** K/V ring depth of the Hopper kernel (mirrors Cfg<D>::STAGES). */
    static int hopperStages(int d) {
        return d == 64 ? 3 : 2;
    }

    /** Dynamic shared memory of the Hopper kernel: 1024 alignment slack + Q + the K and V rings + 128 of mbarriers (Cfg<D>::SMEM_BYTES). */
    static int hopperSharedBytes(int d) {
        return 1024 + HOPPER_BM * d * 2 + 2 * hopperStages(d) * HOPPER_BN * d * 2 + 128;
    }

    /**
     * Why a dense prefill cannot run the Hopper kernel, or null when it can: the one place that decides.
     * It needs: not disabled; compute capability 9.0; fp16/bf16; D 64 or 128; at least one key; scale > 0
     * (the kernel takes the row max before scaling) and no softcap; q, k, v 16-byte aligned (TMA) and out
     * 4-byte aligned; B and Hq within grid limits (65535); the shared memory; and last (it loads the
     * module) a loadable attention_sm90a fatbin. Varlen batches never come here (sm_80 kernel).
     */
    static String hopperRefusal(boolean enabled, int ccMajor, int ccMinor, DType t, int d, int batch, int nq, int nk, int hq,
                                float scale, float softcap, long qp, long kp, long vp, long op, int maxSharedOptin,
                                java.util.function.Supplier<String> moduleProblem) {
        if (!enabled) return "disabled by -Dsurpass.attention.hopper=false";
        if (ccMajor != 9 || ccMinor != 0) return "compute capability " + ccMajor + "." + ccMinor + " is not 9.0";
        if (t != DType.F16 && t != DType.BF16) return "dtype " + t + " (fp16/bf16 only)";
        if (d != 64 && d != 128) return "head dim " + d + " (64 and 128 only)";
        if (nk < 1) return "no keys";
        if (!(scale > 0) || Float.isInfinite(scale)) return "scale " + scale + " is not positive and finite";
        if (softcap != 0f) return "softcap";
        if (((qp | kp | vp) & 15) != 0 || (op & 3) != 0) return "q, k, v not 16-byte aligned or out not 4-byte aligned";
        if (batch > MAX_GRID_YZ || hq > MAX_GRID_YZ) return "batch " + batch + " or " + hq + " q-heads exceed the grid limit " + MAX_GRID_YZ;
        if ((long) Math.max(nq, nk) * hq * d * 2 >= (1L << 40)) return "a sequence stride of 2^40 bytes or more";
        if (hopperSharedBytes(d) > maxSharedOptin) return hopperSharedBytes(d) + " bytes of shared memory exceed " + maxSharedOptin;
        String problem = moduleProblem.get();
        return problem == null ? null : HOPPER_FAMILY + ": " + problem;
    }

    /** {@link #hopperRefusal(boolean, int, int, DType, int, int, int, int, int, float, float, long, long, long, long, int, java.util.function.Supplier)} for these tensors on their GPU. */
    static String hopperRefusal(Tensor q, Tensor k, Tensor v, Tensor out, AttentionOptions o) {
        if (o.hasAlibi()) return "ALiBi (the sm_80 kernel has it)";
        CudaBackend be = CudaBackend.of(q);
        var p = be.properties();
        int d = (int) q.dim(3);
        return hopperRefusal(HOPPER, p.ccMajor(), p.ccMinor(), q.dtype(), d, (int) q.dim(0), (int) q.dim(1), (int) k.dim(1),
                (int) q.dim(2), o.scaleFor(d), o.softcap(), q.devicePointer(), k.devicePointer(), v.devicePointer(),
                out.devicePointer(), p.maxSharedPerBlockOptin(), () -> be.moduleProblem(HOPPER_FAMILY));
    }

    /** The prefill kernel {@link #prefill(Tensor, Tensor, Tensor, Tensor, Tensor, AttentionOptions)} launches for these tensors (tests). */
    static String prefillKernel(Tensor q, Tensor k, Tensor v, Tensor out, AttentionOptions o) {
        int d = (int) q.dim(3);
        if (!FORCE_SIMPLE && hopperRefusal(q, k, v, out, o) == null) return hopperKernel(q.dtype(), d);
        boolean mma = !FORCE_SIMPLE && mmaEligible(q.dtype(), d, q.devicePointer(), k.devicePointer(), v.devicePointer(),
                out.devicePointer(), CudaBackend.of(q).properties().maxSharedPerBlockOptin());
        return mma ? mmaKernel(q.dtype(), paddedDim(d), o.hasAlibi()) : simpleKernel(q.dtype(), o.hasAlibi());
    }

    /**
     * The TMA view of a [batch, n, heads, d] fp16/bf16 tensor: rank 4 (d, heads, n, batch), byte strides
     * (d·2, heads·d·2, n·heads·d·2), box (64, 1, rows, 1): one copy is 64 columns of `rows` tokens of one
     * head of one sequence, and tokens past n read as zero (never the next sequence's).
     */
    static MapShape hopperMapShape(int d, int heads, int n, int batch, int rows) {
        return new MapShape(new long[] {d, heads, n, batch}, new long[] {2L * d, 2L * heads * d, 2L * n * heads * d},
                new int[] {64, 1, rows, 1});
    }

    /** A tensor map's geometry: element counts per dim (dim 0 contiguous), byte strides of dims 1.., box. */
    record MapShape(long[] dims, long[] strides, int[] box) {}

    private static dev.surpass.cuda.TensorMapArg hopperMap(CudaBackend be, Tensor x, int rows) {
        MapShape m = hopperMapShape((int) x.dim(3), (int) x.dim(2), (int) x.dim(1), (int) x.dim(0), rows);
        return be.tensorMap(x.dtype(), x.devicePointer(), m.dims(), m.strides(), m.box());
    }

    /** Dense prefill on the Hopper kernel (the call passed {@link #hopperRefusal}). */
    private static void launchHopper(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, AttentionOptions o) {
        CudaBackend be = CudaBackend.of(q);
        int batch = (int) q.dim(0), nq = (int) q.dim(1), hq = (int) q.dim(2), d = (int) q.dim(3);
        int nk = (int) k.dim(1), hkv = (int) k.dim(2);
        be.launch(HOPPER_FAMILY, hopperKernel(q.dtype(), d), new Dim3(ceilDiv(nq, HOPPER_BM), hq, batch), Dim3.of(HOPPER_THREADS),
                hopperSharedBytes(d), hopperMap(be, q, HOPPER_BM), hopperMap(be, k, HOPPER_BN), hopperMap(be, v, HOPPER_BN),
                out.devicePointer(), lse == null ? 0L : lse.devicePointer(), nq, nk, hq, hkv, o.scaleFor(d), o.windowLeft(),
                rightOffset(o));
    }

    // ---- decode --------------------------------------------------------------------------------------

    /** Paged decode: out [B,Hq,D], lse [B,Hq] fp32 or null; page tables and lengths from the cache. */
    static void decode(Tensor q, PagedKvCache cache, int[] seqIds, Tensor out, Tensor lse, AttentionOptions opts) {
        decode(q, cache, seqIds, out, lse, opts, 0);
    }

    /**
     * Like {@link #decode(Tensor, PagedKvCache, int[], Tensor, Tensor, AttentionOptions)}; {@code forceSplits > 0}
     * fixes the split count (tests), else {@link #decodeSplits} chooses. Called with the cache's lock held.
     */
    static void decode(Tensor q, PagedKvCache cache, int[] seqIds, Tensor out, Tensor lse, AttentionOptions opts,
                       int forceSplits) {
        int batch = seqIds.length, hq = (int) q.dim(1), d = (int) q.dim(2);
        int hkv = cache.numKvHeads(), ps = cache.pageSize();
        if (batch == 0) return;
        int group = hq / hkv;
        int hc = headsPerBlock(group);
        int chunks = ceilDiv(group, hc);
        if ((long) hkv * chunks > MAX_GRID_YZ) {
            throw new IllegalArgumentException("decode on CUDA supports at most " + MAX_GRID_YZ + " blocks per sequence (Hkv × "
                    + chunks + "), got Hkv = " + hkv);
        }
        // Lengths and page tables, flattened to [B, maxPages] (unused entries are page 0, never read).
        int[] lens = new int[batch];
        int[][] tables = new int[batch][];
        int maxPages = 1, maxVisible = 0;
        for (int b = 0; b < batch; b++) {
            lens[b] = cache.length(seqIds[b]);
            tables[b] = cache.pageTable(seqIds[b]);
            assert (long) tables[b].length * ps >= lens[b];
            maxPages = Math.max(maxPages, tables[b].length);
            int lo = opts.windowLeft() < 0 ? 0 : (int) Math.max(0, (long) lens[b] - 1 - opts.windowLeft());
            maxVisible = Math.max(maxVisible, lens[b] - lo);
        }
        if ((long) batch * maxPages > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("decode: page tables of " + batch + " × " + maxPages + " entries are too large");
        }
        int[] flat = new int[batch * maxPages];
        for (int b = 0; b < batch; b++) System.arraycopy(tables[b], 0, flat, b * maxPages, tables[b].length);

        CudaBackend be = CudaBackend.of(q);
        long blocksPerSplit = (long) batch * hkv * chunks;
        int splits = forceSplits > 0 ? forceSplits : decodeSplits(be.properties().smCount(), blocksPerSplit, maxVisible);
        int splitTokens = Math.max(32, roundUp(ceilDiv(Math.max(1, maxVisible), splits), 32));
        splits = Math.max(1, ceilDiv(Math.max(1, maxVisible), splitTokens));

        DType t = q.dtype();
        long esz = t.byteSize();
        float scale = opts.scaleFor(d), softcap = opts.softcap();
        int wl = opts.windowLeft();
        int smem = decodeSharedBytes(hc, d);
        Device dev = q.device();
        try (Scope sc = Scope.open()) {
            Tensor pt = sc.track(dev.upload(flat, flat.length));
            Tensor ln = sc.track(dev.upload(lens, batch));
            Tensor partO = splits > 1 ? sc.track(dev.allocate(DType.F32, batch, hq, splits, d)) : null;
            Tensor partL = splits > 1 ? sc.track(dev.allocate(DType.F32, batch, hq, splits)) : null;
            long alibi = pointer(alibiSlopes(sc, dev, opts));
            for (int b0 = 0; b0 < batch; b0 += MAX_GRID_YZ) {
                int nb = Math.min(MAX_GRID_YZ, batch - b0);
                long rowOff = (long) b0 * hq; // (b, h) rows before the chunk
                be.launch(FAMILY, decodeKernel(t, hc, alibi != 0L), new Dim3(splits, hkv * chunks, nb), Dim3.of(32 * DECODE_WARPS), smem,
                        withAlibi(alibi, q.devicePointer() + rowOff * d * esz, cache.kPool().devicePointer(), cache.vPool().devicePointer(),
                        pt.devicePointer() + 4L * b0 * maxPages, ln.devicePointer() + 4L * b0,
                        out.devicePointer() + rowOff * d * esz, lse == null ? 0L : lse.devicePointer() + rowOff * 4,
                        partO == null ? 0L : partO.devicePointer() + rowOff * splits * d * 4,
                        partL == null ? 0L : partL.devicePointer() + rowOff * splits * 4,
                        hq, hkv, d, ps, maxPages, splits, splitTokens, wl, scale, softcap));
            }
            if (splits > 1) {
                long rows = (long) batch * hq;
                be.launch(FAMILY, "surpass_attention_combine_" + suffix(t), Dim3.of((int) Math.min(rows, Integer.MAX_VALUE)),
                        Dim3.of(THREADS), 0, partO.devicePointer(), partL.devicePointer(), out.devicePointer(),
                        lse == null ? 0L : lse.devicePointer(), rows, splits, d);
            }
        }
    }

    /** Warps per decode block (kWarps in paged_decode.cu: change both together). */
    static final int DECODE_WARPS = 4;

    /** The decode kernel's row class for head dim d: the smallest of 32, 64, 128, 256 that holds it. */
    static int decodeRowClass(int d) {
        return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : 256;
    }

    /** Dynamic shared memory of the decode kernel: per warp and head, (m, Σ) and an output row of the row class. */
    static int decodeSharedBytes(int headsPerBlock, int d) {
        return (2 * DECODE_WARPS * headsPerBlock + DECODE_WARPS * headsPerBlock * decodeRowClass(d)) * 4;
    }

    /** The smallest of 1, 2, 4, 8 that covers min(group, 8) q-heads. */
    static int headsPerBlock(int group) {
        for (int hc : DECODE_HEADS) if (hc >= group) return hc;
        return 8;
    }

    /** Decode blocks per SM the split count aims for (several waves: the last, partial one costs little). */
    static final int DECODE_BLOCKS_PER_SM = 16;
    /** Fewest visible tokens per split. */
    static final int DECODE_MIN_SPLIT_TOKENS = 128;

    /**
     * Split-KV count: none for short rows (≤ 256 visible tokens) or when the unsplit grid already has
     * {@link #DECODE_BLOCKS_PER_SM} blocks per SM; else enough splits for that many, each at least
     * {@link #DECODE_MIN_SPLIT_TOKENS} tokens, at most 128 splits. Decode is a stream over the KV
     * cache: a few (2–4) resident blocks per SM, so 16 blocks per SM are 4+ waves and a partial last
     * wave wastes under a fifth; the partial outputs (fp32, B·Hq·splits·D) are a few percent of the
     * KV bytes at D = 128.
     */
    static int decodeSplits(int smCount, long blocks, int maxVisible) {
        long target = (long) DECODE_BLOCKS_PER_SM * smCount;
        if (maxVisible <= 256 || blocks >= target) return 1;
        long want = ceilDiv(target, Math.max(1, blocks));
        long byLen = ceilDiv(maxVisible, DECODE_MIN_SPLIT_TOKENS);
        return (int) Math.max(1, Math.min(128, Math.min(want, byLen)));
    }

    // ---- attention maps ------------------------------------------------------------------------------

    /** Attention maps: out [B, heads, rows, Nk] fp32. */
    static void probabilities(Tensor q, Tensor k, Tensor lse, int[] heads, int[] rows, Tensor out, AttentionOptions opts) {
        int batch = (int) q.dim(0), nq = (int) q.dim(1), hq = (int) q.dim(2), d = (int) q.dim(3);
        int nk = (int) k.dim(1), hkv = (int) k.dim(2);
        if (batch == 0 || heads.length == 0 || rows.length == 0 || nk == 0) return;
        if (heads.length > MAX_GRID_YZ) {
            throw new IllegalArgumentException("attentionProbabilities on CUDA takes at most " + MAX_GRID_YZ + " heads, got " + heads.length);
        }
        CudaBackend be = CudaBackend.of(q);
        Device dev = q.device();
        long esz = q.dtype().byteSize();
        try (Scope sc = Scope.open()) {
            Tensor hd = sc.track(dev.upload(heads, heads.length));
            Tensor rw = sc.track(dev.upload(rows, rows.length));
            long alibi = pointer(alibiSlopes(sc, dev, opts));
            for (int b0 = 0; b0 < batch; b0 += MAX_GRID_YZ) {
                int nb = Math.min(MAX_GRID_YZ, batch - b0);
                be.launch(FAMILY, "surpass_attention_probabilities_" + suffix(q.dtype()), new Dim3(rows.length, heads.length, nb),
                        Dim3.of(THREADS), d * 4,
                        q.devicePointer() + (long) b0 * nq * hq * d * esz, k.devicePointer() + (long) b0 * nk * hkv * d * esz,
                        lse.devicePointer() + (long) b0 * hq * nq * 4, hd.devicePointer(), rw.devicePointer(),
                        out.devicePointer() + (long) b0 * heads.length * rows.length * nk * 4,
                        nq, nk, hq, hkv, d, heads.length, rows.length, opts.scaleFor(d), opts.softcap(), opts.windowLeft(),
                        rightOffset(opts), alibi);
            }
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    static int roundUp(int a, int m) {
        return ceilDiv(a, m) * m;
    }
}
