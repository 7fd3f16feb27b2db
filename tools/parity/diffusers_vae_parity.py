# surpass's AutoencoderKL decoder against diffusers' arithmetic, without diffusers installed: a random VAE of
# stabilityai/sd-vae-ft-mse's shape (block_out_channels [128, 256, 512, 512], 2 layers per block, 32 groups, 4 latent
# channels) is written as a diffusers folder (config.json + diffusion_pytorch_model.safetensors, with a few encoder tensors
# that the decoder must ignore), an [N, 4, h, w] latent is decoded here by an fp32 PyTorch forward that follows diffusers'
# AutoencoderKL._decode: post_quant_conv, Decoder.forward (conv_in; UNetMidBlock2D: resnet, Attention with group_norm,
# one head of C channels, residual_connection, rescale_output_factor 1, resnet; UpDecoderBlock2D × 4 in reversed channel
# order, each layers_per_block + 1 ResnetBlock2D then Upsample2D = nearest ×2 + 3×3 conv on all but the last;
# conv_norm_out, SiLU, conv_out), GroupNorm eps 1e-6 everywhere — and compared with `surpass forward` on the folder
# (SURPASS=path/to/surpass to test another build).
# The attention weights are saved under the legacy names sd-vae-ft-mse's own files carry (query, key, value,
# proj_attn as [C, C] linears, renamed by diffusers on load); NAMING=new writes to_q / to_k / to_v / to_out.0.
# BIN=1 saves the weights with torch.save as diffusion_pytorch_model.bin instead (read without running the pickle).
# ENCODE=1 checks the encoder instead: the folder gets a full random Encoder + quant_conv, an [N, 3, 8h, 8w] image in
# [-1, 1] is encoded here following diffusers' Encoder.forward (conv_in; DownEncoderBlock2D × 4: layers_per_block
# ResnetBlock2D, then Downsample2D on all but the last = F.pad(x, (0, 1, 0, 1)) and a 3×3 stride-2 conv with padding 0;
# the same mid block; conv_norm_out, SiLU, conv_out to 2·latent channels) and quant_conv, and compared with the
# `moments` output of `surpass forward` given an input `images` (AutoencoderKL.encode).
# Run from an empty folder: python3 diffusers_vae_parity.py [h] [w] [N]   (default 32 32 1: a 256×256 image)
# Exits 1 when max |Δ| > 1e-3 or the relative L2 > 1e-5.
import json, os, subprocess, sys, time, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
BOC, LPB, G, LAT, OUT = [128, 256, 512, 512], 2, 32, 4, 3
h = int(sys.argv[1]) if len(sys.argv) > 1 else 32
wd = int(sys.argv[2]) if len(sys.argv) > 2 else 32
N = int(sys.argv[3]) if len(sys.argv) > 3 else 1
LEGACY = os.environ.get("NAMING") != "new"
ENCODE = os.environ.get("ENCODE") == "1"
w = {}
def conv(p, cin, cout, k):
    w[p + ".weight"] = torch.randn(cout, cin, k, k) / (cin * k * k) ** 0.5
    w[p + ".bias"] = 0.1 * torch.randn(cout)
def norm(p, c):
    w[p + ".weight"] = 1 + 0.2 * torch.randn(c)
    w[p + ".bias"] = 0.2 * torch.randn(c)
def resnet(p, cin, cout):
    norm(p + ".norm1", cin); conv(p + ".conv1", cin, cout, 3); norm(p + ".norm2", cout); conv(p + ".conv2", cout, cout, 3)
    if cin != cout: conv(p + ".conv_shortcut", cin, cout, 1)
top = BOC[-1]
conv("post_quant_conv", LAT, LAT, 1)
conv("decoder.conv_in", LAT, top, 3)
resnet("decoder.mid_block.resnets.0", top, top); resnet("decoder.mid_block.resnets.1", top, top)
A = "decoder.mid_block.attentions.0"
norm(A + ".group_norm", top)
names = ("query", "key", "value", "proj_attn") if LEGACY else ("to_q", "to_k", "to_v", "to_out.0")
for n in names:
    w[f"{A}.{n}.weight"] = torch.randn(top, top) / top ** 0.5; w[f"{A}.{n}.bias"] = 0.1 * torch.randn(top)
prev = top
for i, ch in enumerate(reversed(BOC)):
    for j in range(LPB + 1): resnet(f"decoder.up_blocks.{i}.resnets.{j}", prev if j == 0 else ch, ch)
    if i < len(BOC) - 1: conv(f"decoder.up_blocks.{i}.upsamplers.0.conv", ch, ch, 3)
    prev = ch
norm("decoder.conv_norm_out", BOC[0]); conv("decoder.conv_out", BOC[0], OUT, 3)
conv("quant_conv", 2 * LAT, 2 * LAT, 1); conv("encoder.conv_in", 3, BOC[0], 3)  # encoder side: ignored by the decoder
if ENCODE:  # the whole encoder
    prev = BOC[0]
    for i, ch in enumerate(BOC):
        for j in range(LPB): resnet(f"encoder.down_blocks.{i}.resnets.{j}", prev if j == 0 else ch, ch)
        if i < len(BOC) - 1: conv(f"encoder.down_blocks.{i}.downsamplers.0.conv", ch, ch, 3)
        prev = ch
    resnet("encoder.mid_block.resnets.0", top, top); resnet("encoder.mid_block.resnets.1", top, top)
    EA = "encoder.mid_block.attentions.0"
    norm(EA + ".group_norm", top)
    for n in names:
        w[f"{EA}.{n}.weight"] = torch.randn(top, top) / top ** 0.5; w[f"{EA}.{n}.bias"] = 0.1 * torch.randn(top)
    norm("encoder.conv_norm_out", top); conv("encoder.conv_out", top, 2 * LAT, 3)
