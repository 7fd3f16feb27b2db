# surpass's UNet2DConditionModel against diffusers' arithmetic, without diffusers installed: a random UNet is written as a
# diffusers folder (config.json + diffusion_pytorch_model.safetensors under diffusers' names), run here by an fp32 PyTorch
# forward that follows diffusers' UNet2DConditionModel.forward for Stable Diffusion 1.x / 2.x's blocks — Timesteps
# (flip_sin_to_cos, freq_shift) + TimestepEmbedding (linear_1, SiLU, linear_2); conv_in; CrossAttnDownBlock2D / DownBlock2D
# (ResnetBlock2D with time_emb_proj(SiLU(temb)) added after conv1, GroupNorm(norm_num_groups, norm_eps); Transformer2DModel:
# GroupNorm eps 1e-6, proj_in 1×1 conv or Linear, BasicTransformerBlocks of LayerNorm → self-attention, LayerNorm →
# cross-attention, LayerNorm → GEGLU feed-forward, proj_out, residual; Downsample2D = 3×3 conv stride 2 padding 1);
# UNetMidBlock2DCrossAttn; UpBlock2D / CrossAttnUpBlock2D on torch.cat([hidden, skip], dim=1) with Upsample2D = nearest ×2
# + conv; conv_norm_out, SiLU, conv_out — with diffusers' reading of attention_head_dim as the head count — and compared
# with `surpass forward` on the folder (SURPASS=path/to/surpass to test another build).
# Configs (first argument):
#   sd1 — SD 1.x's conventions: block_out_channels [64, 96, 128], layers_per_block 2, attention_head_dim 2 (an int: 2 heads
#         at every level, head dims 32 / 48 / 64 — 48 is one the fused attention pads), 1×1 conv projections, 32 groups,
#         cross_attention_dim 48;
#   sd2 — SD 2.x's: use_linear_projection, attention_head_dim [1, 2, 2] (head dims 64 / 48 / 64), transformer_layers_per_block 2,
#         upcast_attention, cross_attention_dim 64;
#   sd1dims — as sd1 but block_out_channels [40, 80, 160], 8 groups, 1 head: SD 1.x's own head dims 40 / 80 / 160 (40 and 160
#         padded to 64 and 256 by surpass, 80 run as it is).
#   sdxl — SDXL base's: down blocks [DownBlock2D, CrossAttnDownBlock2D, CrossAttnDownBlock2D], block_out_channels [64, 128, 192]
#         with attention_head_dim [1, 2, 3] (head dim 64 everywhere, as SDXL's [5, 10, 20] on [320, 640, 1280]),
#         transformer_layers_per_block [1, 2, 3] (SDXL: [1, 2, 10]), use_linear_projection, cross_attention_dim 80, and
#         addition_embed_type "text_time": add_time_proj = Timesteps(16) over each sample's 6 time ids, after the pooled
#         text embeds (40) through add_embedding (136 → T), added to the time embedding (unet_2d_condition.get_aug_embed).
# All: latents 2×4×16×24, timesteps [999, 281.5], S = 77 text states. BIN=1 saves the weights with torch.save instead.
# Run from an empty folder: python3 diffusers_unet_parity.py [sd1|sd2|sd1dims|sdxl]. Exits 1 when max |Δ| > 1e-3 or the relative L2 > 2e-5.
import json, math, os, subprocess, sys, time, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
KIND = sys.argv[1] if len(sys.argv) > 1 else "sd1"
BOC, LPB, G, IN, OUT, EPS = [64, 96, 128], 2, 32, 4, 4, 1e-5
DOWN = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
UP = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
if KIND == "sd1": HEAD_ATTR, TL, LINEAR, CROSS = 2, 1, False, 48
elif KIND == "sd2": HEAD_ATTR, TL, LINEAR, CROSS = [1, 2, 2], 2, True, 64
elif KIND == "sd1dims": BOC, G, HEAD_ATTR, TL, LINEAR, CROSS = [40, 80, 160], 8, 1, 1, False, 48  # SD 1.x's own head dims 40 / 80 / 160
elif KIND == "sdxl":
    BOC, HEAD_ATTR, TL, LINEAR, CROSS = [64, 128, 192], [1, 2, 3], [1, 2, 3], True, 80
    DOWN = ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"]
    UP = ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]
