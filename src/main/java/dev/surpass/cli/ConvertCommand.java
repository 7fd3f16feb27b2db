package dev.surpass.cli;

import dev.surpass.io.PyTorchCheckpoint;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code surpass convert}: a PyTorch checkpoint ({@code torch.save} zip: {@code pytorch_model.bin},
 * DiT's {@code .pt}) to safetensors, which every loader of the library reads. The pickle is read by a
 * restricted interpreter that runs no code.
 */
@Command(name = "convert", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Converts a PyTorch checkpoint (a torch.save zip such as pytorch_model.bin or DiT-XL-2-256.pt) to safetensors.",
            "Its pickle is interpreted, never executed; nested dicts are flattened with dots; float64 becomes F32;",
            "bool/uint8/int8/int16 tensors are skipped (listed on stderr)."
        })
final class ConvertCommand extends CliCommand {
    @Parameters(index = "0", paramLabel = "IN",
            description = "The PyTorch checkpoint, or a model folder: each of its *.bin/*.pt/*.pth becomes a .safetensors "
                    + "(pytorch_model* named model*), its pytorch_model.bin.index.json a model.safetensors.index.json.")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", arity = "0..1",
            description = "The safetensors file to write (replaced atomically); for a folder IN, the folder to write into "
                    + "(default: IN itself; another folder also gets IN's config and tokenizer files).")
    Path out;

    @Option(names = "--only", paramLabel = "PREFIX",
            description = "Keep only the tensors under this key and strip it, e.g. --only ema for a train.py checkpoint, --only model.")
    String only;

    @Option(names = "--list", description = "List the tensors (name, dtype, shape) instead of converting; OUT is then not written.")
    boolean list;

    @Override
    int execute(PrintWriter outW, PrintWriter err) {
        if (java.nio.file.Files.isDirectory(in)) {
            if (list || only != null) throw new UsageException("--list and --only take one checkpoint file, not a folder");
            Path dir = out == null ? in : out;
            long t0 = System.nanoTime();
            java.util.List<Path> files = PyTorchCheckpoint.convertFolder(in, dir);
            for (Path f : files) outW.println(f);
            err.printf(Locale.ROOT, "surpass convert: %d file(s) written to %s in %d ms%n", files.size(), dir, (System.nanoTime() - t0) / 1_000_000);
            return 0;
        }
        OptionFiles.requireFile("IN", in);
        if (out == null && !list) throw new UsageException("OUT is missing: give the safetensors file to write");
        if (!list) OptionFiles.requireParentFolder("OUT", out);
        try (PyTorchCheckpoint c = PyTorchCheckpoint.open(in)) {
            for (String s : c.skipped()) err.println("surpass convert: skipped " + s + ": no surpass dtype for it");
            if (list) {
                for (PyTorchCheckpoint.Entry e : c.entries()) {
                    outW.printf(Locale.ROOT, "%s\t%s\t%s%n", e.name(), e.dtype(), java.util.Arrays.toString(e.shape()));
                }
                return 0;
            }
            long t0 = System.nanoTime();
            int n = c.writeSafeTensors(out, only, Map.of("format", "pt", "converted_from", in.getFileName().toString()));
            Map<String, Integer> byType = new TreeMap<>();
            String p = only == null || only.isEmpty() ? "" : (only.endsWith(".") ? only : only + ".");
            for (PyTorchCheckpoint.Entry e : c.entries()) if (e.name().startsWith(p)) byType.merge(e.dtype().name(), 1, Integer::sum);
            err.printf(Locale.ROOT, "surpass convert: %d tensors %s written to %s in %d ms%n", n, byType, out, (System.nanoTime() - t0) / 1_000_000);
            return 0;
        }
    }
}
