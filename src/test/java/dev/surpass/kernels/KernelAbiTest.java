package dev.surpass.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The built fatbins (resources dev/surpass/kernels/*.fatbin) against native/abi.txt: every listed
 * kernel is in every cubin of its fatbin, nothing unlisted is, the PTX carries the same entries
 * with the parameter widths the C signatures imply. Runs without a GPU; skipped, visibly, when
 * the build found no nvcc (then no fatbins exist).
 */
class KernelAbiTest {
    /** Cubins every main fatbin must carry (extra ones from -Dsurpass.cuda.extraArchs are allowed). */
    static final Set<String> MAIN_CUBINS = Set.of("sm_80", "sm_90a");
    static final String MAIN_PTX = "compute_80";

    @Test
    void abiFileIsWellFormed() {
        Map<String, List<AbiFile.Kernel>> abi = AbiFile.read();
        assertFalse(abi.isEmpty(), "abi.txt lists no kernels");
        Set<String> seen = new HashSet<>();
        for (var group : abi.entrySet()) {
            String family = group.getKey().replaceFirst("_sm90a$", "");
            for (AbiFile.Kernel k : group.getValue()) {
                assertTrue(seen.add(k.name()), "abi.txt:" + k.line() + ": " + k.name() + " listed twice");
                assertTrue(k.name().startsWith("surpass_" + family + "_"),
                        "abi.txt:" + k.line() + ": " + k.name() + " should be named surpass_" + family + "_<op>_<dtype>");
                k.ptxTypes();  // every C type has a PTX mapping
            }
        }
    }

    @Test
    void everyFatbinMatchesAbiList() {
        KernelResources.assumeBuilt();
        Map<String, List<AbiFile.Kernel>> abi = AbiFile.read();
        Set<String> built = KernelResources.built();
        List<String> problems = new ArrayList<>();
        for (String name : built) {
            if (!abi.containsKey(name)) problems.add(name + ".fatbin is built but has no [" + name + "] group in abi.txt");
        }
        for (var group : abi.entrySet()) {
            String name = group.getKey();
            byte[] data = KernelResources.fatbin(name);
            if (data == null) {
                problems.add("abi.txt lists [" + name + "] but " + name + ".fatbin was not built");
                continue;
            }
            check(name, data, group.getValue(), problems);
        }
        if (!problems.isEmpty()) fail(problems.size() + " ABI problem(s):\n  " + String.join("\n  ", problems));
    }

    private static void check(String name, byte[] data, List<AbiFile.Kernel> kernels, List<String> problems) {
        boolean hopperOnly = name.endsWith("_sm90a");
        List<FatbinSymbols.Entry> entries = FatbinSymbols.read(data);
        Map<String, FatbinSymbols.Entry> byArch = new TreeMap<>();
        for (FatbinSymbols.Entry e : entries) {
            assertFalse(e.compressed(), name + ": entry " + e + " is compressed; build with nvcc --no-compress");
            if (byArch.putIfAbsent(e.arch(), e) != null) problems.add(name + ": two entries for " + e.arch());
        }
        System.out.println("[abi] " + name + ".fatbin: " + String.join(", ", byArch.keySet()) + "; " + kernels.size() + " kernels");

        Set<String> wantCubins = hopperOnly ? Set.of("sm_90a") : MAIN_CUBINS;
        for (String arch : wantCubins) {
            if (!byArch.containsKey(arch)) problems.add(name + ".fatbin has no " + arch + " cubin");
        }
        if (!hopperOnly && !byArch.containsKey(MAIN_PTX)) problems.add(name + ".fatbin has no " + MAIN_PTX + " PTX");
        if (hopperOnly) {
            for (String arch : byArch.keySet()) {
                if (!arch.equals("sm_90a")) problems.add(name + ".fatbin must hold sm_90a only, has " + arch);
            }
        }

        Set<String> listed = new TreeSet<>();
        kernels.forEach(k -> listed.add(k.name()));
        for (FatbinSymbols.Entry e : byArch.values()) {
            if (e.kind() == FatbinSymbols.Kind.ELF) {
                assertEquals(e.sm(), FatbinSymbols.elfSm(e.payload()), name + ": " + e.arch() + " cubin's e_flags name another SM");
                Set<String> have = e.kernels();
                for (String k : listed) if (!have.contains(k)) problems.add(name + " " + e.arch() + ": missing kernel " + k);
                for (String k : have) if (!listed.contains(k)) problems.add(name + " " + e.arch() + ": kernel " + k + " is not in abi.txt");
            } else if (e.kind() == FatbinSymbols.Kind.PTX) {
                Map<String, List<String>> ptx = FatbinSymbols.ptxEntries(e.ptx());
                for (AbiFile.Kernel k : kernels) {
                    List<String> got = ptx.get(k.name());
                    if (got == null) problems.add(name + " " + e.arch() + ": missing PTX entry " + k.name());
                    else if (!got.equals(k.ptxTypes())) {
                        problems.add(name + " " + e.arch() + ": " + k.name() + " takes " + got + " in PTX but abi.txt:"
                                + k.line() + " says " + k.paramTypes() + " = " + k.ptxTypes());
                    }
                }
                for (String k : ptx.keySet()) if (!listed.contains(k)) problems.add(name + " " + e.arch() + ": PTX entry " + k + " is not in abi.txt");
            } else {
                problems.add(name + ": unknown entry " + e);
            }
        }
    }
}
