package dev.surpass.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class InfoCommandTest {
    @Test
    void showsJavaCpuAndGpus() {
        CliRun r = CliRun.run("info");
        assertEquals(0, r.code(), r::toString);
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("java: " + Runtime.version())), r::toString);
        String lanes = "(" + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length() + " lanes)";
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("cpu: " + Runtime.getRuntime().availableProcessors() + " cores")
                && l.contains("Vector API preferred float species") && l.contains(lanes)), r::toString);
        assertTrue(r.out().contains("gpu: no CUDA device: ") || r.out().contains("gpus: "), r::toString);
    }
}
