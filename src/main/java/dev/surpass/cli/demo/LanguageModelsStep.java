package dev.surpass.cli.demo;

import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.llama.Llama;
import dev.surpass.model.mamba.MambaLM;
import dev.surpass.model.mamba.Sampling;
import dev.surpass.text.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Function;

/**
 * The two character-level language models shipped in {@code models/} — {@code austen-gpt} (Llama
 * layout) and {@code austen-mamba} (Mamba-1), both trained on Jane Austen with the same parameter
 * budget — continue the same prompt, with tokens/s for each, and their held-out bits per character
 * are measured on the spot over {@code heldout-subset.txt} with the training script's protocol
 * (windows of 129 characters, 128 scored each, log-softmax in double). Checks: each bpc within 1%
 * of what {@code metrics.json} records for that subset, and below {@link Config#bpcBound()}; each
 * continuation has the asked length. On a GPU run both models run on the CPU twin too: the two
 * bpc must agree to 1e-4 relative, and the generation and bpc times give the speed-ups. Without
 * {@code models/} the step says it skipped.
 */
public final class LanguageModelsStep implements DemoStep {
    /**
     * The prompt, the new characters (prompt + new ≤ the GPT's 128 positions: trimmed to fit), the
     * sampling (seeded, so a run is repeatable) and the bpc bound.
     */
    public record Config(String prompt, int newTokens, Sampling sampling, double bpcBound) {
        public Config {
            if (prompt == null || prompt.isEmpty()) throw new IllegalArgumentException("LanguageModelsStep: prompt is empty");
            if (newTokens < 1) throw new IllegalArgumentException("LanguageModelsStep: newTokens must be >= 1");
        }

        /** "It is a truth universally acknowledged", 90 new characters at temperature 0.7, seed 42; bpc &lt; 2.5. */
        public static Config defaults() {
            return new Config("It is a truth universally acknowledged", 90, new Sampling(0.7, 0, 1, 42), 2.5);
        }
    }

    private final Config config;
    private final Path gptDir, mambaDir;

    /** With the models found by {@link ModelFiles#find}. */
    public LanguageModelsStep(Config config) {
        this(config, ModelFiles.find("austen-gpt"), ModelFiles.find("austen-mamba"));
    }

    /** With explicit model folders; a null folder makes the step skip. */
    public LanguageModelsStep(Config config, Path gptDir, Path mambaDir) {
        this.config = config;
        this.gptDir = gptDir;
        this.mambaDir = mambaDir;
    }

    @Override
    public String title() {
        return "language models: a char GPT and a char Mamba trained on Jane Austen continue the same prompt";
    }

    /** One model's figures on one device: the continuation, its time, and the held-out bpc and its time. */
    record Run(String continuation, int asked, int tokens, double seconds, double bpc, double bpcSeconds, double recorded, int scored) {
        double tokensPerS() {
            return tokens / seconds;
        }
    }

    @Override
    public StepResult run(DemoContext ctx) throws IOException {
        Device dev = ctx.device(), twin = ctx.twin();
        PrintWriter out = ctx.out();
        StepResult.Builder res = new StepResult.Builder("language models", dev.name() + (twin != null ? " (and " + twin.name() + ")" : ""));
        if (gptDir == null || mambaDir == null) {
            out.println("  skipped: models/ not found (models/austen-gpt and models/austen-mamba are in the repository, not in the bundle; "
                    + "run ./surpass demo from a checkout)");
            return res.build("skipped: models/ not found");
        }
        Tokenizer tok = Tokenizer.load(gptDir.resolve("tokenizer.json"));
        int[] prompt = tok.encode(config.prompt(), false);
        Run gpt, mamba, gptCpu = null, mambaCpu = null;
        try (Progress p = ctx.progress("language models", twin == null ? 4 : 8)) {
            HeldOutSubset gptSubset = HeldOutSubset.load(gptDir, tok), mambaSubset = HeldOutSubset.load(mambaDir, tok);
            gpt = gpt(dev, tok, gptSubset, prompt, p, "GPT");
            mamba = mamba(dev, tok, mambaSubset, prompt, gpt.asked(), p, "Mamba");
            if (twin != null) {
                gptCpu = gpt(twin, tok, gptSubset, prompt, p, "GPT on the CPU");
                mambaCpu = mamba(twin, tok, mambaSubset, prompt, gpt.asked(), p, "Mamba on the CPU");
            }
        }
        out.println("  prompt: \"" + config.prompt() + "\" (" + prompt.length + " characters), " + describe(config.sampling()));
        print(out, "GPT  ", config.prompt(), gpt);
        print(out, "Mamba", config.prompt(), mamba);
        out.printf(Locale.ROOT, "  %-12s %10s %12s %12s%n", "model", "tokens/s", "bpc (here)", "bpc (train)");
        row(out, "GPT", gpt);
        row(out, "Mamba", mamba);
        if (twin != null) {
            row(out, "GPT, cpu", gptCpu);
            row(out, "Mamba, cpu", mambaCpu);
        }
        out.println("  (bits per character over the " + gpt.scored() + " scored characters of models/*/heldout-subset.txt, held-out Austen text)");
        checks(res, "GPT", gpt);
        checks(res, "Mamba", mamba);
        if (twin != null) {
            agree(res, "GPT", gpt, gptCpu, dev);
            agree(res, "Mamba", mamba, mambaCpu, dev);
        }
        return res.build(String.format(Locale.ROOT, "held-out bpc: GPT %.4f, Mamba %.4f; %d new characters at %.0f (GPT) and %.0f (Mamba) tokens/s",
                gpt.bpc(), mamba.bpc(), gpt.tokens(), gpt.tokensPerS(), mamba.tokensPerS()));
    }

