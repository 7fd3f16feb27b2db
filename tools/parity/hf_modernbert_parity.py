# surpass's ModernBERT against HF ModernBertModel's eager arithmetic, without transformers installed: a random
# ModernBERT-base-shaped model (hidden 768, 12 heads of 64, 4 layers: 0 and 3 global, 1 and 2 local, intermediate 1152,
# local_attention 128, no biases, norm_eps 1e-5, gelu) is written as ModernBertForMaskedLM saves it (model.* plus an
# MLM head and decoder that must be ignored), and a padded batch (lengths 300 / 40 / 1, padded with id 50283 -> here 1)
# is run here by an fp32 PyTorch forward transcribed from transformers' modeling_modernbert (eager path):
# x = LayerNorm(tok[ids]); per layer attn_norm (Identity on layer 0), Wqkv -> [B, T, 3, H, D], rotate-half RoPE at
# position arange(T) with global_rope_theta on layers i % 3 == 0 and local_rope_theta on the others (inv_freq and
# cos/sin in fp32), scores * D^-0.5 + mask (global: (1 - mask) * fp32 min; local: that mask with fp32 min where
# |i - j| > local_attention // 2), softmax, Wo, residual; mlp_norm, Wi chunked into input | gate, gelu(input) * gate,
# Wo, residual; final_norm. Then compared with `surpass forward` (last_hidden_state), over the real tokens and over
# every row; the same arithmetic in fp64 shows how far each fp32 result is from exact; the 300-token row is also run alone
# (no padding: surpass's fused kernel path). The 300-token row spans more
# than two windows.
# Run from an empty folder: python3 hf_modernbert_parity.py
import json, os, subprocess, sys, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
E, H, NL, FF, V, EPS, PAD, LOCAL, EVERY = 768, 12, 4, 1152, 700, 1e-5, 1, 128, 3
GLOBAL_THETA, LOCAL_THETA = 160000.0, 10000.0
D = E // H
lengths = [300, 40, 1]
B, T = len(lengths), max(lengths)
w = {"model.embeddings.tok_embeddings.weight": torch.randn(V, E), "model.embeddings.norm.weight": 1 + 0.1 * torch.randn(E),
     "model.final_norm.weight": 1 + 0.1 * torch.randn(E),
     "head.dense.weight": torch.randn(E, E) / E ** 0.5, "head.norm.weight": torch.ones(E), "decoder.weight": torch.randn(V, E),
     "decoder.bias": torch.zeros(V)}
for l in range(NL):
    p = f"model.layers.{l}."
    if l > 0: w[p + "attn_norm.weight"] = 1 + 0.1 * torch.randn(E)
    w[p + "attn.Wqkv.weight"] = 2.0 * torch.randn(3 * E, E) / E ** 0.5
    w[p + "attn.Wo.weight"] = torch.randn(E, E) / E ** 0.5
    w[p + "mlp_norm.weight"] = 1 + 0.1 * torch.randn(E)
    w[p + "mlp.Wi.weight"] = torch.randn(2 * FF, E) / E ** 0.5
    w[p + "mlp.Wo.weight"] = torch.randn(E, FF) / FF ** 0.5
os.makedirs("ckpt", exist_ok=True)
save_safetensors(w, "ckpt/model.safetensors")
json.dump({"model_type": "modernbert", "architectures": ["ModernBertForMaskedLM"], "hidden_size": E, "num_hidden_layers": NL,
           "num_attention_heads": H, "intermediate_size": FF, "vocab_size": V, "max_position_embeddings": 8192,
           "hidden_activation": "gelu", "norm_eps": EPS, "norm_bias": False, "attention_bias": False, "mlp_bias": False,
           "local_attention": LOCAL, "global_attn_every_n_layers": EVERY, "global_rope_theta": GLOBAL_THETA,
           "local_rope_theta": LOCAL_THETA, "pad_token_id": PAD, "bos_token_id": 0, "eos_token_id": 2}, open("ckpt/config.json", "w"))
