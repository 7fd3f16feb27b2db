package dev.surpass.cli;

import dev.surpass.Device;
import dev.surpass.model.bert.BertModel;
import dev.surpass.model.bert.MiniLm;
import dev.surpass.model.bert.ModernBert;
import dev.surpass.model.bert.SentenceEmbeddings;
import dev.surpass.model.bert.SentenceEncoder;
import dev.surpass.model.t5.T5Config;
import dev.surpass.model.t5.T5Encoder;
import dev.surpass.text.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code surpass embed}: sentence embeddings with a BERT encoder (mean pooling, L2 normalisation; a
 * {@code --model} folder runs its own sentence-transformers modules: {@link SentenceEmbeddings#load});
 * prints each embedding's first values and norm, or with {@code --query} ranks the sentences by
 * cosine similarity to the query.
 */
@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Sentence embeddings with a BERT encoder (mean pooling over the tokens, L2-normalised).",
            "Prints each sentence's first values and norm; with --query, the sentences ranked by cosine similarity.",
            "Default model: all-MiniLM-L6-v2 from the class path or the local Maven repository (" + MiniLm.ARTIFACT + ")."
        })
final class EmbedCommand extends CliCommand {
    @Parameters(paramLabel = "SENTENCE", arity = "1..*", description = "The sentences to embed.")
    List<String> sentences;

    @Option(names = "--query", paramLabel = "TEXT", description = "Rank the sentences by cosine similarity to this text.")
    String query;

    @Option(names = "--prompt-name", paramLabel = "NAME",
            description = "Put this prompt of the folder's config_sentence_transformers.json before each sentence (default: its default_prompt_name).")
    String promptName;

    @Option(names = "--query-prompt-name", paramLabel = "NAME",
            description = "The prompt put before --query (e.g. \"query\" for instruction-tuned embedders; default: as the sentences).")
    String queryPromptName;

    @Option(names = "--model", paramLabel = "DIR", description = {"A BERT / RoBERTa / DistilBERT / MPNet / ModernBERT folder: config.json, weights and tokenizer.json;",
            "a sentence-transformers folder runs its modules.json (pooling, Dense, Normalize) and max_seq_length,",
            "with a BERT-family encoder or a Llama-family decoder (e.g. Qwen3-Embedding: last-token pooling)."})
    Path model;

