# surpass's BLOOM against HF BloomForCausalLM's arithmetic, without transformers installed: a small random checkpoint
# (hidden 256, 8 heads of 32, 2 layers, tied lm_head, keys without the transformer. prefix as on the hub) is written with
# the fused per-head query_key_value, and the logits of a T-token sequence are computed here by a PyTorch forward that
# follows transformers' modeling_bloom: word_embeddings_layernorm, qkv.view(B, L, H, 3, D), HF's own alibi tensor
# (build_alibi_tensor: slopes · key position from the attention mask's cumsum) added through
# alibi.baddbmm(q, kᵀ, beta=1, alpha=1/√D), the causal mask, fp32 softmax, dropout_add residuals (residual taken after the
# layer norm when POST_LN=1), bloom_gelu_forward, ln_f and the tied head; in fp32 and in float64. Compared with
# `surpass forward` (relL2, max |diff|), then greedy ids of `surpass generate` against the transcription's greedy decode.
# Run from an empty folder: python3 hf_bloom_parity.py [T]
import json, math, os, subprocess, sys, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
E, H, NL, V, T = 256, 8, 2, 300, int(sys.argv[1]) if len(sys.argv) > 1 else 300
D, F, POST_LN = E // H, 4 * E, os.environ.get("POST_LN") == "1"
PROMPT, STEPS = 12, 16
# a small embedding LayerNorm weight: with the tied head, logits are then not dominated by the current token's own
# embedding (which would make every model, right or wrong, echo the same greedy ids)
w = {"word_embeddings.weight": torch.randn(V, E), "word_embeddings_layernorm.weight": 0.3 * torch.randn(E),
     "word_embeddings_layernorm.bias": 0.1 * torch.randn(E), "ln_f.weight": 1 + 0.1 * torch.randn(E), "ln_f.bias": 0.1 * torch.randn(E)}
for l in range(NL):
    p = f"h.{l}."
    for n in ("input_layernorm", "post_attention_layernorm"):
        w[p + n + ".weight"] = 1 + 0.1 * torch.randn(E); w[p + n + ".bias"] = 0.1 * torch.randn(E)
    w[p + "self_attention.query_key_value.weight"] = 2 * torch.randn(3 * E, E) / E ** 0.5
    w[p + "self_attention.query_key_value.bias"] = 0.1 * torch.randn(3 * E)
    w[p + "self_attention.dense.weight"] = torch.randn(E, E) / E ** 0.5; w[p + "self_attention.dense.bias"] = 0.1 * torch.randn(E)
    w[p + "mlp.dense_h_to_4h.weight"] = torch.randn(F, E) / E ** 0.5; w[p + "mlp.dense_h_to_4h.bias"] = 0.1 * torch.randn(F)
    w[p + "mlp.dense_4h_to_h.weight"] = torch.randn(E, F) / F ** 0.5; w[p + "mlp.dense_4h_to_h.bias"] = 0.1 * torch.randn(E)
os.makedirs("ckpt", exist_ok=True)
save_safetensors(w, "ckpt/model.safetensors")
json.dump({"model_type": "bloom", "architectures": ["BloomForCausalLM"], "hidden_size": E, "n_layer": NL, "n_head": H,
           "vocab_size": V, "layer_norm_epsilon": 1e-5, "apply_residual_connection_post_layernorm": POST_LN,
           "pretraining_tp": 1, "slow_but_exact": False, "bos_token_id": 1, "eos_token_id": 2}, open("ckpt/config.json", "w"))
ids = torch.randint(0, V, (1, T))
save_safetensors({"input_ids": ids}, "inputs.safetensors")