ids = torch.randint(2, V, (B, T)); mask = torch.zeros(B, T, dtype=torch.int64)
for b, n in enumerate(lengths): mask[b, :n] = 1; ids[b, n:] = PAD
save_safetensors({"input_ids": ids, "attention_mask": mask}, "inputs.safetensors")
# --- HF forward (eager), in fp32 as HF runs it, and the same arithmetic in fp64 to see how far each fp32 result strays
def hf(dt):
    W = {k: t.to(dt) for k, t in w.items()}
    def ln(v, n): return F.layer_norm(v, (E,), W[n + ".weight"], None, EPS)
    def rotate_half(v): return torch.cat((-v[..., D // 2:], v[..., :D // 2]), dim=-1)
    def cos_sin(theta):  # HF: inv_freq and the angles in fp32, cos/sin then cast to the model dtype
        inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
        freqs = (inv_freq[None, :, None].float() @ torch.arange(T)[None, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos()[:, None].to(dt), emb.sin()[:, None].to(dt)  # [1, 1, T, D]
    fmin = torch.finfo(dt).min
    inverted = (1.0 - mask[:, None, None, :].to(dt)).expand(B, 1, T, T)
    global_mask = inverted.masked_fill(inverted.bool(), fmin)  # _prepare_4d_attention_mask
    rows = torch.arange(T).unsqueeze(0)
    window = (torch.abs(rows - rows.T) <= LOCAL // 2)[None, None]
    sliding_mask = global_mask.masked_fill(window.logical_not(), fmin)  # _update_attention_mask
    x = ln(W["model.embeddings.tok_embeddings.weight"][ids], "model.embeddings.norm")
    for l in range(NL):
        p = f"model.layers.{l}."
        hn = x if l == 0 else ln(x, p + "attn_norm")
        qkv = F.linear(hn, W[p + "attn.Wqkv.weight"]).view(B, -1, 3, H, D)
        q, k, v = qkv.transpose(3, 1).unbind(dim=2)
        local = l % EVERY != 0
        cos, sin = cos_sin(LOCAL_THETA if local else GLOBAL_THETA)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        scores = torch.matmul(q, k.transpose(2, 3)) * D ** -0.5 + (sliding_mask if local else global_mask)
        attn = torch.matmul(F.softmax(scores, dim=-1, dtype=torch.float32 if dt == torch.float32 else dt), v)
        x = x + F.linear(attn.transpose(1, 2).contiguous().view(B, -1, E), W[p + "attn.Wo.weight"])
        inp, gate = F.linear(ln(x, p + "mlp_norm"), W[p + "mlp.Wi.weight"]).chunk(2, dim=-1)
        x = x + F.linear(F.gelu(inp) * gate, W[p + "mlp.Wo.weight"])
    return ln(x, "model.final_norm")
x, x64 = hf(torch.float32), hf(torch.float64)
# --- surpass
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode != 0:
    print(r.stdout, r.stderr); sys.exit(1)
out = load_safetensors("out.safetensors")["last_hidden_state"]
real = mask.bool()
def cmp(a, b):
    d = a.double() - b.double()
    return d[real].abs().max().item(), (d[real].norm() / b.double()[real].norm()).item(), d.abs().max().item(), (d.norm() / b.double().norm()).item()
vs_hf, vs_64, hf_64 = cmp(out, x), cmp(out, x64), cmp(x, x64)
for name, c in (("surpass vs HF fp32", vs_hf), ("surpass vs fp64", vs_64), ("HF fp32 vs fp64", hf_64)):
    print(f"ModernBERT {E}/{H}x{D} L{NL}, local_attention {LOCAL}, lengths {lengths}, {name}: last_hidden_state over the real tokens"
          f" max|d| {c[0]:.3g}, relL2 {c[1]:.3g}; every row (padded ones too) max|d| {c[2]:.3g}, relL2 {c[3]:.3g}")
# the 300-token row alone, unpadded: surpass takes its fused kernel (window (64, 64) on local layers) instead
save_safetensors({"input_ids": ids[:1], "attention_mask": mask[:1]}, "inputs1.safetensors")
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs1.safetensors", "--out", "out1.safetensors"], capture_output=True, text=True)
if r.returncode != 0:
    print(r.stdout, r.stderr); sys.exit(1)
one = load_safetensors("out1.safetensors")["last_hidden_state"][0].double()
d1, d64 = one - x[0].double(), one - x64[0]
fused_hf, fused_64 = (d1.norm() / x[0].double().norm()).item(), (d64.norm() / x64[0].norm()).item()
print(f"the {lengths[0]}-token row alone (fused attention): vs HF fp32 max|d| {d1.abs().max().item():.3g}, relL2 {fused_hf:.3g};"
      f" vs fp64 max|d| {d64.abs().max().item():.3g}, relL2 {fused_64:.3g}")
# pass: surpass agrees with HF's fp32 result, and strays from fp64 no further than HF's fp32 does (with a margin)
sys.exit(0 if vs_hf[1] < 2e-5 and vs_hf[3] < 2e-5 and vs_64[1] < 2 * hf_64[1] + 1e-6 and fused_hf < 2e-5 and fused_64 < 2 * hf_64[1] + 1e-6 else 1)
