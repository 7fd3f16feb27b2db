package dev.surpass.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class Dim3Test {
    @Test
    void componentsMustBePositive() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Dim3(0, 1, 1));
        assertTrue(e.getMessage().contains("Dim3.x"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Dim3(1, -1, 1));
        assertThrows(IllegalArgumentException.class, () -> new Dim3(1, 1, 0));
        assertEquals(new Dim3(5, 1, 1), Dim3.of(5));
        assertEquals(new Dim3(5, 2, 1), Dim3.of(5, 2));
        assertEquals(1024L * 1024 * 64, new Dim3(1024, 1024, 64).volume());
    }

    @Test
    void gridStrideCapsAndRoundsUp() {
        assertEquals(1, Dim3.gridStride(0, 256, 100).x());
        assertEquals(1, Dim3.gridStride(1, 256, 100).x());
        assertEquals(1, Dim3.gridStride(256, 256, 100).x());
        assertEquals(2, Dim3.gridStride(257, 256, 100).x());
        assertEquals(100, Dim3.gridStride(1L << 40, 256, 100).x());
        assertEquals(65535 * 32, Dim3.gridStride(Long.MAX_VALUE, 256, 65535 * 32).x());
        assertThrows(IllegalArgumentException.class, () -> Dim3.gridStride(-1, 256, 1));
        assertThrows(IllegalArgumentException.class, () -> Dim3.gridStride(1, 0, 1));
    }
}
