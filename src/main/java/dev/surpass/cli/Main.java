package dev.surpass.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IFactory;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;

/**
 * The {@code surpass} command line. Exit codes: 0 success, 1 a failure (a parity case failed, a
 * bench op broke, an internal error), 2 a bad option or input (one line on stderr, no stack trace
 * unless {@code --verbose}).
 */
@Command(
        name = "surpass",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        sortOptions = false,
        description = "GPU kernels for the Transformer and its surpassers on the JVM (CUDA through Panama FFM, Vector API CPU twin).",
        subcommands = {
            InfoCommand.class,
            ParityCommand.class,
            BenchCommand.class,
            DemoCommand.class,
            ForwardCommand.class,
            SampleCommand.class,
            Txt2ImgCommand.class,
            GenerateCommand.class,
            EmbedCommand.class,
            ConvertCommand.class,
            BundleCommand.class,
            AttentionMapCommand.class,
            CommandLine.HelpCommand.class
        })
public final class Main implements Callable<Integer> {
    /** Exit code for a bad option or input. */
    public static final int USAGE = 2;
    /** Exit code for a failed check or an internal error. */
    public static final int FAILURE = 1;

    private boolean verbose;

    @Option(names = "--verbose", scope = ScopeType.INHERIT, description = "Print stack traces and more detail.")
    void setVerbose(boolean verbose) {
        this.verbose = verbose;
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public Main() {}

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return 0;
    }

    public static void main(String[] args) {
        // One line per log record, e.g. "surpass: using the CPU: no CUDA device (...)".
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            System.setProperty("java.util.logging.SimpleFormatter.format", "%5$s%6$s%n");
        }
        PrintWriter out = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
        PrintWriter err = new PrintWriter(System.err, true, StandardCharsets.UTF_8);
        int code = run(out, err, args);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs the CLI with the given streams and returns the exit code (for tests and embedding). */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        return commandLine(CommandLine.defaultFactory(), out, err).execute(args);
    }

    /** The configured picocli command line; {@code factory} makes the command objects. */
    public static CommandLine commandLine(IFactory factory, PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new Main(), factory);
        cl.setOut(out);
        cl.setErr(err);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler(Main::onBadArguments);
        cl.setExecutionExceptionHandler(Main::onException);
        return cl;
    }

    private static int onBadArguments(ParameterException e, String[] args) {
        CommandLine cl = e.getCommandLine();
        PrintWriter err = cl.getErr();
        String path = cl.getCommandSpec().qualifiedName(" ");
        err.println(path + ": " + oneLine(e.getMessage()) + " (see " + path + " --help)");
        if (isVerbose(cl)) e.printStackTrace(err);
        err.flush();
        return USAGE;
    }

    private static int onException(Exception e, CommandLine cl, ParseResult parseResult) {
        PrintWriter err = cl.getErr();
        String path = cl.getCommandSpec().qualifiedName(" ");
        boolean verbose = isVerbose(cl);
        int code;
        if (e instanceof UsageException || e instanceof IllegalArgumentException) {
            err.println(path + ": " + oneLine(e.getMessage()));
            code = USAGE;
        } else {
            String msg = e.getMessage() == null ? e.getClass().getName() : e.getClass().getSimpleName() + ": " + oneLine(e.getMessage());
            err.println(path + ": error: " + msg + (verbose ? "" : " (--verbose for the stack trace)"));
            code = FAILURE;
        }
        if (verbose) e.printStackTrace(err);
        err.flush();
        return code;
    }

    /** True when --verbose was given on the top command or any subcommand. */
    static boolean isVerbose(CommandLine cl) {
        CommandLine c = cl;
        while (c.getParent() != null) c = c.getParent();
        if (c.getCommand() instanceof Main m && m.verbose) return true;
        ParseResult pr = c.getParseResult();
        while (pr != null) {
            if (pr.hasMatchedOption("--verbose")) return true;
            pr = pr.subcommand();
        }
        return false;
    }

    static String oneLine(String s) {
        if (s == null) return "(no message)";
        String t = s.strip();
        int nl = t.indexOf('\n');
        return nl < 0 ? t : t.substring(0, nl).strip();
    }

    /** Prints the library version and the Java it runs on. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getModule().getDescriptor() != null
                    ? Main.class.getModule().getDescriptor().rawVersion().orElse(null) : null;
            if (v == null) v = Main.class.getPackage().getImplementationVersion();
            return new String[] {
                "surpass " + (v == null ? "0.1.0-SNAPSHOT" : v),
                "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"
            };
        }
    }
}