    /**
     * Loads the GPT on {@code dev}, continues the prompt (timed after one untimed run of the same
     * generation: the JIT compiles the CPU kernels, CUDA loads its modules) and measures its held-out bpc.
     */
    private Run gpt(Device dev, Tokenizer tok, HeldOutSubset subset, int[] prompt, Progress p, String label) {
        try (Llama model = Llama.load(dev, gptDir)) {
            int n = Math.min(config.newTokens(), model.maxPositions() - prompt.length);
            if (n < 1) throw new IllegalArgumentException("prompt of " + prompt.length + " characters leaves no room in the GPT's "
                    + model.maxPositions() + " positions");
            Decoding.generate(model, new int[][] {prompt}, n, config.sampling(), 1.0, null, null); // warm-up
            long t0 = System.nanoTime();
            int[] ids = Decoding.generate(model, new int[][] {prompt}, n, config.sampling(), 1.0, null, null)[0];
            double s = (System.nanoTime() - t0) / 1e9;
            p.step(label + " generation");
            Run r = measure(subset, tok, ids, n, s, rows -> Decoding.forward(model, rows), model.vocabSize());
            p.step(label + " bits per character");
            return r;
        }
    }

    /** As {@link #gpt} for the Mamba, continuing by {@code n} characters. */
    private Run mamba(Device dev, Tokenizer tok, HeldOutSubset subset, int[] prompt, int n, Progress p, String label) {
        try (MambaLM model = MambaLM.load(dev, mambaDir)) {
            model.generate(prompt, n, config.sampling(), null); // warm-up
            long t0 = System.nanoTime();
            int[] ids = model.generate(prompt, n, config.sampling(), null);
            double s = (System.nanoTime() - t0) / 1e9;
            p.step(label + " generation");
            Run r = measure(subset, tok, ids, n, s, model::forward, model.logitsWidth());
            p.step(label + " bits per character");
            return r;
        }
    }

    private static void row(PrintWriter out, String name, Run r) {
        out.printf(Locale.ROOT, "  %-12s %10.1f %12.4f %12.4f%n", name, r.tokensPerS(), r.bpc(), r.recorded());
    }

    /** On a GPU run: the device's bpc equals the CPU's (fp32 both ways, sums in double), and the speed-ups. */
    private static void agree(StepResult.Builder res, String name, Run dev, Run cpu, Device device) {
        double rel = Math.abs(dev.bpc() - cpu.bpc()) / cpu.bpc();
        res.check(name + " held-out bpc: " + device.name() + " agrees with the CPU", rel <= 1e-4,
                String.format(Locale.ROOT, "%.7f vs %.7f (%.2g relative, bound 1e-4)", dev.bpc(), cpu.bpc(), rel));
        res.speedup(name + ": " + dev.tokens() + " new tokens, batch 1", cpu.seconds(), dev.seconds());
        res.speedup(name + ": held-out bpc, " + dev.scored() + " tokens", cpu.bpcSeconds(), dev.bpcSeconds());
    }

    private void checks(StepResult.Builder res, String name, Run r) {
        int wantTokens = r.asked();
        double rel = Math.abs(r.bpc() - r.recorded()) / r.recorded();
        res.check(name + " held-out bpc within 1% of metrics.json", rel <= 0.01,
                String.format(Locale.ROOT, "%.6f vs %.6f recorded (%.2g relative)", r.bpc(), r.recorded(), rel));
        res.check(name + " held-out bpc < " + config.bpcBound(), r.bpc() < config.bpcBound(), String.format(Locale.ROOT, "%.4f", r.bpc()));
        res.check(name + " continued the prompt by " + wantTokens + " characters", r.tokens() == wantTokens && !r.continuation().isEmpty(),
                r.tokens() + " tokens, " + r.continuation().codePointCount(0, r.continuation().length()) + " characters");
    }

    private static void print(PrintWriter out, String label, String prompt, Run r) {
        out.println("  " + label + ": " + prompt + "[" + r.continuation().replace("\n", "⏎") + "]");
    }

    private static String describe(Sampling s) {
        return s.temperature() == 0 ? "greedy" : String.format(Locale.ROOT, "sampled at temperature %.2f, seed %d", s.temperature(), s.seed());
    }

    /** Times the held-out bpc of {@code forward} over {@code subset}; the continuation and its time complete the {@link Run}. */
    private static Run measure(HeldOutSubset subset, Tokenizer tok, int[] generated, int asked, double seconds,
                               Function<int[][], Tensor> forward, int width) {
        long t0 = System.nanoTime();
        double bpc = subset.bitsPerCharacter(width, forward);
        double bpcSeconds = (System.nanoTime() - t0) / 1e9;
        return new Run(tok.decode(generated), asked, generated.length, seconds, bpc, bpcSeconds, subset.recordedBpc(), subset.scored());
    }
}
