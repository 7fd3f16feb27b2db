package dev.surpass;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class that does not give back what it took: allocations on any device, open
 * {@link Scope}s and open CUDA device handles ({@link Resources}) must be back at their values from
 * before the class once it and its {@code @AfterAll} methods have run.
 *
 * <p>Registered on every class by auto-detection ({@code junit-platform.properties} and
 * {@code META-INF/services} in the test resources), so it also runs in the {@code surpass bundle}
 * console launcher. Tensors left to the {@code Cleaner} are waited for, boundedly: when the figures
 * differ it runs the GC and re-checks for up to {@value #WAIT_MS} ms, then fails with the
 * difference; a class that needed the Cleaner is reported on stderr. {@code
 * -Dsurpass.test.resourceCheck=false} turns the check off; {@code =strict} also runs the GC after
 * every class and fails one whose tensors the Cleaner had to free (slower; for hunting leaks).
 */
public final class ResourceCheckExtension implements BeforeAllCallback, AfterAllCallback {
    static final long WAIT_MS = 2000;
    private static final String MODE = System.getProperty("surpass.test.resourceCheck", "on");
    private static final boolean ON = !"false".equals(MODE);
    private static final boolean STRICT = "strict".equals(MODE);
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(ResourceCheckExtension.class);

    private record Before(Resources resources, long leaked) {}

    @Override
    public void beforeAll(ExtensionContext context) {
        if (!ON) return;
        context.getStore(NS).put("before", new Before(Resources.now(), Tensor.leakedCount()));
    }

    @Override
    public void afterAll(ExtensionContext context) throws InterruptedException {
        if (!ON) return;
        Before before = context.getStore(NS).get("before", Before.class);
        if (before == null) return;
        String diff = awaitSame(before.resources());
        String name = context.getRequiredTestClass().getName();
        if (STRICT) {
            System.gc();
            Thread.sleep(200);
        }
        long cleaned = Tensor.leakedCount() - before.leaked();
        if (!diff.isEmpty()) throw new AssertionError(name + " did not give back what it took: " + diff);
        if (cleaned > 0) {
            String msg = name + ": " + cleaned + " tensor(s) were freed by the Cleaner, not closed";
            if (STRICT) throw new AssertionError(msg);
            System.err.println("[resource-check] " + msg);
        }
    }

    /** The differences from {@code before} once the Cleaner had up to {@link #WAIT_MS} to run; empty when none. */
    static String awaitSame(Resources before) throws InterruptedException {
        String diff = Resources.now().changesSince(before);
        long deadline = System.nanoTime() + WAIT_MS * 1_000_000;
        while (!diff.isEmpty() && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
            diff = Resources.now().changesSince(before);
        }
        return diff;
    }
}
