package dev.surpass.layers;

import dev.surpass.Device;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA softmax on the rows the CPU twin and the float64 reference define specially (±inf, NaN):
 * the same checks as {@link SoftmaxTest#edgeRows}. Random rows are covered by the layers' parity
 * cases and {@link CudaLayersFuzzTest}.
 */
@Tag("gpu")
class CudaSoftmaxTest {
    @Test
    void edgeRowsAsOnTheCpu() {
        Assumptions.assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device");
        try (Device gpu = Device.cuda(0)) {
            SoftmaxTest.checkEdgeRows(gpu);
        }
    }
}
