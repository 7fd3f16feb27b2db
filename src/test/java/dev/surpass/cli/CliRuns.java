package dev.surpass.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs the surpass command line in-process for tests: {exit code, stdout, stderr}. */
public final class CliRuns {
    private CliRuns() {}

    public static String[] run(String... args) {
        StringWriter so = new StringWriter(), se = new StringWriter();
        int code = Main.run(new PrintWriter(so, true), new PrintWriter(se, true), args);
        return new String[] {String.valueOf(code), so.toString(), se.toString()};
    }
}
