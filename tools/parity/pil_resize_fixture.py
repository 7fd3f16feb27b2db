# Writes the Pillow resize fixtures ClipImageProcessorTest compares with bit for bit: random RGB images (PNG) and what
# Pillow's Image.resize makes of them with BICUBIC / BILINEAR (shrinking, enlarging, one axis only), and what
# transformers' CLIPImageProcessor steps make of one (convert RGB, resize to shortest edge 32 with
# int(32 * long / short), center crop 32 at (in - crop) // 2) before rescaling. Needs Pillow (Debian: python3-pil).
# Run: python3 tools/parity/pil_resize_fixture.py [OUT_DIR]  (default: the test resources folder)
import os, sys
import numpy as np
from PIL import Image
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                         "src", "test", "resources", "dev", "surpass", "model", "clip", "pil-resize")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(2026)
def img(w, h):
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
a = img(61, 43)
a.save(os.path.join(out, "in-61x43.png"))
for (w, h), f, name in [((23, 17), Image.BICUBIC, "bicubic"), ((100, 75), Image.BICUBIC, "bicubic"), ((61, 20), Image.BICUBIC, "bicubic"),
                        ((9, 43), Image.BICUBIC, "bicubic"), ((30, 50), Image.BILINEAR, "bilinear"), ((128, 7), Image.BILINEAR, "bilinear")]:
    a.resize((w, h), resample=f).save(os.path.join(out, f"out-61x43-{name}-{w}x{h}.png"))
b = img(57, 41)
b.save(os.path.join(out, "in-57x41.png"))
short, long = 41, 57
nw, nh = int(32 * long / short), 32
r = np.array(b.resize((nw, nh), resample=Image.BICUBIC))
top, left = (nh - 32) // 2, (nw - 32) // 2
Image.fromarray(r[top:top + 32, left:left + 32]).save(os.path.join(out, "clip-57x41-edge32-crop32.png"))
print("wrote", out)