else: sys.exit("usage: diffusers_unet_parity.py [sd1|sd2|sd1dims|sdxl]")
TLS = [TL] * len(BOC) if isinstance(TL, int) else TL  # transformer_layers_per_block per level; the mid block takes the last
ADD_T, POOLED = (16, 40) if KIND == "sdxl" else (0, 0)  # text_time: addition_time_embed_dim, pooled text width
# diffusers: num_attention_heads = num_attention_heads or attention_head_dim — the "head dim" field counts heads
HEADS = [HEAD_ATTR] * len(BOC) if isinstance(HEAD_ATTR, int) else HEAD_ATTR
T = 4 * BOC[0]
QK = float(os.environ.get("QK_GAIN", "1.0"))  # scale of to_q / to_k: larger makes the softmaxes peakier and the network worse conditioned
B, H, W, S = 2, 16, 24, 77
w = {}
def rnd(*shape, s=1.0): return s * torch.randn(*shape)
def conv(p, cin, cout, k): w[p + ".weight"] = rnd(cout, cin, k, k, s=(cin * k * k) ** -0.5); w[p + ".bias"] = rnd(cout, s=0.1)
def lin(p, cin, cout, bias=True, gain=1.0):
    w[p + ".weight"] = rnd(cout, cin, s=gain * cin ** -0.5)
    if bias: w[p + ".bias"] = rnd(cout, s=0.1)
def norm(p, c): w[p + ".weight"] = 1 + rnd(c, s=0.2); w[p + ".bias"] = rnd(c, s=0.2)
def resnet(p, cin, cout):
    norm(p + ".norm1", cin); conv(p + ".conv1", cin, cout, 3); lin(p + ".time_emb_proj", T, cout)
    norm(p + ".norm2", cout); conv(p + ".conv2", cout, cout, 3)
    if cin != cout: conv(p + ".conv_shortcut", cin, cout, 1)
