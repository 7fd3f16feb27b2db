# surpass's DistilBERT against HF DistilBertModel's arithmetic, without transformers installed: a random DistilBERT
# (dim 384, 6 heads of 64, 3 layers, hidden_dim 1536, learned positions) is written in HF's naming (distilbert.*), the
# last hidden state of a padded batch is computed here by an fp32 PyTorch forward that follows transformers'
# modeling_distilbert (word + position embeddings, LayerNorm eps 1e-12, q scaled by 1/sqrt(head dim) before the product,
# masked_fill with the dtype's minimum, sa_layer_norm(attn + x), output_layer_norm(lin2(gelu(lin1(x))) + x)), then the
# sentence-transformers mean pooling + Normalize of all-distilroberta-style folders, and compared with `surpass forward`.
# Run from an empty folder: python3 hf_distilbert_parity.py
import json, math, os, subprocess, sys, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
E, H, NL, FF, V, P, B, T = 384, 6, 3, 1536, 500, 128, 3, 40
D = E // H
w = {"distilbert.embeddings.word_embeddings.weight": 0.5 * torch.randn(V, E),
     "distilbert.embeddings.position_embeddings.weight": 0.2 * torch.randn(P, E),
     "distilbert.embeddings.LayerNorm.weight": 1 + 0.1 * torch.randn(E), "distilbert.embeddings.LayerNorm.bias": 0.1 * torch.randn(E)}
for l in range(NL):
    p = f"distilbert.transformer.layer.{l}."
    for n in ("q_lin", "k_lin", "v_lin", "out_lin"):
        w[p + "attention." + n + ".weight"] = torch.randn(E, E) / E ** 0.5; w[p + "attention." + n + ".bias"] = 0.1 * torch.randn(E)
    for n in ("sa_layer_norm", "output_layer_norm"):
        w[p + n + ".weight"] = 1 + 0.1 * torch.randn(E); w[p + n + ".bias"] = 0.1 * torch.randn(E)
    w[p + "ffn.lin1.weight"] = torch.randn(FF, E) / E ** 0.5; w[p + "ffn.lin1.bias"] = 0.1 * torch.randn(FF)
    w[p + "ffn.lin2.weight"] = torch.randn(E, FF) / FF ** 0.5; w[p + "ffn.lin2.bias"] = 0.1 * torch.randn(E)
os.makedirs("ckpt", exist_ok=True)
save_safetensors(w, "ckpt/model.safetensors")
json.dump({"model_type": "distilbert", "architectures": ["DistilBertModel"], "dim": E, "n_layers": NL, "n_heads": H, "hidden_dim": FF,
           "vocab_size": V, "max_position_embeddings": P, "activation": "gelu", "sinusoidal_pos_embds": False, "pad_token_id": 0},
          open("ckpt/config.json", "w"))
lengths = [T, 17, 1]
ids = torch.randint(1, V, (B, T)); mask = torch.zeros(B, T, dtype=torch.int64)
for b, n in enumerate(lengths): mask[b, :n] = 1; ids[b, n:] = 0
save_safetensors({"input_ids": ids, "attention_mask": mask}, "inputs.safetensors")
# --- HF forward
x = w["distilbert.embeddings.word_embeddings.weight"][ids] + w["distilbert.embeddings.position_embeddings.weight"][torch.arange(T)][None]
x = F.layer_norm(x, (E,), w["distilbert.embeddings.LayerNorm.weight"], w["distilbert.embeddings.LayerNorm.bias"], 1e-12)
def lin(v, n): return F.linear(v, w[n + ".weight"], w[n + ".bias"])
for l in range(NL):
    p = f"distilbert.transformer.layer.{l}."
    q, k, v = (lin(x, p + "attention." + n).view(B, T, H, D).transpose(1, 2) for n in ("q_lin", "k_lin", "v_lin"))
    q = q / math.sqrt(D)
    scores = q @ k.transpose(2, 3)
    scores = scores.masked_fill((mask == 0).view(B, 1, 1, T), torch.finfo(scores.dtype).min)
    ctx = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, E)
    x = F.layer_norm(lin(ctx, p + "attention.out_lin") + x, (E,), w[p + "sa_layer_norm.weight"], w[p + "sa_layer_norm.bias"], 1e-12)
    ff = lin(F.gelu(lin(x, p + "ffn.lin1")), p + "ffn.lin2")
    x = F.layer_norm(ff + x, (E,), w[p + "output_layer_norm.weight"], w[p + "output_layer_norm.bias"], 1e-12)
# --- surpass
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode != 0:
    print(r.stdout, r.stderr); sys.exit(1)
out = load_safetensors("out.safetensors")["last_hidden_state"]
real = mask.bool()
err = (out - x)[real].abs().max().item()
rel = ((out - x)[real].norm() / x[real].norm()).item()
print(f"DistilBERT {E}/{H}x{D} L{NL}, lengths {lengths}: last_hidden_state over the real tokens max|d| {err:.3g}, relL2 {rel:.3g}")
sys.exit(0 if rel < 1e-5 else 1)
