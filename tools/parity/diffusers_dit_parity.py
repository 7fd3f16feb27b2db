# surpass's DiT in diffusers' layout against diffusers' DiTTransformer2DModel arithmetic, without diffusers installed: a
# random DiTTransformer2DModel (4 heads of 72 as DiT-XL, 3 blocks, 16x16 latents, patch 2, learned sigma, 10 classes) is
# written as a DiTPipeline folder (model_index.json, transformer/config.json, diffusion_pytorch_model.safetensors) with
# every block's norm1.emb initialised on its own, as a freshly constructed diffusers model has them; the output is computed
# here by an fp32 PyTorch forward that follows diffusers' modules (PatchEmbed with its sin-cos table, Timesteps(256,
# flip_sin_to_cos=True, downscale_freq_shift=1), TimestepEmbedding, LabelEmbedding, AdaLayerNormZero, BasicTransformerBlock
# with norm3 at norm_eps, Attention, FeedForward gelu-approximate, proj_out_1/2 and the unpatchify einsum) and compared
# with `surpass forward` on the folder. Run from an empty folder: python3 diffusers_dit_parity.py
import json, math, os, subprocess, sys, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
HEADS, HD, L, S, P, C, NC, N = 4, 72, 3, 16, 2, 4, 10, 3
D, OC, EPS = HEADS * HD, 2 * C, float(os.environ.get("NORM_EPS", "1e-5"))
def lin(o, i, s=None): return torch.randn(o, i) * (s if s else i ** -0.5), 0.1 * torch.randn(o)
w = {}
w["pos_embed.proj.weight"] = torch.randn(D, C, P, P) / (C * P * P) ** 0.5; w["pos_embed.proj.bias"] = 0.1 * torch.randn(D)
for l in range(L):
    b = f"transformer_blocks.{l}."
    e = b + "norm1.emb."
    w[e + "timestep_embedder.linear_1.weight"], w[e + "timestep_embedder.linear_1.bias"] = lin(D, 256)
    w[e + "timestep_embedder.linear_2.weight"], w[e + "timestep_embedder.linear_2.bias"] = lin(D, D)
    w[e + "class_embedder.embedding_table.weight"] = 0.5 * torch.randn(NC + 1, D)
    w[b + "norm1.linear.weight"], w[b + "norm1.linear.bias"] = lin(6 * D, D, 0.5 / D ** 0.5)
    for n in ("to_q", "to_k", "to_v", "to_out.0"):
        w[b + "attn1." + n + ".weight"], w[b + "attn1." + n + ".bias"] = lin(D, D, 1.5 / D ** 0.5 if n != "to_out.0" else None)
    w[b + "ff.net.0.proj.weight"], w[b + "ff.net.0.proj.bias"] = lin(4 * D, D)
    w[b + "ff.net.2.weight"], w[b + "ff.net.2.bias"] = lin(D, 4 * D)
w["proj_out_1.weight"], w["proj_out_1.bias"] = lin(2 * D, D, 0.5 / D ** 0.5)
w["proj_out_2.weight"], w["proj_out_2.bias"] = lin(P * P * OC, D)
os.makedirs("pipe/transformer", exist_ok=True)
save_safetensors(w, "pipe/transformer/diffusion_pytorch_model.safetensors")
cfg = {"_class_name": "DiTTransformer2DModel", "_diffusers_version": "0.35.0", "activation_fn": "gelu-approximate", "attention_bias": True,
       "attention_head_dim": HD, "dropout": 0.0, "in_channels": C, "norm_elementwise_affine": False, "norm_num_groups": 32,
       "norm_type": "ada_norm_zero", "num_attention_heads": HEADS, "num_embeds_ada_norm": NC, "num_layers": L, "out_channels": OC,
       "patch_size": P, "sample_size": S, "upcast_attention": False}
