# surpass's GPT-NeoX (Pythia) against HF GPTNeoXForCausalLM's arithmetic, without transformers installed: a small random
# checkpoint (hidden 256, 4 heads of 64, rotary_pct 0.25, parallel residual, biases, untied embed_out) is written with
# the fused per-head query_key_value, the logits of a T-token sequence are computed here by an fp32 PyTorch forward that
# follows transformers' modeling_gpt_neox (qkv.view(..., heads, 3·head_dim).chunk(3), rotate-half RoPE on the first
# rotary dims, eager softmax attention, mlp + attn + x), and compared with `surpass forward`.
# SEQUENTIAL=1 writes use_parallel_residual false. Run from an empty folder: python3 hf_neox_parity.py [T]
import json, math, os, subprocess, sys, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
E, H, NL, F, V, T = 256, 4, 2, 1024, 300, int(sys.argv[1]) if len(sys.argv) > 1 else 300
D, PCT, PAR = E // H, 0.25, os.environ.get("SEQUENTIAL") != "1"
R = int(D * PCT)
w = {"gpt_neox.embed_in.weight": torch.randn(V, E), "gpt_neox.final_layer_norm.weight": 1 + 0.1 * torch.randn(E),
     "gpt_neox.final_layer_norm.bias": 0.1 * torch.randn(E), "embed_out.weight": torch.randn(V, E) / E ** 0.5}
for l in range(NL):
    p = f"gpt_neox.layers.{l}."
    for n in ("input_layernorm", "post_attention_layernorm"):
        w[p + n + ".weight"] = 1 + 0.1 * torch.randn(E); w[p + n + ".bias"] = 0.1 * torch.randn(E)
    w[p + "attention.query_key_value.weight"] = torch.randn(3 * E, E) / E ** 0.5; w[p + "attention.query_key_value.bias"] = 0.1 * torch.randn(3 * E)
    w[p + "attention.dense.weight"] = torch.randn(E, E) / E ** 0.5; w[p + "attention.dense.bias"] = 0.1 * torch.randn(E)
    w[p + "mlp.dense_h_to_4h.weight"] = torch.randn(F, E) / E ** 0.5; w[p + "mlp.dense_h_to_4h.bias"] = 0.1 * torch.randn(F)
    w[p + "mlp.dense_4h_to_h.weight"] = torch.randn(E, F) / F ** 0.5; w[p + "mlp.dense_4h_to_h.bias"] = 0.1 * torch.randn(E)
os.makedirs("ckpt", exist_ok=True)
save_safetensors(w, "ckpt/model.safetensors")
json.dump({"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"], "hidden_size": E, "num_hidden_layers": NL,
           "num_attention_heads": H, "intermediate_size": F, "vocab_size": V, "max_position_embeddings": 2048, "rotary_pct": PCT,
           "rotary_emb_base": 10000, "layer_norm_eps": 1e-5, "hidden_act": "gelu", "use_parallel_residual": PAR,
           "tie_word_embeddings": False}, open("ckpt/config.json", "w"))
ids = torch.randint(0, V, (1, T))
save_safetensors({"input_ids": ids}, "inputs.safetensors")
# --- HF forward
inv = 1.0 / (10000 ** (torch.arange(0, R, 2, dtype=torch.int64).float() / R))
freqs = torch.arange(T).float()[:, None] * inv[None]; emb = torch.cat((freqs, freqs), -1); cos, sin = emb.cos(), emb.sin()
def rot(x): return torch.cat((-x[..., R // 2:], x[..., : R // 2]), -1)
def rope(x):
    xr, xp = x[..., :R], x[..., R:]
    return torch.cat((xr * cos + rot(xr) * sin, xp), -1)
ln = torch.nn.functional.layer_norm
mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)
x = w["gpt_neox.embed_in.weight"][ids]
for l in range(NL):
    p = f"gpt_neox.layers.{l}."
    a = ln(x, (E,), w[p + "input_layernorm.weight"], w[p + "input_layernorm.bias"], 1e-5)
    qkv = (a @ w[p + "attention.query_key_value.weight"].T + w[p + "attention.query_key_value.bias"]).view(1, T, H, 3 * D).transpose(1, 2)
    q, k, v = qkv.chunk(3, dim=-1)
    q, k = rope(q), rope(k)
    att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(D) + mask, -1, dtype=torch.float32) @ v
    attn = att.transpose(1, 2).reshape(1, T, E) @ w[p + "attention.dense.weight"].T + w[p + "attention.dense.bias"]
    def mlp(m):
        u = torch.nn.functional.gelu(m @ w[p + "mlp.dense_h_to_4h.weight"].T + w[p + "mlp.dense_h_to_4h.bias"])
        return u @ w[p + "mlp.dense_4h_to_h.weight"].T + w[p + "mlp.dense_4h_to_h.bias"]
    if PAR:
        x = mlp(ln(x, (E,), w[p + "post_attention_layernorm.weight"], w[p + "post_attention_layernorm.bias"], 1e-5)) + attn + x
    else:
        x = attn + x
        x = mlp(ln(x, (E,), w[p + "post_attention_layernorm.weight"], w[p + "post_attention_layernorm.bias"], 1e-5)) + x
ref = ln(x, (E,), w["gpt_neox.final_layer_norm.weight"], w["gpt_neox.final_layer_norm.bias"], 1e-5) @ w["embed_out.weight"].T
# --- surpass
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
got = load_safetensors("out.safetensors")["logits"]
d = (got.view(-1, V) - ref.view(-1, V)).abs()
print(f"{'parallel' if PAR else 'sequential'} residual, T={T} logits: max |diff| {d.max():.3e}, |ref| max {ref.abs().max():.2f}")
if not d.max() <= 1e-3: print("FAIL: max |diff| > 1e-3"); sys.exit(1)