def transformer(p, c, heads, tl):
    inner = heads * (c // heads)
    norm(p + ".norm", c)
    if LINEAR: lin(p + ".proj_in", c, inner)
    else: conv(p + ".proj_in", c, inner, 1)
    for b in range(tl):
        q = f"{p}.transformer_blocks.{b}"
        for n in ("norm1", "norm2", "norm3"): norm(f"{q}.{n}", inner)
        for a, kv in (("attn1", inner), ("attn2", CROSS)):
            lin(f"{q}.{a}.to_q", inner, inner, False, QK); lin(f"{q}.{a}.to_k", kv, inner, False, QK)
            lin(f"{q}.{a}.to_v", kv, inner, False); lin(f"{q}.{a}.to_out.0", inner, inner)
        lin(f"{q}.ff.net.0.proj", inner, 8 * inner); lin(f"{q}.ff.net.2", 4 * inner, inner)
    if LINEAR: lin(p + ".proj_out", inner, c)
    else: conv(p + ".proj_out", inner, c, 1)
conv("conv_in", IN, BOC[0], 3); lin("time_embedding.linear_1", BOC[0], T); lin("time_embedding.linear_2", T, T)
if ADD_T: lin("add_embedding.linear_1", POOLED + 6 * ADD_T, T); lin("add_embedding.linear_2", T, T)
ch = BOC[0]
for i, t in enumerate(DOWN):
    for j in range(LPB):
        resnet(f"down_blocks.{i}.resnets.{j}", ch, BOC[i]); ch = BOC[i]
        if t.startswith("CrossAttn"): transformer(f"down_blocks.{i}.attentions.{j}", ch, HEADS[i], TLS[i])
    if i < len(BOC) - 1: conv(f"down_blocks.{i}.downsamplers.0.conv", ch, ch, 3)
resnet("mid_block.resnets.0", ch, ch); transformer("mid_block.attentions.0", ch, HEADS[-1], TLS[-1]); resnet("mid_block.resnets.1", ch, ch)
rev = list(reversed(BOC)); prev = rev[0]
for i, t in enumerate(UP):
    out, inp = rev[i], rev[min(i + 1, len(BOC) - 1)]
    for j in range(LPB + 1):
        skip = inp if j == LPB else out
        resnet(f"up_blocks.{i}.resnets.{j}", (prev if j == 0 else out) + skip, out)
        if t.startswith("CrossAttn"): transformer(f"up_blocks.{i}.attentions.{j}", out, HEADS[len(BOC) - 1 - i], TLS[len(BOC) - 1 - i])
    if i < len(BOC) - 1: conv(f"up_blocks.{i}.upsamplers.0.conv", out, out, 3)
    prev = out
norm("conv_norm_out", BOC[0]); conv("conv_out", BOC[0], OUT, 3)
os.makedirs("unet", exist_ok=True)
if os.environ.get("BIN") == "1": torch.save(w, "unet/diffusion_pytorch_model.bin")
else: save_safetensors(w, "unet/diffusion_pytorch_model.safetensors")
cfg = {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.31.0", "act_fn": "silu", "attention_head_dim": HEAD_ATTR,
       "block_out_channels": BOC, "center_input_sample": False, "cross_attention_dim": CROSS, "down_block_types": DOWN,
       "downsample_padding": 1, "dual_cross_attention": False, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": IN,
       "layers_per_block": LPB, "mid_block_scale_factor": 1, "norm_eps": EPS, "norm_num_groups": G, "num_class_embeds": None,
       "only_cross_attention": False, "out_channels": OUT, "sample_size": 32, "up_block_types": UP,
       "use_linear_projection": LINEAR, "upcast_attention": KIND == "sd2", "transformer_layers_per_block": TL,
       "addition_embed_type": "text_time" if ADD_T else None, "class_embed_type": None, "resnet_time_scale_shift": "default"}
if ADD_T: cfg.update({"addition_time_embed_dim": ADD_T, "projection_class_embeddings_input_dim": POOLED + 6 * ADD_T})
json.dump(cfg, open("unet/config.json", "w"), indent=2)
x = torch.randn(B, IN, H, W); ts = torch.tensor([999.0, 281.5]); ctx = torch.randn(B, S, CROSS)
inputs = {"sample": x, "timestep": ts, "encoder_hidden_states": ctx}
if ADD_T:  # SDXL's added conditions: pooled text embeds and (original h, w, crop top, left, target h, w) per sample
    text_embeds = torch.randn(B, POOLED); time_ids = torch.tensor([[1024.0, 1024, 0, 0, 1024, 1024], [768, 1344, 32, 64, 896, 1152]])
    inputs.update({"text_embeds": text_embeds, "time_ids": time_ids})
save_safetensors(inputs, "inputs.safetensors")

# --- diffusers' forward, op by op
def c2d(h, p, stride=1, pad=1): return F.conv2d(h, w[p + ".weight"], w[p + ".bias"], stride=stride, padding=pad)
def lnr(h, p): return F.linear(h, w[p + ".weight"], w.get(p + ".bias"))
def timestep_embedding(t, dim, flip=True, shift=0, max_period=10000):  # embeddings.get_timestep_embedding
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / (half - shift)
    e = t[:, None].float() * torch.exp(exponent)[None, :]
    e = torch.cat([torch.sin(e), torch.cos(e)], dim=-1)
    if flip: e = torch.cat([e[:, half:], e[:, :half]], dim=-1)
    return e
def res(h, p, temb):  # ResnetBlock2D, time_embedding_norm "default", output_scale_factor 1
    y = c2d(F.silu(F.group_norm(h, G, w[p + ".norm1.weight"], w[p + ".norm1.bias"], EPS)), p + ".conv1")
    y = y + lnr(F.silu(temb), p + ".time_emb_proj")[:, :, None, None]
    y = c2d(F.silu(F.group_norm(y, G, w[p + ".norm2.weight"], w[p + ".norm2.bias"], EPS)), p + ".conv2")
    if p + ".conv_shortcut.weight" in w: h = c2d(h, p + ".conv_shortcut", pad=0)
    return (h + y) / 1.0
def attention(hs, ctx, p, heads):  # Attention with AttnProcessor2_0's arithmetic: to_q/k/v without bias, softmax(q·kᵀ/√d)·v, to_out.0
    Bn, L, inner = hs.shape; d = inner // heads
    q = lnr(hs, p + ".to_q").view(Bn, -1, heads, d).transpose(1, 2)
    k = lnr(ctx, p + ".to_k").view(Bn, -1, heads, d).transpose(1, 2)
    v = lnr(ctx, p + ".to_v").view(Bn, -1, heads, d).transpose(1, 2)
    o = torch.softmax(q @ k.transpose(-1, -2) * d ** -0.5, dim=-1) @ v
    return lnr(o.transpose(1, 2).reshape(Bn, L, inner), p + ".to_out.0")
def t2d(h, p, heads, ctx, tl):  # Transformer2DModel, continuous input
    Bn, C, Hh, Ww = h.shape; r = h
    h = F.group_norm(h, G, w[p + ".norm.weight"], w[p + ".norm.bias"], 1e-6)
    if LINEAR:
        h = h.permute(0, 2, 3, 1).reshape(Bn, Hh * Ww, C); h = lnr(h, p + ".proj_in")
    else:
        h = c2d(h, p + ".proj_in", pad=0); h = h.permute(0, 2, 3, 1).reshape(Bn, Hh * Ww, h.shape[1])
    inner = h.shape[-1]
    for b in range(tl):
        q = f"{p}.transformer_blocks.{b}"
        def ln(x, n): return F.layer_norm(x, (inner,), w[f"{q}.{n}.weight"], w[f"{q}.{n}.bias"], 1e-5)
        n1 = ln(h, "norm1"); h = attention(n1, n1, q + ".attn1", heads) + h
        h = attention(ln(h, "norm2"), ctx, q + ".attn2", heads) + h
        hid, gate = lnr(ln(h, "norm3"), q + ".ff.net.0.proj").chunk(2, dim=-1)  # GEGLU
        h = lnr(hid * F.gelu(gate), q + ".ff.net.2") + h
    if LINEAR:
        h = lnr(h, p + ".proj_out"); h = h.reshape(Bn, Hh, Ww, C).permute(0, 3, 1, 2).contiguous()
    else:
        h = h.reshape(Bn, Hh, Ww, inner).permute(0, 3, 1, 2).contiguous(); h = c2d(h, p + ".proj_out", pad=0)
    return h + r
def unet(x, ts, ctx):
    temb = timestep_embedding(ts.expand(B), BOC[0]).to(x.dtype)  # as diffusers: fp32 phases, then t_emb.to(sample.dtype)
    temb = lnr(F.silu(lnr(temb, "time_embedding.linear_1")), "time_embedding.linear_2")
    if ADD_T:  # get_aug_embed, "text_time": add_time_proj(time_ids.flatten()).reshape(B, -1) after text_embeds, add_embedding
        tid = timestep_embedding(time_ids.flatten(), ADD_T).reshape(B, -1)
        add = torch.cat([text_embeds, tid], dim=-1).to(temb.dtype)
        temb = temb + lnr(F.silu(lnr(add, "add_embedding.linear_1")), "add_embedding.linear_2")
    h = c2d(x, "conv_in")
    skips = [h]
    for i, t in enumerate(DOWN):
        for j in range(LPB):
            h = res(h, f"down_blocks.{i}.resnets.{j}", temb)
            if t.startswith("CrossAttn"): h = t2d(h, f"down_blocks.{i}.attentions.{j}", HEADS[i], ctx, TLS[i])
            skips.append(h)
        if i < len(BOC) - 1: h = c2d(h, f"down_blocks.{i}.downsamplers.0.conv", stride=2); skips.append(h)
    h = res(h, "mid_block.resnets.0", temb); h = t2d(h, "mid_block.attentions.0", HEADS[-1], ctx, TLS[-1]); h = res(h, "mid_block.resnets.1", temb)
    for i, t in enumerate(UP):
        for j in range(LPB + 1):
            h = torch.cat([h, skips.pop()], dim=1)
            h = res(h, f"up_blocks.{i}.resnets.{j}", temb)
            if t.startswith("CrossAttn"): h = t2d(h, f"up_blocks.{i}.attentions.{j}", HEADS[len(BOC) - 1 - i], ctx, TLS[len(BOC) - 1 - i])
        if i < len(BOC) - 1: h = c2d(F.interpolate(h, scale_factor=2.0, mode="nearest"), f"up_blocks.{i}.upsamplers.0.conv")
    h = F.silu(F.group_norm(h, G, w["conv_norm_out.weight"], w["conv_norm_out.bias"], EPS))
    return c2d(h, "conv_out")
with torch.no_grad():
    t0 = time.time()
    ref = unet(x, ts, ctx)
    t_ref = time.time() - t0
    w32 = w
    w = {k: v.double() for k, v in w32.items()}  # the same forward in float64: how far fp32 itself is from exact
    if ADD_T: text_embeds = text_embeds.double()
    ref64 = unet(x.double(), ts, ctx.double())
    w = w32
    floor = ((ref.double() - ref64).norm() / ref64.norm()).item()
# --- surpass
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
t0 = time.time()
r = subprocess.run([surpass, "forward", "--model", "unet", "--inputs", "inputs.safetensors", "--out", "out.safetensors"],
                   capture_output=True, text=True)
t_run = time.time() - t0
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
print(r.stderr.strip()[-600:])
got = load_safetensors("out.safetensors")["sample"]
if got.shape != ref.shape: print(f"FAIL: shape {tuple(got.shape)}, expected {tuple(ref.shape)}"); sys.exit(1)
d = (got - ref).abs()
rel = ((got - ref).norm() / ref.norm()).item()
rel64 = ((got.double() - ref64).norm() / ref64.norm()).item()
print(f"{KIND}: heads {HEADS} (head dims {[c // n for c, n in zip(BOC, HEADS)]}), latents {B}x{IN}x{H}x{W}, S {S}: "
      f"max |diff| {d.max():.3e}, relative L2 {rel:.3e} (to the fp64 forward: {rel64:.3e}; PyTorch fp32's own: {floor:.3e}), "
      f"|ref| max {ref.abs().max():.2f}; PyTorch fp32 forward {t_ref:.1f} s, "
      f"`surpass forward` (JVM start, load, forward) {t_run:.1f} s")
if not (d.max() <= 1e-3 and rel <= 2e-5): print("FAIL"); sys.exit(1)
