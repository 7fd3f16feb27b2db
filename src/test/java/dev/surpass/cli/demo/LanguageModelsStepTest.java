package dev.surpass.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import dev.surpass.model.mamba.Sampling;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The demo's language-model step with the shipped Austen models (few new characters) on the CPU, and its skip without them. */
class LanguageModelsStepTest {
    @Test
    void shippedModelsPassTheirChecks() throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        LanguageModelsStep.Config c = new LanguageModelsStep.Config("It is a truth", 12, new Sampling(0.7, 0, 1, 7), 2.5);
        try (Device cpu = Device.cpu()) {
            StepResult r = new LanguageModelsStep(c, Path.of("models", "austen-gpt"), Path.of("models", "austen-mamba"))
                    .run(new DemoContext(cpu, new PrintWriter(out, true), new PrintWriter(err, true), Path.of("unused"), false));
            assertTrue(r.passed(), r.checks() + "\n" + out);
            assertEquals(6, r.checks().size(), r.checks().toString());
            assertTrue(out.toString().contains("GPT  : It is a truth["), out.toString());
            assertTrue(out.toString().contains("Mamba: It is a truth["), out.toString());
            assertTrue(err.toString().contains("language models: 4/4 done"), err.toString());
        }
    }

    /** A GPU run's comparison, with a second CPU handle as the twin: the bpc agree exactly, four speed-ups. */
    @Test
    void withATwinTheBpcAgreeAndTheSpeedupsAreRecorded() throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        LanguageModelsStep.Config c = new LanguageModelsStep.Config("It is", 4, Sampling.greedy(), 2.5);
        try (Device cpu = Device.cpu(); Device twin = Device.cpu()) {
            StepResult r = new LanguageModelsStep(c, Path.of("models", "austen-gpt"), Path.of("models", "austen-mamba"))
                    .run(new DemoContext(cpu, twin, new PrintWriter(out, true), new PrintWriter(err, true), Path.of("unused"), false));
            assertTrue(r.passed(), r.checks() + "\n" + out);
            assertEquals(8, r.checks().size(), r.checks().toString());
            assertTrue(r.checks().get(6).detail().contains("(0.0 relative"), r.checks().toString());
            assertEquals(4, r.speedups().size(), r.speedups().toString());
            for (StepResult.Speedup s : r.speedups()) assertTrue(s.cpuSeconds() > 0 && s.deviceSeconds() > 0, s.toString());
            assertTrue(out.toString().contains("Mamba, cpu"), out.toString());
            assertTrue(err.toString().contains("language models: 8/8 done"), err.toString());
        }
    }

    @Test
    void withoutModelsItSkips() throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        try (Device cpu = Device.cpu()) {
            StepResult r = new LanguageModelsStep(LanguageModelsStep.Config.defaults(), null, null)
                    .run(new DemoContext(cpu, new PrintWriter(out, true), new PrintWriter(err, true), Path.of("unused"), false));
            assertTrue(r.passed());
            assertTrue(r.checks().isEmpty());
            assertTrue(out.toString().contains("skipped: models/ not found"), out.toString());
        }
    }
}