if "NORM_EPS" in os.environ: cfg["norm_eps"] = EPS
json.dump(cfg, open("pipe/transformer/config.json", "w"))
json.dump({"_class_name": "DiTPipeline", "transformer": ["diffusers", "DiTTransformer2DModel"]}, open("pipe/model_index.json", "w"))
x = torch.randn(N, C, S, S)
t = torch.tensor([999, 0, 417], dtype=torch.int64)
y = torch.tensor([3, NC, 0], dtype=torch.int64)
save_safetensors({"x": x, "t": t, "y": y}, "inputs.safetensors")
# --- diffusers' forward
def sincos_1d(E, pos):  # get_1d_sincos_pos_embed_from_grid (float64 omega)
    omega = torch.arange(E // 2, dtype=torch.float64) / (E / 2.0)
    omega = 1.0 / 10000 ** omega
    out = torch.outer(pos.reshape(-1), omega)
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)
g = S // P
gh = torch.arange(g, dtype=torch.float32) / (g / g) / 1.0
gw = torch.arange(g, dtype=torch.float32) / (g / g) / 1.0
grid = torch.stack(torch.meshgrid(gw, gh, indexing="xy"), dim=0).reshape(2, 1, g, g)
pos = torch.cat([sincos_1d(D // 2, grid[0]), sincos_1d(D // 2, grid[1])], dim=1).float()[None]
def timestep_proj(ts):  # get_timestep_embedding(ts, 256, flip_sin_to_cos=True, downscale_freq_shift=1)
    half = 128
    exponent = -math.log(10000) * torch.arange(0, half, dtype=torch.float32) / (half - 1)
    emb = ts[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    return torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
def linear(v, name): return F.linear(v, w[name + ".weight"], w[name + ".bias"])
def cond(l):
    e = f"transformer_blocks.{l}.norm1.emb."
    te = linear(F.silu(linear(timestep_proj(t), e + "timestep_embedder.linear_1")), e + "timestep_embedder.linear_2")
    return te + w[e + "class_embedder.embedding_table.weight"][y]
h = F.conv2d(x, w["pos_embed.proj.weight"], w["pos_embed.proj.bias"], stride=P).flatten(2).transpose(1, 2) + pos
for l in range(L):
    b = f"transformer_blocks.{l}."
    emb = linear(F.silu(cond(l)), b + "norm1.linear")
    sh_msa, sc_msa, g_msa, sh_mlp, sc_mlp, g_mlp = emb.chunk(6, dim=1)
    a = F.layer_norm(h, (D,), eps=1e-6) * (1 + sc_msa[:, None]) + sh_msa[:, None]
    q, k, v = (linear(a, b + "attn1." + n).view(N, -1, HEADS, HD).transpose(1, 2) for n in ("to_q", "to_k", "to_v"))
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HD), dim=-1) @ v
    att = linear(att.transpose(1, 2).reshape(N, -1, D), b + "attn1.to_out.0")
    h = g_msa.unsqueeze(1) * att + h
    m = F.layer_norm(h, (D,), eps=EPS) * (1 + sc_mlp[:, None]) + sh_mlp[:, None]
    ff = linear(F.gelu(linear(m, b + "ff.net.0.proj"), approximate="tanh"), b + "ff.net.2")
    h = g_mlp.unsqueeze(1) * ff + h
shift, scale = linear(F.silu(cond(0)), "proj_out_1").chunk(2, dim=1)
h = F.layer_norm(h, (D,), eps=1e-6) * (1 + scale[:, None]) + shift[:, None]
h = linear(h, "proj_out_2").reshape(-1, g, g, P, P, OC)
ref = torch.einsum("nhwpqc->nchpwq", h).reshape(-1, OC, g * P, g * P)
# --- surpass
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "pipe", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode != 0:
    print(r.stdout, r.stderr); sys.exit(1)
out = load_safetensors("out.safetensors")["output"]
err = (out - ref).abs().max().item()
rel = ((out - ref).norm() / ref.norm()).item()
print(f"diffusers DiT {HEADS}x{HD} L{L} {S}x{S}: max|d| {err:.3g}, relL2 {rel:.3g}, |ref| max {ref.abs().max().item():.3g}")
sys.exit(0 if rel < 1e-5 else 1)
