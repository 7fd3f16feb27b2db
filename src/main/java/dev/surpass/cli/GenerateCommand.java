package dev.surpass.cli;

import dev.surpass.model.mamba.LogitsRules;
import dev.surpass.text.StreamDecoder;
import dev.surpass.text.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code surpass generate}: loads a causal language model of any registered family
 * ({@link ModelFamilies#findGenerator}) and generates after one or more prompts, streaming the
 * tokens to stdout (text through a tokenizer when one is available, else ids); tokens/s on stderr.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Generates text after prompts with a causal language model (the family is recognised from --model),",
            "streaming each token as it is picked. With a tokenizer (--tokenizer, or tokenizer.json in the model",
            "folder) it prints text, the prompt first; without one it prints the new token ids.",
            "Several --prompt (or --ids) make one batch of prompts of any lengths; each sequence is printed as",
            "'[i] ...' when it ends. Greedy unless --temperature > 0. Prints tokens/s on stderr.",
            "A T5 text-to-text folder (T5ForConditionalGeneration: t5, flan-t5, mt5) answers each prompt: only the",
            "decoded answer is printed, e.g. --prompt \"translate English to German: That is good.\""
        })
final class GenerateCommand extends CliCommand {
    @Option(names = "--model", required = true, paramLabel = "PATH", description = "The model: a checkpoint folder (config.json + *.safetensors).")
    Path model;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "A prompt (needs a tokenizer); repeat for a batch.")
    List<String> prompts = new ArrayList<>();

    @Option(names = "--ids", paramLabel = "ID,ID,...", description = "A prompt as token ids, e.g. 1,2,3; repeat for a batch.")
    List<String> idPrompts = new ArrayList<>();

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "A Hugging Face tokenizer.json (default: MODEL/tokenizer.json if present).")
    Path tokenizerFile;

    @Option(names = "--max-new-tokens", defaultValue = "32", paramLabel = "N", description = "Tokens to generate per prompt (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", paramLabel = "T", description = "0 for greedy, else the sampling temperature (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K", description = "Sample among the K most likely tokens; 0 = all (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", paramLabel = "P", description = "Nucleus sampling mass in (0, 1]; 1 = off (default: ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "Seed of the sampler (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--num-beams", defaultValue = "1", paramLabel = "K", description = "Beam search with K beams (families that support it: t5); 1 = none (default: ${DEFAULT-VALUE}).")
    int numBeams;

    @Option(names = "--length-penalty", defaultValue = "1", paramLabel = "P", description = "Beam search: a finished beam scores log-prob / length^P (default: ${DEFAULT-VALUE}).")
    double lengthPenalty;

    @Option(names = "--early-stopping", defaultValue = "false", paramLabel = "WHEN", description = "Beam search: false, true or never, as HF's early_stopping (default: ${DEFAULT-VALUE}).")
    String earlyStopping;

    @Option(names = "--repetition-penalty", defaultValue = "1", paramLabel = "P",
            description = "HF's repetition_penalty: the logits of tokens already in the sequence divided by P when positive, multiplied when "
                    + "negative; 1 = off (default: ${DEFAULT-VALUE}).")
    double repetitionPenalty;

    @Option(names = "--no-repeat-ngram-size", defaultValue = "0", paramLabel = "N",
            description = "HF's no_repeat_ngram_size: never repeat an N-gram of the sequence; 0 = off (default: ${DEFAULT-VALUE}).")
    int noRepeatNgramSize;

    @Option(names = "--min-new-tokens", defaultValue = "0", paramLabel = "N",
            description = "HF's min_new_tokens: the stop ids cannot be picked before N new tokens (default: ${DEFAULT-VALUE}).")
    int minNewTokens;

    @Option(names = "--eos", paramLabel = "ID", split = ",", description = "Ids that end a sequence (default: the model's eos_token_id, if any).")
    int[] eos;

    @Option(names = "--ignore-eos", description = "Always generate --max-new-tokens tokens (for benchmarks).")
    boolean ignoreEos;

    @Mixin
    OneDevice device;

    @Override
    int execute(PrintWriter out, PrintWriter err) {
        OptionFiles.requireExists("--model", model);
        if (prompts.isEmpty() == idPrompts.isEmpty()) throw new UsageException("give the prompts either as --prompt TEXT or as --ids ID,ID,... (one of them, repeatable)");
        if (maxNewTokens < 0) throw new UsageException("--max-new-tokens " + maxNewTokens + ": expected >= 0");
        if (!(temperature >= 0) || !Double.isFinite(temperature)) throw new UsageException("--temperature " + temperature + ": expected 0 (greedy) or a positive number");
        if (topK < 0) throw new UsageException("--top-k " + topK + ": expected 0 (off) or a positive count");
        if (!(topP > 0 && topP <= 1)) throw new UsageException("--top-p " + topP + ": expected a value in (0, 1]");
        if (numBeams < 1) throw new UsageException("--num-beams " + numBeams + ": expected >= 1");
        if (numBeams > 1 && temperature > 0) throw new UsageException("--num-beams " + numBeams + " with --temperature " + temperature + ": beam search is greedy");
        if (!(repetitionPenalty > 0) || !Double.isFinite(repetitionPenalty)) {
            throw new UsageException("--repetition-penalty " + repetitionPenalty + ": expected a positive number (1 = off)");
        }
        if (noRepeatNgramSize < 0) throw new UsageException("--no-repeat-ngram-size " + noRepeatNgramSize + ": expected 0 (off) or an n-gram length");
        if (minNewTokens < 0) throw new UsageException("--min-new-tokens " + minNewTokens + ": expected >= 0");
        if (!Double.isFinite(lengthPenalty)) throw new UsageException("--length-penalty " + lengthPenalty + ": expected a finite number");
        if (!earlyStopping.equals("false") && !earlyStopping.equals("true") && !earlyStopping.equals("never")) {
            throw new UsageException("--early-stopping " + earlyStopping + ": expected false, true or never");
        }
        device.validate("generate");
        ModelGenerate family = ModelFamilies.findGenerator(model);
        if (family == null) {
            throw new UsageException("no registered model family that generates accepts " + model + "; families that generate: "
                    + ModelFamilies.generatorNames());
        }
        Tokenizer tok = tokenizer();
        if (tok == null && !prompts.isEmpty()) {
            throw new UsageException("--prompt needs a tokenizer: give --tokenizer FILE (a tokenizer.json), put tokenizer.json in " + model
                    + ", or pass token ids with --ids");
        }
        int[][] promptIds = new int[prompts.size() + idPrompts.size()][];
        for (int i = 0; i < prompts.size(); i++) {
            promptIds[i] = tok.encode(prompts.get(i));
            if (promptIds[i].length == 0) throw new UsageException("--prompt #" + (i + 1) + " gives no tokens; a prompt needs at least one");
        }
        for (int i = 0; i < idPrompts.size(); i++) promptIds[i] = parseIds(idPrompts.get(i), i);

        try (Devices devices = device.open(err)) {
            var dev = devices.first();
            long t0 = System.nanoTime();
            try (ModelGenerate.Generator g = family.open(dev, model)) {
                long tLoad = System.nanoTime();
                err.println("surpass generate: " + g.describe() + " from " + model + " on " + dev.name() + " (loaded in "
                        + ms(tLoad - t0) + " ms); " + (tok == null ? "no tokenizer: printing token ids" : "tokenizer " + tokenizerFile));
                if (tok != null && tok.vocabSize() > g.vocabSize()) {
                    err.println("surpass generate: warning: the tokenizer has " + tok.vocabSize() + " tokens but the model takes ids below "
                            + g.vocabSize());
                }
                if (numBeams > 1 && !g.beamSearch()) throw new UsageException("--num-beams " + numBeams + ": the " + family.family() + " family has no beam search");
                int[] stops = ignoreEos ? new int[0] : eos != null ? eos : g.defaultStopIds();
                if (stops.length > 0) err.println("surpass generate: stopping at id(s) " + Arrays.toString(stops));
                err.flush();
                Printer p = new Printer(out, tok, promptIds, maxNewTokens, stops, g.continuesPrompt());
                p.start();
                long tGen = System.nanoTime();
                long[] first = {0};
                int[][] gen = g.generate(promptIds, new ModelGenerate.Options(maxNewTokens, temperature, topK, topP, seed, stops, numBeams, lengthPenalty, earlyStopping,
                        new LogitsRules(repetitionPenalty, noRepeatNgramSize, minNewTokens)), (b, id) -> {
                    if (first[0] == 0) first[0] = System.nanoTime();
                    p.token(b, id);
                });
                long tEnd = System.nanoTime();
                p.end(gen);
                long total = 0, promptTokens = 0;
                for (int[] s : gen) total += s.length;
                for (int[] s : promptIds) promptTokens += s.length;
                double secs = (tEnd - tGen) / 1e9;
                String decode = "";
                if (first[0] != 0 && total > promptIds.length) {
                    double ds = (tEnd - first[0]) / 1e9;
                    decode = String.format(Locale.ROOT, "; decode %.1f tokens/s after the first token (%d ms)", (total - promptIds.length) / ds,
                            (first[0] - tGen) / 1_000_000);
                }
                err.println(String.format(Locale.ROOT, "surpass generate: %d sequence(s), %d prompt tokens, %d new tokens in %.3f s: %.1f tokens/s%s",
                        promptIds.length, promptTokens, total, secs, total / Math.max(secs, 1e-9), decode));
            }
        }
        return 0;
    }

    private static long ms(long nanos) {
        return nanos / 1_000_000;
    }

    /** --tokenizer, else MODEL/tokenizer.json when present, else null. */
    private Tokenizer tokenizer() {
        if (tokenizerFile == null) {
            Path dflt = Files.isDirectory(model) ? model.resolve("tokenizer.json") : null;
            if (dflt == null || !Files.isRegularFile(dflt)) return null;
            tokenizerFile = dflt;
        }
        OptionFiles.requireFile("--tokenizer", tokenizerFile);
        try {
            return Tokenizer.load(tokenizerFile);
        } catch (IllegalArgumentException e) {
            throw OptionFiles.failed("--tokenizer", tokenizerFile, e);
        }
    }

    private static int[] parseIds(String s, int index) {
        String[] parts = s.trim().split("\\s*,\\s*|\\s+");
        if (s.isBlank()) throw new UsageException("--ids #" + (index + 1) + " is empty; expected e.g. 1,2,3");
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new UsageException("--ids #" + (index + 1) + ": \"" + parts[i] + "\" is not a token id; expected e.g. 1,2,3");
            }
            if (ids[i] < 0) throw new UsageException("--ids #" + (index + 1) + ": " + ids[i] + " is negative");
        }
        return ids;
    }

    /**
     * Prints as tokens arrive. One sequence: the prompt's text, then each piece of text (or each id)
     * at once. A batch: each sequence as "[i] prompt+completion" (or "[i] ids") when it ends.
     */
    private static final class Printer {
        private final PrintWriter out;
        private final Tokenizer tok;
        private final int[][] prompts;
        private final int max;
        private final java.util.Set<Integer> stops = new java.util.HashSet<>();
        private final StreamDecoder[] dec;
        private final StringBuilder[] text;
        private final int[] count;
        private final boolean[] printed;

        Printer(PrintWriter out, Tokenizer tok, int[][] prompts, int max, int[] stops, boolean echo) {
            this.out = out;
            this.tok = tok;
            this.prompts = prompts;
            this.max = max;
            for (int s : stops) this.stops.add(s);
            int b = prompts.length;
            dec = new StreamDecoder[b];
            text = new StringBuilder[b];
            count = new int[b];
            printed = new boolean[b];
            for (int i = 0; i < b; i++) {
                text[i] = new StringBuilder();
                if (tok != null) {
                    // the prompt goes through the same stream decoder as the new tokens, so the first new
                    // token is decoded in context (a SentencePiece decoder strips the leading space of
                    // the text's first token only; a byte-level one may hold back a split character)
                    // an encoder-decoder's answer is printed alone, without its special tokens (eos, pad)
                    dec[i] = tok.newStreamDecoder(!echo);
                    if (echo) for (int id : prompts[i]) if (tok.idToToken(id) != null) text[i].append(dec[i].push(id));
                }
            }
        }

        private boolean single() {
            return prompts.length == 1;
        }

        void start() {
            if (single() && tok != null) {
                out.print(text[0]);
                out.flush();
            }
        }

        void token(int b, int id) {
            count[b]++;
            String piece;
            if (tok == null) {
                piece = (count[b] > 1 ? " " : "") + id;
            } else {
                piece = tok.idToToken(id) == null ? "" : dec[b].push(id);
            }
            boolean last = count[b] == max || stops.contains(id);
            if (last && tok != null) piece += dec[b].finish();
            if (single()) {
                out.print(piece);
                out.flush();
            } else {
                text[b].append(piece);
                if (last) flush(b);
            }
        }

        private void flush(int b) {
            if (printed[b]) return;
            printed[b] = true;
            out.println("[" + b + "] " + text[b]);
            out.flush();
        }

        void end(int[][] gen) {
            if (single()) {
                if (tok != null && dec[0] != null) out.print(dec[0].finish());
                out.println();
                out.flush();
                return;
            }
            for (int b = 0; b < prompts.length; b++) {
                if (!printed[b]) {
                    if (tok != null) text[b].append(dec[b].finish());
                    flush(b);
                }
            }
        }
    }
}
