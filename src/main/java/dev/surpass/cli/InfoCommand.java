package dev.surpass.cli;

import dev.surpass.Device;
import dev.surpass.cuda.CudaRuntime;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import jdk.incubator.vector.FloatVector;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code surpass info}: the Java runtime, the CPU and each GPU. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Shows the Java runtime, the CPU (cores, Vector API width) and each CUDA GPU "
                + "(name, compute capability, SMs, memory, driver and cuBLAS versions, kernel families loaded).")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        String[] version = new Main.Version().getVersion();
        out.println(version[0]);
        out.println("java: " + Runtime.version() + " (" + System.getProperty("java.vm.vendor") + ", "
                + System.getProperty("java.vm.name") + ") at " + System.getProperty("java.home"));
        out.println("os: " + System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        out.println(cpuLine());
        int n = Device.cudaDeviceCount();
        if (n == 0) {
            out.println("gpu: no CUDA device: " + CudaRuntime.unavailableReason());
        } else {
            out.println("gpus: " + n);
            for (int i = 0; i < n; i++) {
                try (Device d = Device.cuda(i)) {
                    // name, capability, SMs, memory, driver and cuBLAS versions, kernel families loaded
                    for (String line : d.describe().split("\n")) out.println("  " + line);
                } catch (RuntimeException e) {
                    out.println("  cuda:" + i + ": failed to open: " + Main.oneLine(e.getMessage()));
                }
            }
        }
        out.flush();
        return 0;
    }

    /** "cpu: 2 cores, Vector API preferred float species 512 bits (16 lanes)". */
    static String cpuLine() {
        var species = FloatVector.SPECIES_PREFERRED;
        return "cpu: " + Runtime.getRuntime().availableProcessors() + " cores, Vector API preferred float species "
                + species.vectorBitSize() + " bits (" + species.length() + " lanes), max heap "
                + (Runtime.getRuntime().maxMemory() >> 20) + " MiB";
    }
}