    @Option(names = "--onnx", paramLabel = "FILE", description = "A BERT ONNX export; its tokenizer.json beside it or --tokenizer.")
    Path onnx;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "The tokenizer.json (default: beside the model).")
    Path tokenizerFile;

    @Option(names = "--heads", paramLabel = "N", defaultValue = "12", description = "Attention heads of an --onnx model (default: ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--max-length", paramLabel = "N", description = "Most tokens per sentence, [CLS]/[SEP] included (default: 256, at most max_position_embeddings).")
    Integer maxLength;

    @Option(names = "--show", paramLabel = "K", defaultValue = "8", description = "Values printed per embedding (default: ${DEFAULT-VALUE}).")
    int show;

    @Option(names = "--out", paramLabel = "FILE", description = {"Also write the embeddings to this safetensors file:",
            "tensor 'embeddings' F32 [sentences, dim] (the --query text last when given)."})
    Path outFile;

    @Mixin
    OneDevice device;

    @Override
    int execute(PrintWriter out, PrintWriter err) {
        if (model != null && onnx != null) throw new UsageException("give --model or --onnx, not both");
        if (model != null && !Files.isDirectory(model)) throw new UsageException("--model " + model + ": not a folder");
        if (onnx != null) OptionFiles.requireFile("--onnx", onnx);
        if (tokenizerFile != null) OptionFiles.requireFile("--tokenizer", tokenizerFile);
        if (heads <= 0) throw new UsageException("--heads " + heads + ": expected a positive number");
        if (show < 0) throw new UsageException("--show " + show + ": expected 0 or more");
        if (maxLength != null && maxLength < 2) throw new UsageException("--max-length " + maxLength + ": expected at least 2");
        if (outFile != null && Files.isDirectory(outFile)) throw new UsageException("--out " + outFile + ": is a folder; expected a file to write");
        device.validate("embed");
        try (Devices devices = device.open(err)) {
            Device dev = devices.first();
            long t0 = System.nanoTime();
            try (SentenceEmbeddings st = open(dev)) {
                err.printf(Locale.ROOT, "surpass embed: %s, on %s (loaded in %d ms)%n", st.encoder().describe(), dev.name(),
                        (System.nanoTime() - t0) / 1_000_000);
                List<String> all = new ArrayList<>(sentences);
                if (query != null) all.add(query);
                long t1 = System.nanoTime();
                float[][] e;
                try {
                    if (query == null || queryPromptName == null) {
                        e = st.embed(all, promptName);
                    } else { // the query gets its own prompt
                        float[][] se = st.embed(sentences, promptName);
                        e = java.util.Arrays.copyOf(se, all.size());
                        e[all.size() - 1] = st.embed(List.of(query), queryPromptName)[0];
                    }
                } catch (IllegalArgumentException ex) {
                    if (ex.getMessage() != null && ex.getMessage().startsWith("prompt name")) throw new UsageException(ex.getMessage());
                    throw ex;
                }
                err.printf(Locale.ROOT, "surpass embed: %d sentence(s) in %d ms%n", all.size(), (System.nanoTime() - t1) / 1_000_000);
                if (outFile != null) write(outFile, e, err);
                if (query == null) {
                    for (int i = 0; i < sentences.size(); i++) {
                        StringBuilder b = new StringBuilder();
                        double norm = 0;
                        for (float x : e[i]) norm += (double) x * x;
                        for (int k = 0; k < Math.min(show, e[i].length); k++) b.append(String.format(Locale.ROOT, " %.5f", e[i][k]));
                        out.printf(Locale.ROOT, "[%d] %s%n    dim %d, norm %.6f, first:%s%n", i, sentences.get(i), e[i].length, Math.sqrt(norm), b);
                    }
                } else {
                    float[] q = e[all.size() - 1];
                    List<Integer> order = new ArrayList<>();
                    for (int i = 0; i < sentences.size(); i++) order.add(i);
                    order.sort(Comparator.comparingDouble(i -> -SentenceEmbeddings.cosine(q, e[i])));
                    out.println("query: " + query);
                    for (int r = 0; r < order.size(); r++) {
                        int i = order.get(r);
                        out.printf(Locale.ROOT, "%2d. %.4f  %s%n", r + 1, SentenceEmbeddings.cosine(q, e[i]), sentences.get(i));
                    }
                }
            }
        }
        return 0;
    }

    /** {@code embeddings [N, dim]} F32 into a safetensors file. */
    private static void write(Path file, float[][] e, PrintWriter err) {
        int n = e.length, dim = e[0].length;
        float[] flat = new float[n * dim];
        for (int i = 0; i < n; i++) System.arraycopy(e[i], 0, flat, i * dim, dim);
        try (Device cpu = Device.cpu(); dev.surpass.Tensor t = cpu.upload(dev.surpass.DType.F32, flat, n, dim)) {
            dev.surpass.io.SafeTensors.write(file, java.util.Map.of("embeddings", t));
        }
        err.printf(Locale.ROOT, "surpass embed: wrote embeddings [%d, %d] to %s%n", n, dim, file);
    }

    /** The encoder and tokenizer from --model, --onnx or the MiniLM artifact. */
    private SentenceEmbeddings open(Device dev) {
        if (model == null && onnx == null) {
            MiniLm.Artifact a;
            try {
                a = MiniLm.find();
            } catch (IllegalStateException e) {
                throw new UsageException(e.getMessage());
            }
            Tokenizer tok = MiniLm.tokenizer(a);
            BertModel m = MiniLm.model(dev, a);
            return new SentenceEmbeddings(m, tok, limit(m, MiniLm.MAX_LENGTH));
        }
        if (model != null && tokenizerFile == null && Files.isRegularFile(model.resolve("modules.json"))) { // a sentence-transformers folder's own pipeline
            return SentenceEmbeddings.load(dev, model, maxLength == null ? 0 : maxLength);
        }
        Path tokPath = tokenizerFile != null ? tokenizerFile
                : (model != null ? model : onnx.toAbsolutePath().getParent()).resolve("tokenizer.json");
        if (!Files.isRegularFile(tokPath)) {
            throw new UsageException("no tokenizer: " + tokPath + " does not exist; give --tokenizer FILE (a tokenizer.json)");
        }
        Tokenizer tok = Tokenizer.load(tokPath);
        SentenceEncoder m = model != null && ModernBert.looksLikeModernBert(model)
                ? ModernBert.load(dev, model)
                : model != null && T5Config.looksLikeT5(model) ? T5Encoder.load(dev, model)
                : model != null ? BertModel.load(dev, model) : BertModel.loadOnnx(dev, onnx, heads, 1e-12f);
        try {
            return new SentenceEmbeddings(m, tok, limit(m, 256));
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    private int limit(SentenceEncoder m, int dflt) {
        int cap = m.maxTokens();
        if (maxLength != null && maxLength > cap) {
            m.close();
            throw new UsageException("--max-length " + maxLength + " is over the model's max_position_embeddings " + cap);
        }
        return maxLength != null ? maxLength : Math.min(dflt, cap);
    }
}
