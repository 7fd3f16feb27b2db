package dev.surpass.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * A surpass subcommand: picocli injects the command's spec here, and {@link #call} hands the
 * command line's out and err writers (those {@link Main} and the tests set) to {@link #execute},
 * whose result is the exit code. Options stay declared in each subclass, in their help order.
 */
abstract class CliCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public final Integer call() throws Exception {
        return execute(spec.commandLine().getOut(), spec.commandLine().getErr());
    }

    /** Runs the command: results on {@code out}, progress and warnings on {@code err}; returns the exit code. */
    abstract int execute(PrintWriter out, PrintWriter err) throws Exception;
}
