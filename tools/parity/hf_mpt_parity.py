# surpass's MPT against HF MptForCausalLM's arithmetic, without transformers installed: a small random checkpoint
# (d_model 384, 12 heads of 32 — not a power of two, where MPT's slopes differ from BLOOM's — 2 layers, alibi_bias_max 8,
# no biases, tied head, names under transformer.) is written, and the logits of a T-token sequence are computed here by a
# PyTorch forward that follows transformers' modeling_mpt: Wqkv(norm_1(x)).chunk(3), scores·softmax_scale + HF's
# build_alibi_bias (gen_slopes · arange(1 − L, 1)), the causal mask, fp32 softmax, out_proj + residual, exact GELU MLP,
# norm_f, the tied head; in fp32 and float64. Compared with `surpass forward` (relL2, max |diff|), then greedy ids of
# `surpass generate` against the transcription's greedy decode. Run from an empty folder: python3 hf_mpt_parity.py [T]
import json, math, os, subprocess, sys, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
E, H, NL, V, T = 384, 12, 2, 300, int(sys.argv[1]) if len(sys.argv) > 1 else 300
D, F, MAX_BIAS = E // H, 4 * E, 8
PROMPT, STEPS = 12, 16
# a small embedding: with the tied head, logits are then not dominated by the current token's own embedding (which
# would make every model, right or wrong, echo the same greedy ids)
w = {"transformer.wte.weight": 0.3 * torch.randn(V, E), "transformer.norm_f.weight": 1 + 0.1 * torch.randn(E)}
for l in range(NL):
    p = f"transformer.blocks.{l}."
    w[p + "norm_1.weight"] = 1 + 0.1 * torch.randn(E); w[p + "norm_2.weight"] = 1 + 0.1 * torch.randn(E)
    w[p + "attn.Wqkv.weight"] = 2 * torch.randn(3 * E, E) / E ** 0.5; w[p + "attn.out_proj.weight"] = torch.randn(E, E) / E ** 0.5
    w[p + "ffn.up_proj.weight"] = torch.randn(F, E) / E ** 0.5; w[p + "ffn.down_proj.weight"] = torch.randn(E, F) / F ** 0.5
os.makedirs("ckpt", exist_ok=True)
save_safetensors(w, "ckpt/model.safetensors")
json.dump({"model_type": "mpt", "architectures": ["MptForCausalLM"], "d_model": E, "n_layers": NL, "n_heads": H, "vocab_size": V,
           "max_seq_len": 2048, "expansion_ratio": 4, "no_bias": True, "layer_norm_epsilon": 1e-5, "eos_token_id": 0,
           "attn_config": {"alibi": True, "alibi_bias_max": MAX_BIAS, "softmax_scale": None, "qk_ln": False, "clip_qkv": None,
                           "prefix_lm": False, "attn_uses_sequence_id": False}}, open("ckpt/config.json", "w"))
ids = torch.randint(0, V, (1, T))
save_safetensors({"input_ids": ids}, "inputs.safetensors")

def gen_slopes(n_heads, alibi_bias_max=8):  # transformers' modeling_mpt
    _n_heads = 2 ** math.ceil(math.log2(n_heads))
    m = torch.arange(1, _n_heads + 1, dtype=torch.float32)
    m = m.mul(alibi_bias_max / _n_heads)
    slopes = 1.0 / torch.pow(2, m)
    if _n_heads != n_heads:
        slopes = torch.concat([slopes[1::2], slopes[::2]])[:n_heads]
    return slopes.view(1, n_heads, 1, 1)

def build_alibi_bias(n_heads, seq_len, alibi_bias_max, dtype):
    alibi_bias = torch.arange(1 - seq_len, 1, dtype=torch.int32).view(1, 1, 1, seq_len)
    return (alibi_bias * gen_slopes(n_heads, alibi_bias_max)).to(dtype=dtype).squeeze(0)

def forward(tokens, dt):
    W = {k: v.to(dt) for k, v in w.items()}
    L = tokens.shape[1]
    ln = lambda x, wt: torch.nn.functional.layer_norm(x, (E,), wt, None, 1e-5)
    bias = build_alibi_bias(H, L, MAX_BIAS, dt)  # [H, 1, L]: the last L of max_seq_len's, as HF slices it
    mask = torch.ones(L, L, dtype=torch.bool).triu(1)
    scale = 1 / math.sqrt(E / H)
    x = W["transformer.wte.weight"][tokens]
    for l in range(NL):
        p = f"transformer.blocks.{l}."
        q, k, v = (ln(x, W[p + "norm_1.weight"]) @ W[p + "attn.Wqkv.weight"].T).chunk(3, dim=2)
        q, k, v = (t.reshape(1, L, H, D).transpose(1, 2) for t in (q, k, v))
        s = torch.matmul(q, k.transpose(-1, -2)) * scale + bias
        s = s.masked_fill(mask, torch.finfo(dt).min)
        a = torch.softmax(s.float(), dim=-1).type_as(s)
        ctx = torch.matmul(a, v).permute(0, 2, 1, 3).reshape(1, L, E)
        x = ctx @ W[p + "attn.out_proj.weight"].T + x
        u = torch.nn.functional.gelu(ln(x, W[p + "norm_2.weight"]) @ W[p + "ffn.up_proj.weight"].T)
        x = u @ W[p + "ffn.down_proj.weight"].T + x
    return ln(x, W["transformer.norm_f.weight"]) @ W["transformer.wte.weight"].T

ref32, ref64 = forward(ids, torch.float32), forward(ids, torch.float64)
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
got = load_safetensors("out.safetensors")["logits"].double()
assert list(got.shape) == [1, T, V], got.shape
for name, ref in (("fp32", ref32.double()), ("float64", ref64)):
    d = (got - ref).abs()
    print(f"MPT {H} heads, T={T} logits vs the {name} transcription: relL2 {((got - ref).norm() / ref.norm()).item():.3e}, "
          f"max |diff| {d.max().item():.3e}, |ref| max {ref.abs().max().item():.2f}")
d64 = (got - ref64).abs().max().item()
prompt = ids[0, :PROMPT].tolist()
seq, greedy = list(prompt), []
for _ in range(STEPS):
    nxt = int(forward(torch.tensor([seq]), torch.float64)[0, -1].argmax()); greedy.append(nxt); seq.append(nxt)
r = subprocess.run([surpass, "generate", "--model", "ckpt", "--ids", ",".join(str(i) for i in prompt), "--max-new-tokens", str(STEPS),
                    "--ignore-eos"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
gen = [int(s) for s in r.stdout.split()]
print(f"greedy continuation of a {PROMPT}-token prompt, {STEPS} tokens: {'same ids' if gen == greedy else 'DIFFERENT ids'}")
if gen != greedy: print("  reference", greedy, "\n  surpass  ", gen); sys.exit(1)
if not d64 <= 1e-3: print("FAIL: max |diff| > 1e-3"); sys.exit(1)
