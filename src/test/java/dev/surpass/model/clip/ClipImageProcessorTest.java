package dev.surpass.model.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.surpass.Device;
import dev.surpass.Tensor;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link PilResize} and {@link ClipImageProcessor} against Pillow itself: the fixtures under
 * {@code pil-resize/} were written by {@code tools/parity/pil_resize_fixture.py} with Pillow 9.4
 * (random RGB images, their {@code Image.resize} with BICUBIC and BILINEAR, shrinking, enlarging and
 * one axis only, and transformers' CLIPImageProcessor resize + center crop of one), and must be
 * reproduced byte for byte.
 */
class ClipImageProcessorTest {
    static BufferedImage png(String name) throws IOException {
        try (InputStream in = ClipImageProcessorTest.class.getResourceAsStream("pil-resize/" + name)) {
            if (in == null) throw new IOException("missing test resource pil-resize/" + name);
            return ImageIO.read(in);
        }
    }

    static int[] rgb(BufferedImage im) {
        int[] px = im.getRGB(0, 0, im.getWidth(), im.getHeight(), null, 0, im.getWidth());
        for (int i = 0; i < px.length; i++) px[i] &= 0xFFFFFF;
        return px;
    }

    @ParameterizedTest(name = "{0} to {1}x{2}")
    @CsvSource({"bicubic, 23, 17", "bicubic, 100, 75", "bicubic, 61, 20", "bicubic, 9, 43", "bilinear, 30, 50", "bilinear, 128, 7"})
    void resizeIsPillowsBitForBit(String filter, int w, int h) throws IOException {
        BufferedImage in = png("in-61x43.png");
        int[] want = rgb(png("out-61x43-" + filter + "-" + w + "x" + h + ".png"));
        int[] got = PilResize.resize(rgb(in), 61, 43, w, h, filter.equals("bicubic") ? PilResize.Filter.BICUBIC : PilResize.Filter.BILINEAR);
        int diff = 0;
        for (int i = 0; i < want.length; i++) if (want[i] != got[i]) diff++;
        assertEquals(0, diff, diff + " of " + want.length + " pixels differ from Pillow's");
    }

    @Test
    void clipProcessorResizesAndCropsAsTransformers() throws IOException {
        ClipImageProcessor d = ClipImageProcessor.defaults();
        ClipImageProcessor p = new ClipImageProcessor(d.mean(), d.std(), d.rescaleFactor(), true, true, 32, 32, true, 32, 0, 0, 3, true);
        int[] size = new int[2];
        int[] got = p.prepare(png("in-57x41.png"), size);
        assertArrayEquals(new int[] {32, 32}, size);
        assertArrayEquals(rgb(png("clip-57x41-edge32-crop32.png")), got);
        try (Device cpu = Device.cpu(); Tensor t = p.pixelValues(cpu, png("in-57x41.png"), png("in-61x43.png"))) {
            assertArrayEquals(new long[] {2, 3, 32, 32}, t.shape());
            float[] v = t.toFloatArray();
            int px = got[5 * 32 + 7];
            assertEquals(((px >> 8) & 0xFF) / 255f - (float) d.mean()[1], v[32 * 32 + 5 * 32 + 7] * (float) d.std()[1], 1e-5f);
        }
    }

    @Test
    void centerCropPadsSmallImagesAsTransformers() {
        int[] px = new int[3 * 2];
        for (int i = 0; i < px.length; i++) px[i] = i + 1;
        // 3 wide × 2 high into 4 × 5: rows padded ceil(3/2) = 2 on top, columns ceil(1/2) = 1 on the left
        int[] out = ClipImageProcessor.centerCrop(px, 3, 2, 4, 5);
        int[] want = new int[20];
        for (int y = 0; y < 2; y++) for (int x = 0; x < 3; x++) want[(y + 2) * 4 + x + 1] = px[y * 3 + x];
        assertArrayEquals(want, out);
        // larger: offsets (in − crop) // 2
        int[] big = new int[7 * 6];
        for (int i = 0; i < big.length; i++) big[i] = i;
        int[] c = ClipImageProcessor.centerCrop(big, 7, 6, 4, 3);
        assertEquals(big[(6 - 3) / 2 * 7 + (7 - 4) / 2], c[0]);
    }

    @Test
    void readsSizeAndResampleFromTheConfig(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("preprocessor_config.json"), """
                {"crop_size": {"height": 32, "width": 32}, "do_center_crop": true, "do_normalize": true, "do_resize": true,
                 "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": {"shortest_edge": 40}}
                """);
        ClipImageProcessor p = ClipImageProcessor.load(dir);
        assertEquals(40, p.shortestEdge());
        assertEquals(2, p.resample());
        assertEquals(32, p.cropHeight());
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"resample\": 1}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ClipImageProcessor.load(dir)).getMessage().contains("resample"));
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"size\": {\"longest_edge\": 3}}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ClipImageProcessor.load(dir)).getMessage().contains("size"));
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"size\": {\"height\": 20, \"width\": 30}, \"do_center_crop\": false}");
        ClipImageProcessor q = ClipImageProcessor.load(dir);
        try (Device cpu = Device.cpu(); Tensor t = q.pixelValues(cpu, new BufferedImage(7, 9, BufferedImage.TYPE_INT_RGB))) {
            assertArrayEquals(new long[] {1, 3, 20, 30}, t.shape());
        }
        assertThrows(IllegalArgumentException.class, () -> PilResize.resize(new int[4], 2, 2, 0, 3, PilResize.Filter.BICUBIC));
    }
}
