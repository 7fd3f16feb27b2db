package dev.surpass.layers;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** Shared set-up of the per-op CPU tests: a fresh CPU device per test, the seed, message checks. */
abstract class CpuOpTest {
    /** Replay a failure with -Dsurpass.seed=N. */
    static final long SEED = Long.getLong("surpass.seed", 0x5eed_2025L);

    Device d;

    @BeforeEach
    void open() {
        d = Device.cpu();
    }

    @AfterEach
    void close() {
        d.close();
    }

    /** Asserts the exception's message contains every part. */
    static void assertMessage(IllegalArgumentException e, String... parts) {
        for (String p : parts) assertTrue(e.getMessage().contains(p), "message \"" + e.getMessage() + "\" lacks \"" + p + "\"");
    }
}
