package dev.surpass.cli;

/** The {@code surpass} command line (STUB: filled by the CLI work). */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        System.out.println("surpass: CLI not yet implemented");
    }
}