os.makedirs("vae", exist_ok=True)
if os.environ.get("BIN") == "1": torch.save(w, "vae/diffusion_pytorch_model.bin")
else: save_safetensors(w, "vae/diffusion_pytorch_model.safetensors")
json.dump({"_class_name": "AutoencoderKL", "_diffusers_version": "0.4.2", "act_fn": "silu", "block_out_channels": BOC,
           "down_block_types": ["DownEncoderBlock2D"] * 4, "in_channels": 3, "latent_channels": LAT, "layers_per_block": LPB,
           "norm_num_groups": G, "out_channels": OUT, "sample_size": 256,
           "up_block_types": ["UpDecoderBlock2D"] * 4}, open("vae/config.json", "w"))
z = torch.randn(N, LAT, h, wd)
img = torch.rand(N, 3, 8 * h, 8 * wd) * 2 - 1
save_safetensors({"images": img} if ENCODE else {"latents": z}, "inputs.safetensors")
# --- diffusers' decode, op by op
def c2d(x, p, pad=1): return F.conv2d(x, w[p + ".weight"], w[p + ".bias"], padding=pad)
def gn(x, p): return F.group_norm(x, G, w[p + ".weight"], w[p + ".bias"], eps=1e-6)
def res(x, p):  # ResnetBlock2D, temb None, output_scale_factor 1
    y = c2d(F.silu(gn(x, p + ".norm1")), p + ".conv1")
    y = c2d(F.silu(gn(y, p + ".norm2")), p + ".conv2")
    if p + ".conv_shortcut.weight" in w: x = c2d(x, p + ".conv_shortcut", 0)
    return (x + y) / 1.0
def attn(x, A=A):  # Attention (AttnProcessor2_0) on a 4-D input: heads = C / attention_head_dim = 1
    B, C, H, W = x.shape
    r = x
    s = x.view(B, C, H * W).transpose(1, 2)
    s = gn(s.transpose(1, 2), A + ".group_norm").transpose(1, 2)
    q, k, v = (F.linear(s, w[f"{A}.{n}.weight"], w[f"{A}.{n}.bias"]) for n in names[:3])
    o = torch.softmax(q @ k.transpose(-1, -2) * C ** -0.5, dim=-1) @ v
    o = F.linear(o, w[f"{A}.{names[3]}.weight"], w[f"{A}.{names[3]}.bias"])
    o = o.transpose(-1, -2).reshape(B, C, H, W)
    return (o + r) / 1.0
def encode(x):  # Encoder.forward, then quant_conv: the DiagonalGaussianDistribution's parameters
    x = c2d(x, "encoder.conv_in")
    for i in range(len(BOC)):
        for j in range(LPB): x = res(x, f"encoder.down_blocks.{i}.resnets.{j}")
        if i < len(BOC) - 1:  # Downsample2D(padding=0): pad right and bottom by one, then stride 2
            x = F.conv2d(F.pad(x, (0, 1, 0, 1), mode="constant", value=0), w[f"encoder.down_blocks.{i}.downsamplers.0.conv.weight"],
                         w[f"encoder.down_blocks.{i}.downsamplers.0.conv.bias"], stride=2, padding=0)
    x = res(x, "encoder.mid_block.resnets.0"); x = attn(x, "encoder.mid_block.attentions.0"); x = res(x, "encoder.mid_block.resnets.1")
    x = c2d(F.silu(gn(x, "encoder.conv_norm_out")), "encoder.conv_out")
    return c2d(x, "quant_conv", 0)
with torch.no_grad():
  if ENCODE:
    t0 = time.time()
    ref = encode(img)
    t_ref = time.time() - t0
  else:
    t0 = time.time()
    x = c2d(z, "post_quant_conv", 0)
    x = c2d(x, "decoder.conv_in")
    x = res(x, "decoder.mid_block.resnets.0"); x = attn(x); x = res(x, "decoder.mid_block.resnets.1")
    for i in range(len(BOC)):
        for j in range(LPB + 1): x = res(x, f"decoder.up_blocks.{i}.resnets.{j}")
        if i < len(BOC) - 1: x = c2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), f"decoder.up_blocks.{i}.upsamplers.0.conv")
    ref = c2d(F.silu(gn(x, "decoder.conv_norm_out")), "decoder.conv_out")
    t_ref = time.time() - t0
# --- surpass
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
t0 = time.time()
r = subprocess.run([surpass, "forward", "--model", "vae", "--inputs", "inputs.safetensors", "--out", "out.safetensors"],
                   capture_output=True, text=True)
t_run = time.time() - t0
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
print(r.stderr.strip()[-600:])
got = load_safetensors("out.safetensors")["moments" if ENCODE else "sample"]
if got.shape != ref.shape: print(f"FAIL: shape {tuple(got.shape)}, expected {tuple(ref.shape)}"); sys.exit(1)
d = (got - ref).abs()
rel = ((got - ref).norm() / ref.norm()).item()
print(f"{'legacy' if LEGACY else 'new'} names, {'encode image ' + 'x'.join(map(str, img.shape)) if ENCODE else f'latent {N}x{LAT}x{h}x{wd}'} -> {tuple(ref.shape)}: max |diff| {d.max():.3e}, "
      f"relative L2 {rel:.3e}, |ref| max {ref.abs().max():.2f}; PyTorch fp32 forward {t_ref:.1f} s, "
      f"`surpass forward` (JVM start, load, decode) {t_run:.1f} s")
if not (d.max() <= 1e-3 and rel <= 1e-5): print("FAIL"); sys.exit(1)
