package dev.surpass.cli.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.surpass.Device;
import dev.surpass.Tensor;
import dev.surpass.model.decoder.Decoding;
import dev.surpass.model.llama.Llama;
import dev.surpass.model.mamba.MambaLM;
import dev.surpass.model.mamba.Sampling;
import dev.surpass.text.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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
 * continuation has the asked length. Without {@code models/} (e.g. in the GPU bundle) the step
 * says it skipped.
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

    /** One model's figures. */
    record Run(String continuation, int tokens, double tokensPerS, double bpc, double recorded, int scored) {}

    @Override
    public StepResult run(DemoContext ctx) throws IOException {
        Device dev = ctx.device();
        PrintWriter out = ctx.out();
        StepResult.Builder res = new StepResult.Builder("language models", dev.name());
        if (gptDir == null || mambaDir == null) {
            out.println("  skipped: models/ not found (models/austen-gpt and models/austen-mamba are in the repository, not in the bundle; "
                    + "run ./surpass demo from a checkout)");
            return res.build("skipped: models/ not found");
        }
        Tokenizer tok = Tokenizer.load(gptDir.resolve("tokenizer.json"));
        int[] prompt = tok.encode(config.prompt(), false);
        Run gpt, mamba;
        int want;
        try (Progress p = ctx.progress("language models", 4)) {
            try (Llama model = Llama.load(dev, gptDir)) {
                int n = Math.min(config.newTokens(), model.maxPositions() - prompt.length);
                if (n < 1) throw new IllegalArgumentException("prompt of " + prompt.length + " characters leaves no room in the GPT's "
                        + model.maxPositions() + " positions");
                want = n;
                Decoding.generate(model, new int[][] {prompt}, Math.min(8, n), config.sampling(), 1.0, null, null); // warm-up
                long t0 = System.nanoTime();
                int[] ids = Decoding.generate(model, new int[][] {prompt}, n, config.sampling(), 1.0, null, null)[0];
                double s = (System.nanoTime() - t0) / 1e9;
                p.step("GPT generation");
                gpt = measure(gptDir, tok, ids, s, rows -> Decoding.forward(model, rows), model.vocabSize());
                p.step("GPT bits per character");
            }
            try (MambaLM model = MambaLM.load(dev, mambaDir)) {
                int n = want;
                model.generate(prompt, Math.min(8, n), config.sampling(), null); // warm-up
                long t0 = System.nanoTime();
                int[] ids = model.generate(prompt, n, config.sampling(), null);
                double s = (System.nanoTime() - t0) / 1e9;
                p.step("Mamba generation");
                mamba = measure(mambaDir, tok, ids, s, model::forward, model.logitsWidth());
                p.step("Mamba bits per character");
            }
        }
        out.println("  prompt: \"" + config.prompt() + "\" (" + prompt.length + " characters), " + describe(config.sampling()));
        print(out, "GPT  ", config.prompt(), gpt);
        print(out, "Mamba", config.prompt(), mamba);
        out.printf(Locale.ROOT, "  %-6s %10s %12s %12s%n", "model", "tokens/s", "bpc (here)", "bpc (train)");
        out.printf(Locale.ROOT, "  %-6s %10.1f %12.4f %12.4f%n", "GPT", gpt.tokensPerS(), gpt.bpc(), gpt.recorded());
        out.printf(Locale.ROOT, "  %-6s %10.1f %12.4f %12.4f%n", "Mamba", mamba.tokensPerS(), mamba.bpc(), mamba.recorded());
        out.println("  (bits per character over the " + gpt.scored() + " scored characters of models/*/heldout-subset.txt, held-out Austen text)");
        checks(res, "GPT", gpt, want);
        checks(res, "Mamba", mamba, want);
        return res.build(String.format(Locale.ROOT, "held-out bpc: GPT %.4f, Mamba %.4f; %d new characters at %.0f (GPT) and %.0f (Mamba) tokens/s",
                gpt.bpc(), mamba.bpc(), gpt.tokens(), gpt.tokensPerS(), mamba.tokensPerS()));
    }

    private void checks(StepResult.Builder res, String name, Run r, int wantTokens) {
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

    private static Run measure(Path dir, Tokenizer tok, int[] generated, double seconds, Function<int[][], Tensor> forward, int width)
            throws IOException {
        JsonNode metrics = new ObjectMapper().readTree(dir.resolve("metrics.json").toFile());
        double recorded = metrics.path("heldout_subset").path("bpc").asDouble(Double.NaN);
        int ctxLen = metrics.path("hyper_parameters").path("ctx").asInt(128);
        String text = Files.readString(dir.resolve("heldout-subset.txt"), StandardCharsets.UTF_8);
        int[] ids = tok.encode(text, false);
        int windows = (ids.length - 1) / ctxLen;
        double bpc = dev.surpass.model.decoder.HeldOut.bitsPerToken(ids, ctxLen, width, forward);
        return new Run(tok.decode(generated), generated.length, generated.length / seconds, bpc, recorded, windows * ctxLen);
    }
}
