package dev.surpass.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The progress indicator: a redrawn bar on a terminal, a few plain lines elsewhere. */
class ProgressTest {
    @Test
    void plainLinesAtEachQuarterAndAtTheEnd() {
        StringWriter sw = new StringWriter();
        AtomicLong clock = new AtomicLong();
        try (Progress p = new Progress(new PrintWriter(sw), "work", 8, false, clock::get)) {
            for (int i = 1; i <= 8; i++) p.step("item " + i);
            clock.set(2_500_000_000L);
        }
        String[] lines = sw.toString().strip().split("\n");
        assertEquals(4, lines.length, sw.toString());
        assertEquals("work: 2/8 (item 2)", lines[0].strip());
        assertEquals("work: 8/8 done in 2.5 s", lines[3].strip());
        assertFalse(sw.toString().contains("\r"));
    }

    @Test
    void terminalBarIsRedrawnInPlace() {
        StringWriter sw = new StringWriter();
        Progress p = new Progress(new PrintWriter(sw), "work", 4, true);
        p.step("a");
        p.step("b");
        assertEquals(2, p.done());
        p.close();
        p.step("after close is ignored");
        String s = sw.toString();
        assertTrue(s.contains("\r  work [############------------] 2/4 b"), s);
        assertTrue(s.endsWith("\n") && s.contains("work: 2/4 done in"), s);
        assertEquals(1, s.chars().filter(ch -> ch == '\n').count(), s);
        assertThrows(IllegalArgumentException.class, () -> new Progress(new PrintWriter(sw), "x", 0, false));
    }
}
