package dev.surpass.cli;

import dev.surpass.Tensor;
import dev.surpass.io.SafeTensorsFile;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code surpass forward}: runs a model's forward pass on the tensors of a safetensors file and
 * writes every output to another — how to compare surpass with PyTorch or ONNX Runtime.
 */
@Command(name = "forward", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Runs one forward pass of a model on the input tensors of a safetensors file and writes every",
            "output to a safetensors file (for parity checks against PyTorch or ONNX Runtime).",
            "The model family is recognised from --model."
        })
final class ForwardCommand extends CliCommand {
    @Option(names = "--model", required = true, paramLabel = "PATH", description = "The model: a checkpoint file or folder.")
    Path model;

    @Option(names = "--inputs", required = true, paramLabel = "FILE", description = "safetensors file with the input tensors.")
    Path inputs;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "safetensors file to write the outputs to.")
    Path out;

    @Mixin
    OneDevice device;

    @Override
    int execute(PrintWriter o, PrintWriter err) {
        OptionFiles.requireExists("--model", model);
        OptionFiles.requireFile("--inputs", inputs);
        OptionFiles.requireParentFolder("--out", out);
        device.validate("forward");
        ModelForward family = ModelFamilies.find(model);
        if (family == null) {
            throw new UsageException("no registered model family accepts " + model + "; registered families: " + ModelFamilies.names());
        }
        try (Devices devices = device.open(err);
             SafeTensorsFile in = OptionFiles.openSafeTensors("--inputs", inputs)) {
            var dev = devices.first();
            err.println("surpass forward: " + family.family() + " model " + model + " on " + dev.name());
            Map<String, Tensor> inTensors = new LinkedHashMap<>();
            Map<String, Tensor> outputs = Map.of();
            try {
                for (String name : in.names()) inTensors.put(name, in.tensor(name, dev));
                outputs = family.forward(dev, model, inTensors);
                if (outputs == null || outputs.isEmpty()) {
                    throw new IllegalStateException("model family " + family.family() + " returned no outputs");
                }
                Map<String, String> meta = new LinkedHashMap<>();
                meta.put("family", family.family());
                meta.put("model", model.toString());
                meta.put("inputs", inputs.toString());
                meta.put("device", dev.name());
                meta.put("producer", "surpass forward");
                OptionFiles.writeSafeTensors("--out", out, out, outputs, meta);
                for (Map.Entry<String, Tensor> e : outputs.entrySet()) o.println(e.getKey() + ": " + e.getValue().describe());
                o.println("wrote " + outputs.size() + " output(s) to " + out);
            } finally {
                for (Tensor t : outputs.values()) t.close();
                for (Tensor t : inTensors.values()) t.close();
            }
        }
        return 0;
    }
}