def build_alibi_tensor(attention_mask, num_heads, dtype):  # transformers' modeling_bloom, as written there
    batch_size, seq_length = attention_mask.shape
    closest_power_of_2 = 2 ** math.floor(math.log2(num_heads))
    base = torch.tensor(2 ** (-(2 ** -(math.log2(closest_power_of_2) - 3))), device=attention_mask.device, dtype=torch.float32)
    powers = torch.arange(1, 1 + closest_power_of_2, device=attention_mask.device, dtype=torch.int32)
    slopes = torch.pow(base, powers)
    if closest_power_of_2 != num_heads:
        extra_base = torch.tensor(2 ** (-(2 ** -(math.log2(2 * closest_power_of_2) - 3))), device=attention_mask.device, dtype=torch.float32)
        num_remaining_heads = min(closest_power_of_2, num_heads - closest_power_of_2)
        extra_powers = torch.arange(1, 1 + 2 * num_remaining_heads, 2, device=attention_mask.device, dtype=torch.int32)
        slopes = torch.cat([slopes, torch.pow(extra_base, extra_powers)], dim=0)
    arange_tensor = ((attention_mask.cumsum(dim=-1) - 1) * attention_mask)[:, None, :]
    alibi = slopes[..., None] * arange_tensor
    return alibi.reshape(batch_size * num_heads, 1, seq_length).to(dtype)

def bloom_gelu(x): return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))

def forward(tokens, dt):
    W = {k: v.to(dt) for k, v in w.items()}
    ln = torch.nn.functional.layer_norm
    L = tokens.shape[1]
    alibi = build_alibi_tensor(torch.ones(1, L, dtype=torch.int64), H, dt)
    mask = torch.full((L, L), torch.finfo(dt).min, dtype=dt).triu(1)
    x = ln(W["word_embeddings.weight"][tokens], (E,), W["word_embeddings_layernorm.weight"], W["word_embeddings_layernorm.bias"], 1e-5)
    for l in range(NL):
        p = f"h.{l}."
        a = ln(x, (E,), W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"], 1e-5)
        residual = a if POST_LN else x
        fused = (a @ W[p + "self_attention.query_key_value.weight"].T + W[p + "self_attention.query_key_value.bias"]).view(1, L, H, 3, D)
        q = fused[..., 0, :].transpose(1, 2).reshape(H, L, D)
        k = fused[..., 1, :].permute(0, 2, 3, 1).reshape(H, D, L)
        v = fused[..., 2, :].transpose(1, 2).reshape(H, L, D)
        scores = alibi.baddbmm(batch1=q, batch2=k, beta=1.0, alpha=1.0 / math.sqrt(D)).view(1, H, L, L) + mask
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(dt)
        ctx = torch.bmm(probs.view(H, L, L), v).view(1, H, L, D).permute(0, 2, 1, 3).reshape(1, L, E)
        x = residual + (ctx @ W[p + "self_attention.dense.weight"].T + W[p + "self_attention.dense.bias"])
        m = ln(x, (E,), W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"], 1e-5)
        residual = m if POST_LN else x
        u = bloom_gelu(m @ W[p + "mlp.dense_h_to_4h.weight"].T + W[p + "mlp.dense_h_to_4h.bias"])
        x = residual + (u @ W[p + "mlp.dense_4h_to_h.weight"].T + W[p + "mlp.dense_4h_to_h.bias"])
    return ln(x, (E,), W["ln_f.weight"], W["ln_f.bias"], 1e-5) @ W["word_embeddings.weight"].T

ref32, ref64 = forward(ids, torch.float32), forward(ids, torch.float64)
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
got = load_safetensors("out.safetensors")["logits"].double()
assert list(got.shape) == [1, T, V], got.shape
res = "post-LN" if POST_LN else "pre-LN"
for name, ref in (("fp32", ref32.double()), ("float64", ref64)):
    d = (got - ref).abs()
    print(f"BLOOM {res} residual, T={T} logits vs the {name} transcription: relL2 {((got - ref).norm() / ref.norm()).item():.3e}, "
          f"max |diff| {d.max().item():.3e}, |ref| max {ref.abs().max().item():.2f}")
d64 = (got - ref64).abs().max().item()
# greedy: the transcription re-runs the whole sequence each step (no cache), surpass generate decodes on its paged cache
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
