package dev.surpass.cuda.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Raw downcalls into the CUDA driver API ({@code libcuda.so.1}). Internal to surpass.
 *
 * <p>Every method returns the {@code CUresult} (0 = success) unchanged; checking is the caller's
 * job ({@code dev.surpass.cuda}). Symbol names are the ones {@code cuda.h} (CUDA 13.0) maps the API
 * names to when compiled without per-thread-default-stream macros: e.g. {@code cuMemGetInfo} →
 * {@code cuMemGetInfo_v2}, {@code cuMemcpyHtoDAsync} → {@code cuMemcpyHtoDAsync_v2},
 * {@code cuDevicePrimaryCtxRelease} → {@code cuDevicePrimaryCtxRelease_v2},
 * {@code cuEventElapsedTime} → {@code cuEventElapsedTime_v2}. Stream-taking calls get the stream
 * explicitly (surpass passes {@link #CU_STREAM_PER_THREAD} or {@link #CU_STREAM_LEGACY}).
 *
 * <p>C types map as: {@code CUresult}, {@code int}, {@code unsigned int}, enums, {@code CUdevice}
 * → {@code int}; {@code size_t}, {@code CUdeviceptr} (unsigned long long) → {@code long}; handles
 * ({@code CUcontext}, {@code CUmodule}, {@code CUfunction}, {@code CUstream}, {@code CUevent},
 * {@code CUmemoryPool}) → {@code long} addresses here, passed as C pointers; out-parameters →
 * native {@link MemorySegment}s the caller allocates.
 *
 * <p>Thread rules: the handles are immutable; every method may be called from any thread.
 */
public final class CuDriver {
    public static final String LIBRARY = "libcuda.so.1";

    /** {@code CU_STREAM_LEGACY}: the legacy default stream, which orders with all blocking streams. */
    public static final long CU_STREAM_LEGACY = 0x1L;
    /** {@code CU_STREAM_PER_THREAD}: the calling thread's own default stream. */
    public static final long CU_STREAM_PER_THREAD = 0x2L;

    public static final int CUDA_SUCCESS = 0;
    public static final int CUDA_ERROR_OUT_OF_MEMORY = 2;
    public static final int CUDA_ERROR_NO_DEVICE = 100;
    public static final int CUDA_ERROR_NOT_FOUND = 500;

    // CUdevice_attribute values (cuda.h, CUDA 13.0)
    public static final int ATTR_MAX_THREADS_PER_BLOCK = 1;
    public static final int ATTR_MAX_BLOCK_DIM_X = 2;
    public static final int ATTR_MAX_BLOCK_DIM_Y = 3;
    public static final int ATTR_MAX_BLOCK_DIM_Z = 4;
    public static final int ATTR_MAX_GRID_DIM_X = 5;
    public static final int ATTR_MAX_GRID_DIM_Y = 6;
    public static final int ATTR_MAX_GRID_DIM_Z = 7;
    public static final int ATTR_MAX_SHARED_MEMORY_PER_BLOCK = 8;
    public static final int ATTR_MULTIPROCESSOR_COUNT = 16;
    public static final int ATTR_L2_CACHE_SIZE = 38;
    public static final int ATTR_COMPUTE_CAPABILITY_MAJOR = 75;
    public static final int ATTR_COMPUTE_CAPABILITY_MINOR = 76;
    public static final int ATTR_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81;
    public static final int ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
    public static final int ATTR_MEMORY_POOLS_SUPPORTED = 115;

    // CUfunction_attribute values
    public static final int FUNC_ATTR_MAX_THREADS_PER_BLOCK = 0;
    public static final int FUNC_ATTR_SHARED_SIZE_BYTES = 1;
    public static final int FUNC_ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    // CUmemPool_attribute values (enum starts at 1: REUSE_FOLLOW_EVENT_DEPENDENCIES)
    public static final int MEMPOOL_ATTR_RELEASE_THRESHOLD = 4;

    /** {@code CU_EVENT_DEFAULT}. */
    public static final int CU_EVENT_DEFAULT = 0;

    // cuTensorMapEncodeTiled enums (cuda.h, CUDA 13.0) and the size of a CUtensorMap (128 bytes, 64-byte aligned)
    public static final int TENSOR_MAP_DATA_TYPE_FLOAT16 = 6;
    public static final int TENSOR_MAP_DATA_TYPE_FLOAT32 = 7;
    public static final int TENSOR_MAP_DATA_TYPE_BFLOAT16 = 9;
    public static final int TENSOR_MAP_INTERLEAVE_NONE = 0;
    public static final int TENSOR_MAP_SWIZZLE_NONE = 0;
    public static final int TENSOR_MAP_SWIZZLE_128B = 3;
    public static final int TENSOR_MAP_L2_PROMOTION_L2_256B = 3;
    public static final int TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0;
    public static final int TENSOR_MAP_BYTES = 128;

    private static final FunctionDescriptor I_I = FunctionDescriptor.of(JAVA_INT, JAVA_INT);
    private static final FunctionDescriptor I_P = FunctionDescriptor.of(JAVA_INT, ADDRESS);
    private static final FunctionDescriptor I_V = FunctionDescriptor.of(JAVA_INT);

    private final MethodHandle cuInit;
    private final MethodHandle cuDriverGetVersion;
    private final MethodHandle cuGetErrorName;
    private final MethodHandle cuDeviceGetCount;
    private final MethodHandle cuDeviceGet;
    private final MethodHandle cuDeviceGetName;
    private final MethodHandle cuDeviceGetAttribute;
    private final MethodHandle cuDeviceTotalMem;
    private final MethodHandle cuDevicePrimaryCtxRetain;
    private final MethodHandle cuDevicePrimaryCtxRelease;
    private final MethodHandle cuCtxSetCurrent;
    private final MethodHandle cuCtxSynchronize;
    private final MethodHandle cuStreamSynchronize;
    private final MethodHandle cuStreamCreate;
    private final MethodHandle cuStreamDestroy;
    private final MethodHandle cuMemGetInfo;
    private final MethodHandle cuDeviceGetDefaultMemPool;
    private final MethodHandle cuMemPoolSetAttribute;
    private final MethodHandle cuMemPoolTrimTo;
    private final MethodHandle cuMemAllocAsync;
    private final MethodHandle cuMemFreeAsync;
    private final MethodHandle cuMemcpyHtoDAsync;
    private final MethodHandle cuMemcpyDtoHAsync;
    private final MethodHandle cuMemcpyDtoDAsync;
    private final MethodHandle cuMemsetD8Async;
    private final MethodHandle cuMemsetD16Async;
    private final MethodHandle cuMemsetD32Async;
    private final MethodHandle cuModuleLoadData;
    private final MethodHandle cuModuleGetFunction;
    private final MethodHandle cuFuncSetAttribute;
    private final MethodHandle cuFuncGetAttribute;
    private final MethodHandle cuLaunchKernel;
    private final MethodHandle cuEventCreate;
    private final MethodHandle cuEventRecord;
    private final MethodHandle cuEventSynchronize;
    private final MethodHandle cuEventElapsedTime;
    private final MethodHandle cuEventDestroy;
    private final MethodHandle cuTensorMapEncodeTiled;
    private final MethodHandle cuStreamBeginCapture;
    private final MethodHandle cuStreamEndCapture;
    private final MethodHandle cuGraphInstantiateWithFlags;
    private final MethodHandle cuGraphLaunch;
    private final MethodHandle cuGraphExecDestroy;
    private final MethodHandle cuGraphDestroy;

    private CuDriver(SymbolLookup lib) {
        String l = LIBRARY;
        cuInit = Ffi.required(lib, l, "cuInit", I_I);
        cuDriverGetVersion = Ffi.required(lib, l, "cuDriverGetVersion", I_P);
        // CUresult cuGetErrorName(CUresult error, const char **pStr)
        cuGetErrorName = Ffi.required(lib, l, "cuGetErrorName", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        cuDeviceGetCount = Ffi.required(lib, l, "cuDeviceGetCount", I_P);
        // CUresult cuDeviceGet(CUdevice *device, int ordinal)
        cuDeviceGet = Ffi.required(lib, l, "cuDeviceGet", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        // CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
        cuDeviceGetName = Ffi.required(lib, l, "cuDeviceGetName", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        // CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
        cuDeviceGetAttribute = Ffi.required(lib, l, "cuDeviceGetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        // CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
        cuDeviceTotalMem = Ffi.required(lib, l, "cuDeviceTotalMem_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        // CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
        cuDevicePrimaryCtxRetain = Ffi.required(lib, l, "cuDevicePrimaryCtxRetain", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        // CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
        cuDevicePrimaryCtxRelease = Ffi.required(lib, l, "cuDevicePrimaryCtxRelease_v2", I_I);
        // CUresult cuCtxSetCurrent(CUcontext ctx)
        cuCtxSetCurrent = Ffi.required(lib, l, "cuCtxSetCurrent", I_P);
        cuCtxSynchronize = Ffi.required(lib, l, "cuCtxSynchronize", I_V);
        // CUresult cuStreamSynchronize(CUstream hStream)
        cuStreamSynchronize = Ffi.required(lib, l, "cuStreamSynchronize", I_P);
        // CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)
        cuStreamCreate = Ffi.required(lib, l, "cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        // CUresult cuStreamDestroy_v2(CUstream hStream)
        cuStreamDestroy = Ffi.required(lib, l, "cuStreamDestroy_v2", I_P);
        // CUresult cuMemGetInfo_v2(size_t *free, size_t *total)
        cuMemGetInfo = Ffi.required(lib, l, "cuMemGetInfo_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        // CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
        cuDeviceGetDefaultMemPool = Ffi.required(lib, l, "cuDeviceGetDefaultMemPool", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        // CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
        cuMemPoolSetAttribute = Ffi.required(lib, l, "cuMemPoolSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        // CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
        cuMemPoolTrimTo = Ffi.optional(lib, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG), "cuMemPoolTrimTo");
        // CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
        cuMemAllocAsync = Ffi.required(lib, l, "cuMemAllocAsync", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS));
        // CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
        cuMemFreeAsync = Ffi.required(lib, l, "cuMemFreeAsync", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS));
        // CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream)
        cuMemcpyHtoDAsync = Ffi.required(lib, l, "cuMemcpyHtoDAsync_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS));
        // CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)
        cuMemcpyDtoHAsync = Ffi.required(lib, l, "cuMemcpyDtoHAsync_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));
        // CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)
        cuMemcpyDtoDAsync = Ffi.required(lib, l, "cuMemcpyDtoDAsync_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS));
        // CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)
        cuMemsetD8Async = Ffi.required(lib, l, "cuMemsetD8Async", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS));
        // CUresult cuMemsetD16Async(CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream)
        cuMemsetD16Async = Ffi.required(lib, l, "cuMemsetD16Async", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_SHORT, JAVA_LONG, ADDRESS));
        // CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream)
        cuMemsetD32Async = Ffi.required(lib, l, "cuMemsetD32Async", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS));
        // CUresult cuModuleLoadData(CUmodule *module, const void *image)
        cuModuleLoadData = Ffi.required(lib, l, "cuModuleLoadData", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        // CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
        cuModuleGetFunction = Ffi.required(lib, l, "cuModuleGetFunction", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        // CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)
        cuFuncSetAttribute = Ffi.required(lib, l, "cuFuncSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        // CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)
        cuFuncGetAttribute = Ffi.required(lib, l, "cuFuncGetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        // CUresult cuLaunchKernel(CUfunction f, unsigned gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY,
        //                         blockDimZ, unsigned sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)
        cuLaunchKernel = Ffi.required(lib, l, "cuLaunchKernel", FunctionDescriptor.of(JAVA_INT, ADDRESS,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        // CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)
        cuEventCreate = Ffi.required(lib, l, "cuEventCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        // CUresult cuEventRecord(CUevent hEvent, CUstream hStream)
        cuEventRecord = Ffi.required(lib, l, "cuEventRecord", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        // CUresult cuEventSynchronize(CUevent hEvent)
        cuEventSynchronize = Ffi.required(lib, l, "cuEventSynchronize", I_P);
        // CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd); the _v2
        // symbol appeared in CUDA 12.8 drivers, the unversioned one (same signature) is older.
        cuEventElapsedTime = Ffi.optional(lib, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS),
                "cuEventElapsedTime_v2", "cuEventElapsedTime");
        // CUresult cuEventDestroy_v2(CUevent hEvent)
        cuEventDestroy = Ffi.required(lib, l, "cuEventDestroy_v2", I_P);
        // CUresult cuTensorMapEncodeTiled(CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType, cuuint32_t tensorRank,
        //     void *globalAddress, const cuuint64_t *globalDim, const cuuint64_t *globalStrides, const cuuint32_t *boxDim,
        //     const cuuint32_t *elementStrides, CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion,
        //     CUtensorMapFloatOOBfill) — CUDA 12.0+ drivers; optional so that its absence only disables TMA kernels.
        cuTensorMapEncodeTiled = Ffi.optional(lib, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS,
                ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), "cuTensorMapEncodeTiled");
        // Stream capture into CUDA graphs (CUDA 11.4+ for all of these; optional so that an older
        // driver only loses graphs). CUresult cuStreamBeginCapture_v2(CUstream, CUstreamCaptureMode)
        cuStreamBeginCapture = Ffi.optional(lib, FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cuStreamBeginCapture_v2");
        // CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
        cuStreamEndCapture = Ffi.optional(lib, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cuStreamEndCapture");
        // CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags)
        cuGraphInstantiateWithFlags = Ffi.optional(lib, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG),
                "cuGraphInstantiateWithFlags");
        // CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
        cuGraphLaunch = Ffi.optional(lib, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cuGraphLaunch");
        // CUresult cuGraphExecDestroy(CUgraphExec hGraphExec); CUresult cuGraphDestroy(CUgraph hGraph)
        cuGraphExecDestroy = Ffi.optional(lib, I_P, "cuGraphExecDestroy");
        cuGraphDestroy = Ffi.optional(lib, I_P, "cuGraphDestroy");
    }

    /**
     * Loads the driver library and binds every symbol.
     *
     * @throws IllegalStateException with the reason when {@code libcuda.so.1} is absent or lacks a
     *     symbol (a driver older than CUDA 11.2, which added stream-ordered allocation)
     */
    public static CuDriver open() {
        Optional<SymbolLookup> lib = Ffi.library(LIBRARY);
        if (lib.isEmpty()) {
            throw new IllegalStateException(LIBRARY + " not found: no NVIDIA driver on this host");
        }
        try {
            return new CuDriver(lib.get());
        } catch (Ffi.MissingSymbolException e) {
            throw new IllegalStateException(e.getMessage() + ": the NVIDIA driver is too old for surpass (needs CUDA 12 or newer)");
        }
    }

    private static MemorySegment h(long handle) {
        return MemorySegment.ofAddress(handle);
    }

    public int cuInit(int flags) {
        try { return (int) cuInit.invokeExact(flags); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuDriverGetVersion(MemorySegment outVersion) {
        try { return (int) cuDriverGetVersion.invokeExact(outVersion); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    /** {@code outStr} receives a {@code const char*} (static storage in the driver). */
    public int cuGetErrorName(int error, MemorySegment outStr) {
        try { return (int) cuGetErrorName.invokeExact(error, outStr); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuDeviceGetCount(MemorySegment outCount) {
        try { return (int) cuDeviceGetCount.invokeExact(outCount); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuDeviceGet(MemorySegment outDevice, int ordinal) {
        try { return (int) cuDeviceGet.invokeExact(outDevice, ordinal); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuDeviceGetName(MemorySegment name, int len, int dev) {
        try { return (int) cuDeviceGetName.invokeExact(name, len, dev); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuDeviceGetAttribute(MemorySegment outValue, int attrib, int dev) {
        try { return (int) cuDeviceGetAttribute.invokeExact(outValue, attrib, dev); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuDeviceTotalMem(MemorySegment outBytes, int dev) {
        try { return (int) cuDeviceTotalMem.invokeExact(outBytes, dev); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuDevicePrimaryCtxRetain(MemorySegment outCtx, int dev) {
        try { return (int) cuDevicePrimaryCtxRetain.invokeExact(outCtx, dev); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuDevicePrimaryCtxRelease(int dev) {
        try { return (int) cuDevicePrimaryCtxRelease.invokeExact(dev); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuCtxSetCurrent(long ctx) {
        try { return (int) cuCtxSetCurrent.invokeExact(h(ctx)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuCtxSynchronize() {
        try { return (int) cuCtxSynchronize.invokeExact(); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuStreamSynchronize(long stream) {
        try { return (int) cuStreamSynchronize.invokeExact(h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuStreamCreate(MemorySegment outStream, int flags) {
        try { return (int) cuStreamCreate.invokeExact(outStream, flags); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuStreamDestroy(long stream) {
        try { return (int) cuStreamDestroy.invokeExact(h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuMemGetInfo(MemorySegment outFree, MemorySegment outTotal) {
        try { return (int) cuMemGetInfo.invokeExact(outFree, outTotal); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuDeviceGetDefaultMemPool(MemorySegment outPool, int dev) {
        try { return (int) cuDeviceGetDefaultMemPool.invokeExact(outPool, dev); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    /** {@code value} points at the attribute's value type (cuuint64_t for the release threshold). */
    public int cuMemPoolSetAttribute(long pool, int attr, MemorySegment value) {
        try { return (int) cuMemPoolSetAttribute.invokeExact(h(pool), attr, value); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    /** Releases the pool's unused memory down to {@code minBytesToKeep}; CUDA_ERROR_NOT_SUPPORTED (801) when the driver lacks it. */
    public int cuMemPoolTrimTo(long pool, long minBytesToKeep) {
        if (cuMemPoolTrimTo == null) return 801;
        try { return (int) cuMemPoolTrimTo.invokeExact(h(pool), minBytesToKeep); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuMemAllocAsync(MemorySegment outPtr, long bytes, long stream) {
        try { return (int) cuMemAllocAsync.invokeExact(outPtr, bytes, h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuMemFreeAsync(long dptr, long stream) {
        try { return (int) cuMemFreeAsync.invokeExact(dptr, h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuMemcpyHtoDAsync(long dst, MemorySegment src, long bytes, long stream) {
        try { return (int) cuMemcpyHtoDAsync.invokeExact(dst, src, bytes, h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuMemcpyDtoHAsync(MemorySegment dst, long src, long bytes, long stream) {
        try { return (int) cuMemcpyDtoHAsync.invokeExact(dst, src, bytes, h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuMemcpyDtoDAsync(long dst, long src, long bytes, long stream) {
        try { return (int) cuMemcpyDtoDAsync.invokeExact(dst, src, bytes, h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuMemsetD8Async(long dst, byte value, long count, long stream) {
        try { return (int) cuMemsetD8Async.invokeExact(dst, value, count, h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    /** {@code count} is in 16-bit elements; {@code dst} must be 2-byte aligned. */
    public int cuMemsetD16Async(long dst, short value, long count, long stream) {
        try { return (int) cuMemsetD16Async.invokeExact(dst, value, count, h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    /** {@code count} is in 32-bit elements; {@code dst} must be 4-byte aligned. */
    public int cuMemsetD32Async(long dst, int value, long count, long stream) {
        try { return (int) cuMemsetD32Async.invokeExact(dst, value, count, h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuModuleLoadData(MemorySegment outModule, MemorySegment image) {
        try { return (int) cuModuleLoadData.invokeExact(outModule, image); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuModuleGetFunction(MemorySegment outFunction, long module, MemorySegment name) {
        try { return (int) cuModuleGetFunction.invokeExact(outFunction, h(module), name); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuFuncSetAttribute(long function, int attrib, int value) {
        try { return (int) cuFuncSetAttribute.invokeExact(h(function), attrib, value); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuFuncGetAttribute(MemorySegment outValue, int attrib, long function) {
        try { return (int) cuFuncGetAttribute.invokeExact(outValue, attrib, h(function)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    /** Grid and block dims are C {@code unsigned int}s passed in Java ints (values below 2^31). */
    public int cuLaunchKernel(long function, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                              long stream, MemorySegment kernelParams, MemorySegment extra) {
        try {
            return (int) cuLaunchKernel.invokeExact(h(function), gx, gy, gz, bx, by, bz, sharedBytes, h(stream),
                    kernelParams, extra);
        } catch (Throwable t) {
            throw Ffi.rethrow(t);
        }
    }

    public int cuEventCreate(MemorySegment outEvent, int flags) {
        try { return (int) cuEventCreate.invokeExact(outEvent, flags); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuEventRecord(long event, long stream) {
        try { return (int) cuEventRecord.invokeExact(h(event), h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuEventSynchronize(long event) {
        try { return (int) cuEventSynchronize.invokeExact(h(event)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    /** Returns {@link #CUDA_ERROR_NOT_FOUND} when the driver has neither symbol. */
    public int cuEventElapsedTime(MemorySegment outMillis, long start, long end) {
        if (cuEventElapsedTime == null) return CUDA_ERROR_NOT_FOUND;
        try { return (int) cuEventElapsedTime.invokeExact(outMillis, h(start), h(end)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuEventDestroy(long event) {
        try { return (int) cuEventDestroy.invokeExact(h(event)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    /** True when the driver has {@code cuTensorMapEncodeTiled} (CUDA 12.0+). */
    public boolean hasTensorMaps() {
        return cuTensorMapEncodeTiled != null;
    }

    /**
     * Encodes a tiled TMA tensor map into {@code outMap} (128 bytes, 64-byte aligned). {@code dims} holds
     * {@code rank} cuuint64, {@code strides} rank-1 cuuint64 (bytes), {@code box} and {@code elementStrides}
     * rank cuuint32. Returns {@link #CUDA_ERROR_NOT_FOUND} when the driver lacks the call.
     */
    public int cuTensorMapEncodeTiled(MemorySegment outMap, int dataType, int rank, long globalAddress, MemorySegment dims,
                                      MemorySegment strides, MemorySegment box, MemorySegment elementStrides, int interleave,
                                      int swizzle, int l2Promotion, int oobFill) {
        if (cuTensorMapEncodeTiled == null) return CUDA_ERROR_NOT_FOUND;
        try {
            return (int) cuTensorMapEncodeTiled.invokeExact(outMap, dataType, rank, globalAddress, dims, strides, box, elementStrides,
                    interleave, swizzle, l2Promotion, oobFill);
        } catch (Throwable t) {
            throw Ffi.rethrow(t);
        }
    }

    /** True when the driver has the stream-capture and graph calls (CUDA 11.4+). */
    public boolean hasGraphs() {
        return cuStreamBeginCapture != null && cuStreamEndCapture != null && cuGraphInstantiateWithFlags != null
                && cuGraphLaunch != null && cuGraphExecDestroy != null && cuGraphDestroy != null;
    }

    /** {@code CU_STREAM_CAPTURE_MODE_THREAD_LOCAL}: only this thread's unsafe calls are refused during capture. */
    public static final int CAPTURE_MODE_THREAD_LOCAL = 1;

    public int cuStreamBeginCapture(long stream, int mode) {
        if (cuStreamBeginCapture == null) return CUDA_ERROR_NOT_FOUND;
        try { return (int) cuStreamBeginCapture.invokeExact(h(stream), mode); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuStreamEndCapture(long stream, MemorySegment outGraph) {
        if (cuStreamEndCapture == null) return CUDA_ERROR_NOT_FOUND;
        try { return (int) cuStreamEndCapture.invokeExact(h(stream), outGraph); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuGraphInstantiateWithFlags(MemorySegment outExec, long graph, long flags) {
        if (cuGraphInstantiateWithFlags == null) return CUDA_ERROR_NOT_FOUND;
        try { return (int) cuGraphInstantiateWithFlags.invokeExact(outExec, h(graph), flags); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuGraphLaunch(long exec, long stream) {
        if (cuGraphLaunch == null) return CUDA_ERROR_NOT_FOUND;
        try { return (int) cuGraphLaunch.invokeExact(h(exec), h(stream)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuGraphExecDestroy(long exec) {
        if (cuGraphExecDestroy == null) return CUDA_ERROR_NOT_FOUND;
        try { return (int) cuGraphExecDestroy.invokeExact(h(exec)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }

    public int cuGraphDestroy(long graph) {
        if (cuGraphDestroy == null) return CUDA_ERROR_NOT_FOUND;
        try { return (int) cuGraphDestroy.invokeExact(h(graph)); } catch (Throwable t) { throw Ffi.rethrow(t); }
    }
}
