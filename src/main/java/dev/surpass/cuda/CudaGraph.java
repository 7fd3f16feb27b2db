package dev.surpass.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import dev.surpass.Device;
import dev.surpass.cuda.ffi.CuDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A sequence of device work recorded once and replayed with one launch: what removes the per-op
 * host cost (an FFM downcall, argument packing and a driver launch, several microseconds each)
 * from a decode step whose kernels are themselves a few microseconds long.
 *
 * <p>{@link #capture} runs the body on the calling thread while that thread's stream is in
 * capture mode: kernels, cuBLAS calls, device copies, and allocations and frees made by the body
 * are recorded, not run. Each {@link #launch()} replays the recording on the calling thread's
 * stream with the same pointers and scalar arguments, so the body must read its varying inputs
 * from device buffers that outlive the graph (written by a copy before each launch) and write its
 * results to such buffers; every tensor the body allocates must also be closed by the body (it
 * becomes a free node), else the graph cannot be launched twice.
 *
 * <p>Not allowed in the body (the capture fails with {@link CudaException}, nothing is left
 * half-captured): copies to or from the host, {@code synchronize()}, anything that waits for the
 * device. Run the body once without capture first, so that lazily loaded kernels and library
 * handles exist before recording. Other threads may keep using the GPU meanwhile: their work runs
 * on their own streams, and their frees (which surpass queues on the legacy stream, which would
 * break the capture) are held back until the capture ends. Code outside surpass that uses the
 * legacy default stream of the same GPU during a capture breaks it: the capture then fails with
 * {@link CudaException} and may be retried.
 *
 * <p>One owner, one {@link #close()} (idempotent); launching after close throws
 * {@link IllegalStateException}. Thread rules: launch from one thread at a time.
 */
public final class CudaGraph implements AutoCloseable {
    private final CudaGpu gpu;
    private long exec;

    private CudaGraph(CudaGpu gpu, long exec) {
        this.gpu = gpu;
        this.exec = exec;
    }

    /** True when {@code device} is a CUDA device whose driver can capture and replay graphs. */
    public static boolean supported(Device device) {
        return device != null && !device.isClosed() && device.backend() instanceof CudaBackend cb && cb.gpu().driver.hasGraphs();
    }

    /**
     * Records {@code body} into a graph, without running it.
     *
     * @throws IllegalArgumentException when {@code device} is not a CUDA device with graph support
     * @throws CudaException when the driver refuses the capture (see the class notes)
     * @throws RuntimeException whatever {@code body} throws (the capture is then discarded)
     */
    public static CudaGraph capture(Device device, Runnable body) {
        if (body == null) throw new IllegalArgumentException("capture: body is null");
        CudaBackend cb = CudaBackend.of(device);
        CudaGpu gpu = cb.gpu();
        CuDriver d = gpu.driver;
        if (!d.hasGraphs()) {
            throw new IllegalArgumentException("capture: the CUDA driver of " + gpu.name() + " lacks stream capture (CUDA 11.4+ needed)");
        }
        if (gpu.capturingOnThisThread()) throw new IllegalStateException("capture: this thread is already capturing on " + gpu.name());
        gpu.ensureCurrent();
        long stream = CuDriver.CU_STREAM_PER_THREAD;
        gpu.beginCapture(); // from here other threads' legacy-stream frees wait for the capture's end
        int begin = d.cuStreamBeginCapture(stream, CuDriver.CAPTURE_MODE_THREAD_LOCAL);
        if (begin != 0) {
            gpu.endCapture();
            gpu.check("cuStreamBeginCapture", begin, gpu.name());
        }
        Throwable failure = null;
        try {
            body.run();
        } catch (Throwable t) {
            failure = t;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = a.allocate(ADDRESS);
            int rc;
            try {
                rc = d.cuStreamEndCapture(stream, g);
            } finally {
                gpu.endCapture();
            }
            long graph = g.get(ADDRESS, 0).address();
            try {
                if (failure instanceof RuntimeException re) throw re;
                if (failure instanceof Error er) throw er;
                gpu.check("cuStreamEndCapture", rc, "the capture on " + gpu.name() + " was invalidated (a host copy, synchronize or "
                        + "legacy-stream use during the body?)");
                MemorySegment e = a.allocate(ADDRESS);
                gpu.check("cuGraphInstantiateWithFlags", d.cuGraphInstantiateWithFlags(e, graph, 0), gpu.name());
                return new CudaGraph(gpu, e.get(ADDRESS, 0).address());
            } finally {
                if (graph != 0) d.cuGraphDestroy(graph); // the executable graph keeps its own copy
            }
        }
    }

    /** Replays the graph on the calling thread's stream (asynchronously, like any launch). */
    public void launch() {
        if (exec == 0) throw new IllegalStateException("CudaGraph is closed");
        gpu.ensureCurrent();
        int rc = gpu.driver.cuGraphLaunch(exec, CuDriver.CU_STREAM_PER_THREAD);
        if (rc == CuDriver.CUDA_ERROR_OUT_OF_MEMORY && gpu.trimPool()) {
            // The graph's own allocations come from the driver's graph memory pool, not the default pool, which keeps
            // every freed block (release threshold UINT64_MAX): after a big job the default pool may hold the memory the
            // graph needs. Hand its unused blocks back and replay once more.
            rc = gpu.driver.cuGraphLaunch(exec, CuDriver.CU_STREAM_PER_THREAD);
        }
        gpu.check("cuGraphLaunch", rc, gpu.name());
        if (CudaBackend.SYNC_AFTER_LAUNCH) {
            gpu.check("cuStreamSynchronize", gpu.driver.cuStreamSynchronize(CuDriver.CU_STREAM_PER_THREAD), "after a graph launch (debug sync)");
        }
    }

    /** Destroys the executable graph (its memory returns to the pool); idempotent. */
    @Override
    public void close() {
        if (exec == 0) return;
        long e = exec;
        exec = 0;
        gpu.ensureCurrent();
        // Work already launched keeps running; destroying the exec is safe with launches in flight.
        gpu.driver.cuGraphExecDestroy(e);
    }
}
