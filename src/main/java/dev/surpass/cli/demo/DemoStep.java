package dev.surpass.cli.demo;

/**
 * One step of {@code surpass demo}: it prints what it does to {@link DemoContext#out()}, shows
 * progress on {@link DemoContext#progress}, writes its files under {@link DemoContext#outDir()},
 * and returns a {@link StepResult} whose checks can fail. New steps (models, samples) implement
 * this and are listed in the demo command.
 */
public interface DemoStep {
    /** A short title, e.g. "attention vs Mamba scaling". */
    String title();

    /** Runs the step; exceptions are caught by the runner and reported as a failed step. */
    StepResult run(DemoContext ctx) throws Exception;
}
