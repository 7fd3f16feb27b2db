# surpass's MPNet against HF MPNetModel's arithmetic, without transformers installed: a random all-mpnet-base-v2-shaped
# MPNet (hidden 768, 12 heads of 64, 3 layers, intermediate 3072, 514 positions, 32 relative buckets, eps 1e-5, a pooler)
# is written in HF's naming (mpnet.*), and a padded batch (lengths 150 / 40 / 17 / 1, padded with id 1) is run here by an
# fp32 PyTorch forward transcribed from transformers' modeling_mpnet (positions from padding id 1 as
# create_position_ids_from_input_ids, word + position embeddings, LayerNorm; per layer q/k/v, scores / sqrt(64) + the
# relative position bias of relative_position_bucket (num_buckets 32, max_distance 128) + the extended mask
# (1 - mask) * float32 min, softmax, o, attention.LayerNorm(o + x), output.LayerNorm(dense(gelu(intermediate)) + x);
# pooler tanh(dense(x[:, 0]))), then compared with `surpass forward` (last_hidden_state and pooler_output).
# The 150-token row reaches the far buckets (|i - j| >= 91).
# Run from an empty folder: python3 hf_mpnet_parity.py
import json, math, os, subprocess, sys, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
E, H, NL, FF, V, P, NB, EPS, PAD = 768, 12, 3, 3072, 700, 514, 32, 1e-5, 1
D = E // H
lengths = [150, 40, 17, 1]
B, T = len(lengths), max(lengths)
w = {"mpnet.embeddings.word_embeddings.weight": 0.5 * torch.randn(V, E),
     "mpnet.embeddings.position_embeddings.weight": 0.2 * torch.randn(P, E),
     "mpnet.embeddings.LayerNorm.weight": 1 + 0.1 * torch.randn(E), "mpnet.embeddings.LayerNorm.bias": 0.1 * torch.randn(E),
     "mpnet.encoder.relative_attention_bias.weight": 1.0 * torch.randn(NB, H),
     "mpnet.pooler.dense.weight": torch.randn(E, E) / E ** 0.5, "mpnet.pooler.dense.bias": 0.1 * torch.randn(E)}
for l in range(NL):
    p = f"mpnet.encoder.layer.{l}."
    for n in ("q", "k", "v", "o"):
        w[p + "attention.attn." + n + ".weight"] = 1.5 * torch.randn(E, E) / E ** 0.5; w[p + "attention.attn." + n + ".bias"] = 0.1 * torch.randn(E)
    for n in ("attention.LayerNorm", "output.LayerNorm"):
        w[p + n + ".weight"] = 1 + 0.1 * torch.randn(E); w[p + n + ".bias"] = 0.1 * torch.randn(E)
    w[p + "intermediate.dense.weight"] = torch.randn(FF, E) / E ** 0.5; w[p + "intermediate.dense.bias"] = 0.1 * torch.randn(FF)
    w[p + "output.dense.weight"] = torch.randn(E, FF) / FF ** 0.5; w[p + "output.dense.bias"] = 0.1 * torch.randn(E)
os.makedirs("ckpt", exist_ok=True)
save_safetensors(w, "ckpt/model.safetensors")
json.dump({"model_type": "mpnet", "architectures": ["MPNetModel"], "hidden_size": E, "num_hidden_layers": NL, "num_attention_heads": H,
           "intermediate_size": FF, "vocab_size": V, "max_position_embeddings": P, "hidden_act": "gelu", "layer_norm_eps": EPS,
           "relative_attention_num_buckets": NB, "pad_token_id": PAD, "bos_token_id": 0, "eos_token_id": 2}, open("ckpt/config.json", "w"))
ids = torch.randint(2, V, (B, T)); mask = torch.zeros(B, T, dtype=torch.int64)
for b, n in enumerate(lengths): mask[b, :n] = 1; ids[b, n:] = PAD
save_safetensors({"input_ids": ids, "attention_mask": mask}, "inputs.safetensors")
# --- HF forward
m = ids.ne(PAD).int()
pos = (torch.cumsum(m, dim=1).type_as(m) * m).long() + PAD
x = w["mpnet.embeddings.word_embeddings.weight"][ids] + w["mpnet.embeddings.position_embeddings.weight"][pos]
x = F.layer_norm(x, (E,), w["mpnet.embeddings.LayerNorm.weight"], w["mpnet.embeddings.LayerNorm.bias"], EPS)
def bucket(relative_position, num_buckets=32, max_distance=128):
    ret = 0
    n = -relative_position
    num_buckets //= 2
    ret += (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)).to(torch.long)
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    return ret + torch.where(is_small, n, val_if_large)
rel = torch.arange(T)[None, :] - torch.arange(T)[:, None]
bias = w["mpnet.encoder.relative_attention_bias.weight"][bucket(rel)].permute(2, 0, 1).unsqueeze(0).expand(B, -1, T, T)
ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
def lin(v, n): return F.linear(v, w[n + ".weight"], w[n + ".bias"])
for l in range(NL):
    p = f"mpnet.encoder.layer.{l}."
    q, k, v = (lin(x, p + "attention.attn." + n).view(B, T, H, D).transpose(1, 2) for n in ("q", "k", "v"))
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D)
    scores += bias
    scores = scores + ext
    ctx = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(B, T, E)
    x = F.layer_norm(lin(ctx, p + "attention.attn.o") + x, (E,), w[p + "attention.LayerNorm.weight"], w[p + "attention.LayerNorm.bias"], EPS)
    ff = lin(F.gelu(lin(x, p + "intermediate.dense")), p + "output.dense")
    x = F.layer_norm(ff + x, (E,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], EPS)
pooled = torch.tanh(lin(x[:, 0], "mpnet.pooler.dense"))
# --- surpass
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode != 0:
    print(r.stdout, r.stderr); sys.exit(1)
got = load_safetensors("out.safetensors")
out, pool = got["last_hidden_state"], got["pooler_output"]
real = mask.bool()
err = (out - x)[real].abs().max().item()
rel_real = ((out - x)[real].norm() / x[real].norm()).item()
err_all = (out - x).abs().max().item()
rel_all = ((out - x).norm() / x.norm()).item()
perr = (pool - pooled).abs().max().item()
prel = ((pool - pooled).norm() / pooled.norm()).item()
print(f"MPNet {E}/{H}x{D} L{NL}, {NB} buckets, lengths {lengths}: last_hidden_state over the real tokens max|d| {err:.3g}, relL2 {rel_real:.3g};"
      f" every row (padded ones too) max|d| {err_all:.3g}, relL2 {rel_all:.3g}; pooler_output max|d| {perr:.3g}, relL2 {prel:.3g}")
sys.exit(0 if rel_real < 1e-5 and rel_all < 1e-5 and prel < 1e-5 else 1)
