package dev.surpass.cli;

/** A bad option or input: the CLI prints the message on one line and exits with code 2. */
public final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public UsageException(String message) {
        super(message);
    }
}
