# surpass's Phi against HF PhiForCausalLM's arithmetic, without transformers installed: a small random Phi-2-shaped
# checkpoint (hidden 320, 4 heads of 80, partial_rotary_factor 0.4: RoPE on the first 32 dims of each head, biases on
# q/k/v/dense/fc1/fc2/lm_head, LayerNorms with bias, gelu_new, untied head) is written in HF naming, the logits of a
# T-token sequence are computed here by an fp32 PyTorch forward that follows transformers' modeling_phi (q_rot / q_pass
# split, eager softmax attention scaled by head_dim^-0.5, attention and MLP from the same normed input, added as
# attn + mlp + residual), and compared with `surpass forward` (SURPASS=path/to/surpass to test another build).
# QK=1 sets qk_layernorm (a LayerNorm over each head's q and k before RoPE); GQA=1 gives 2 kv-heads;
# V5=1 writes transformers 5's rope_parameters instead of the top-level partial_rotary_factor / rope_theta.
# Run from an empty folder: python3 hf_phi_parity.py [T]   (PyTorch >= 1.13; Debian's python3-torch works)
import json, math, os, subprocess, sys, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
E, H, NL, F, V, T = 320, 4, 2, 1280, 300, int(sys.argv[1]) if len(sys.argv) > 1 else 300
D, PRF, QK = E // H, 0.4, os.environ.get("QK") == "1"
HKV = 2 if os.environ.get("GQA") == "1" else H
R, EPS, THETA = int(D * PRF), 1e-5, 10000.0
w = {"model.embed_tokens.weight": torch.randn(V, E), "model.final_layernorm.weight": 1 + 0.1 * torch.randn(E),
     "model.final_layernorm.bias": 0.1 * torch.randn(E), "lm_head.weight": torch.randn(V, E) / E ** 0.5, "lm_head.bias": 0.5 * torch.randn(V)}
for l in range(NL):
    p = f"model.layers.{l}."
    w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(E); w[p + "input_layernorm.bias"] = 0.1 * torch.randn(E)
    for n, rows in (("q", H * D), ("k", HKV * D), ("v", HKV * D)):
        w[p + f"self_attn.{n}_proj.weight"] = torch.randn(rows, E) / E ** 0.5; w[p + f"self_attn.{n}_proj.bias"] = 0.2 * torch.randn(rows)
    w[p + "self_attn.dense.weight"] = torch.randn(E, H * D) / (H * D) ** 0.5; w[p + "self_attn.dense.bias"] = 0.1 * torch.randn(E)
    if QK:
        for n in ("q_layernorm", "k_layernorm"):
            w[p + f"self_attn.{n}.weight"] = 1 + 0.3 * torch.randn(D); w[p + f"self_attn.{n}.bias"] = 0.2 * torch.randn(D)
    w[p + "mlp.fc1.weight"] = torch.randn(F, E) / E ** 0.5; w[p + "mlp.fc1.bias"] = 0.1 * torch.randn(F)
    w[p + "mlp.fc2.weight"] = torch.randn(E, F) / F ** 0.5; w[p + "mlp.fc2.bias"] = 0.1 * torch.randn(E)
os.makedirs("ckpt", exist_ok=True)
save_safetensors(w, "ckpt/model.safetensors")
rope = ({"rope_parameters": {"rope_type": "default", "rope_theta": THETA, "partial_rotary_factor": PRF}} if os.environ.get("V5") == "1"
        else {"rope_theta": THETA, "partial_rotary_factor": PRF})
json.dump({"model_type": "phi", "architectures": ["PhiForCausalLM"], "hidden_size": E, "num_hidden_layers": NL, "num_attention_heads": H,
           "num_key_value_heads": HKV, "intermediate_size": F, "vocab_size": V, "max_position_embeddings": 2048, "layer_norm_eps": EPS,
           "hidden_act": "gelu_new", "qk_layernorm": QK, "tie_word_embeddings": False, **rope}, open("ckpt/config.json", "w"))
ids = torch.randint(0, V, (1, T))
save_safetensors({"input_ids": ids}, "inputs.safetensors")
# --- HF forward (fp32, eager)
inv = 1.0 / (THETA ** (torch.arange(0, R, 2, dtype=torch.int64).to(dtype=torch.float) / R))  # over the rotary dims
pos = torch.arange(T)[None]
freqs = (inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2); emb = torch.cat((freqs, freqs), -1)
cos, sin = emb.cos()[:, None], emb.sin()[:, None]
def ln(x, wt, b): return torch.nn.functional.layer_norm(x, (x.shape[-1],), wt, b, EPS)
def lin(x, name): return x @ w[name + ".weight"].T + w[name + ".bias"]
def gelu_new(x): return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
def rotate_half(x): return torch.cat((-x[..., x.shape[-1] // 2:], x[..., : x.shape[-1] // 2]), -1)
def rope_partial(x):  # modeling_phi: query_rot, query_pass = x[..., :R], x[..., R:]
    xr, xp = x[..., :R], x[..., R:]
    return torch.cat((xr * cos + rotate_half(xr) * sin, xp), -1)
x = w["model.embed_tokens.weight"][ids]
mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)
for l in range(NL):
    p = f"model.layers.{l}."
    h = ln(x, w[p + "input_layernorm.weight"], w[p + "input_layernorm.bias"])
    q = lin(h, p + "self_attn.q_proj").view(1, T, H, D).transpose(1, 2)
    k = lin(h, p + "self_attn.k_proj").view(1, T, HKV, D).transpose(1, 2)
    v = lin(h, p + "self_attn.v_proj").view(1, T, HKV, D).transpose(1, 2)
    if QK:
        q = ln(q, w[p + "self_attn.q_layernorm.weight"], w[p + "self_attn.q_layernorm.bias"])
        k = ln(k, w[p + "self_attn.k_layernorm.weight"], w[p + "self_attn.k_layernorm.bias"])
    q, k = rope_partial(q), rope_partial(k)
    k, v = k.repeat_interleave(H // HKV, 1), v.repeat_interleave(H // HKV, 1)
    a = torch.softmax(q @ k.transpose(2, 3) * D ** -0.5 + mask, -1, dtype=torch.float32) @ v
    attn = lin(a.transpose(1, 2).reshape(1, T, H * D), p + "self_attn.dense")
    mlp = lin(gelu_new(lin(h, p + "mlp.fc1")), p + "mlp.fc2")
    x = attn + mlp + x
ref = lin(ln(x, w["model.final_layernorm.weight"], w["model.final_layernorm.bias"]), "lm_head")
# --- surpass
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
got = load_safetensors("out.safetensors")["logits"]
d = (got.view(-1, V) - ref.view(-1, V)).abs()
print(f"T={T} logits: max |diff| {d.max():.3e}, max rel (1+|ref|) {(d / (1 + ref.view(-1, V).abs())).max():.3e}, |ref| max {ref.abs().max():.2f}")
for t in [0, 63, T // 2, T - 1]: print(f"  position {t}: max |diff| {d[t].max():.3e}")
