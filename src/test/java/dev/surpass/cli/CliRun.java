package dev.surpass.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;
import picocli.CommandLine.IFactory;

/** Runs the CLI in-process and captures its exit code, stdout and stderr. */
record CliRun(int code, String out, String err) {
    static CliRun run(String... args) {
        return run(CommandLine.defaultFactory(), args);
    }

    static CliRun run(IFactory factory, String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code;
        try (PrintWriter o = new PrintWriter(out, true); PrintWriter e = new PrintWriter(err, true)) {
            code = Main.commandLine(factory, o, e).execute(args);
        }
        return new CliRun(code, out.toString(), err.toString());
    }

    /** A factory that makes {@code type} with {@code instance} and everything else as usual. */
    static <T> IFactory with(Class<T> type, T instance) {
        return new IFactory() {
            @Override
            public <K> K create(Class<K> cls) throws Exception {
                if (cls == type) return cls.cast(instance);
                return CommandLine.defaultFactory().create(cls);
            }
        };
    }

    String lastLine() {
        String[] lines = out.strip().split("\n");
        return lines[lines.length - 1].strip();
    }

    @Override
    public String toString() {
        return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
}
