package dev.surpass;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

class DeviceTest {
    @Test
    void cpuDescribesItself() {
        try (Device d = Device.cpu()) {
            assertEquals(DeviceKind.CPU, d.kind());
            assertTrue(d.isCpu());
            assertEquals("cpu", d.name());
            assertTrue(d.describe().contains("cores"), d.describe());
            assertTrue(d.sameAs(Device.cpu()));
        }
    }

    @Test
    void forcedCpuIsHonoured() {
        String old = System.getProperty("surpass.device");
        try {
            System.setProperty("surpass.device", "cpu");
            try (Device d = Device.best()) {
                assertTrue(d.isCpu());
            }
            System.setProperty("surpass.device", "tpu");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, Device::best);
            assertTrue(e.getMessage().contains("expected cpu or cuda"), e.getMessage());
        } finally {
            if (old == null) System.clearProperty("surpass.device");
            else System.setProperty("surpass.device", old);
        }
    }

    @Test
    void manyThreadsShareOneDevice() throws Exception {
        try (Device dev = Device.cpu()) {
            ExecutorService pool = Executors.newFixedThreadPool(8);
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                final int id = t;
                fs.add(pool.submit(() -> {
                    for (int i = 0; i < 200; i++) {
                        float[] x = {id, i, id + i};
                        try (Tensor a = dev.upload(DType.F32, x, 3)) {
                            assertArrayEquals(x, a.toFloatArray());
                        }
                    }
                }));
            }
            for (Future<?> f : fs) f.get();
            pool.shutdown();
            assertEquals(0, dev.liveAllocations());
        }
    }
}
