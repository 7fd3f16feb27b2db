package dev.surpass.parity;

import java.util.ArrayList;
import java.util.List;

/** Every parity case of every op family; families add theirs here as they land. */
public final class ParityRegistry {
    private ParityRegistry() {}

    public static List<ParityCase> all() {
        List<ParityCase> all = new ArrayList<>();
        all.addAll(dev.surpass.layers.LayersParity.cases());
        all.addAll(dev.surpass.layers.GemmParity.cases());
        all.addAll(dev.surpass.attention.AttentionParity.cases());
        all.addAll(dev.surpass.diffusion.DiffusionParity.cases());
        all.addAll(dev.surpass.scan.ScanParity.cases());
        all.addAll(dev.surpass.model.dit.DiTParity.cases());
        return all;
    }
}
