package dev.surpass.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** The model families {@code surpass forward} knows. Model issues add theirs to {@link #BUILT_IN}. */
public final class ModelFamilies {
    /** Families shipped with surpass, tried in this order. */
    private static final List<ModelForward> BUILT_IN = List.of(
            // add model families here as they land, e.g. new dev.surpass.model.gpt.GptForward()
            new dev.surpass.model.mamba.MambaForward(),
            new dev.surpass.model.jamba.JambaForward(),
            new dev.surpass.model.gpt2.Gpt2Family(),
            new dev.surpass.model.llama.LlamaFamily(),
            new dev.surpass.model.neox.GptNeoXFamily(),
            new dev.surpass.model.bloom.BloomFamily(),
            new dev.surpass.model.mpt.MptFamily(),
            new dev.surpass.model.phi.PhiFamily(),
            new dev.surpass.model.starcoder2.Starcoder2Family(),
            new dev.surpass.model.stablelm.StableLmFamily(),
            new dev.surpass.model.gptj.GptJFamily(),
            new dev.surpass.model.falcon.FalconFamily(),
            new dev.surpass.model.pixart.PixArtForward(),   // before "dit": old PixArt folders name Transformer2DModel too
            new dev.surpass.model.dit.DiTForward(),
            new dev.surpass.model.bert.BertForward(),
            new dev.surpass.model.bert.ModernBertForward(),
            new dev.surpass.model.t5.T5Forward(),
            new dev.surpass.model.vae.VaeForward(),
            new dev.surpass.model.unet.UNetForward(),
            new dev.surpass.model.sd3.SD3Forward(),
            new dev.surpass.model.flux.FluxForward(),
            new dev.surpass.model.clip.ClipForward()
    );

    private static final List<ModelForward> EXTRA = new CopyOnWriteArrayList<>();

    private ModelFamilies() {}

    /** Every registered family: the built-in ones, then those added with {@link #register}. */
    public static List<ModelForward> all() {
        List<ModelForward> all = new ArrayList<>(BUILT_IN);
        all.addAll(EXTRA);
        return all;
    }

    /** Adds a family at run time (embedders and tests); {@link #unregister} removes it. */
    public static void register(ModelForward family) {
        if (family == null) throw new IllegalArgumentException("family is null");
        EXTRA.add(family);
    }

    public static void unregister(ModelForward family) {
        EXTRA.remove(family);
    }

    /** The first family that accepts {@code model}, or null. */
    public static ModelForward find(Path model) {
        for (ModelForward f : all()) {
            boolean ok;
            try {
                ok = f.accepts(model);
            } catch (RuntimeException e) {
                ok = false;
            }
            if (ok) return f;
        }
        return null;
    }

    /** The first family that can generate (implements {@link ModelGenerate}) and accepts {@code model}, or null. */
    public static ModelGenerate findGenerator(Path model) {
        for (ModelForward f : all()) {
            if (!(f instanceof ModelGenerate g)) continue;
            boolean ok;
            try {
                ok = g.accepts(model);
            } catch (RuntimeException e) {
                ok = false;
            }
            if (ok) return g;
        }
        return null;
    }

    /** Names of the families that can generate, or "none yet". */
    public static String generatorNames() {
        List<String> n = new ArrayList<>();
        for (ModelForward f : all()) if (f instanceof ModelGenerate) n.add(f.family());
        return n.isEmpty() ? "none yet" : String.join(", ", n);
    }

    /** "gpt2, llama" or "none yet". */
    public static String names() {
        List<String> n = new ArrayList<>();
        for (ModelForward f : all()) n.add(f.family());
        return n.isEmpty() ? "none yet" : String.join(", ", n);
    }
}
