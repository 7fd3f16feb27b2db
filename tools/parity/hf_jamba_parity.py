# surpass's Jamba against HF JambaForCausalLM's arithmetic, without transformers installed: a tiny random checkpoint in
# HF's key names (hidden 64, 8 layers, attn_layer_period 4 / offset 2 -> layers 2 and 6 are attention with 2 query heads
# of 32 and 1 kv head (GQA, no positional encoding); the others are Mamba mixers (d_state 16, d_conv 4, expand 2,
# mamba_dt_rank "auto" = 4) with weighted RMSNorms on dt, B and C; expert_layer_period 2 / offset 1 -> odd layers have
# 4 experts routed top-2, even layers a dense SwiGLU MLP; vocab 101, untied lm_head).
# The reference is a transcription of modeling_jamba.py's eager path (JambaRMSNorm, JambaAttention with the causal
# mask, JambaMambaMixer.slow_forward without a cache, JambaSparseMoeBlock: softmax over the router logits, top-k of
# the probabilities, NOT renormalised, index_add of the weighted experts), run in fp32 and in float64; surpass
# `forward` logits are compared with both (max |diff|, relL2). Then the greedy continuation of a prompt, computed by
# the fp32 reference with a full recomputation per token, must equal `surpass generate --ids ... --ignore-eos`.
# TIE=1 ties lm_head to the embedding (no lm_head.weight in the checkpoint).
# Run from an empty folder: SURPASS=/path/to/surpass python3 hf_jamba_parity.py [T]
# Exits 1 when relL2 vs float64 > 1e-5 or the greedy ids differ.
import json, math, os, subprocess, sys, torch
import torch.nn.functional as Fn
torch.manual_seed(0)
TIE = os.environ.get("TIE", "0") == "1"
H, NL, HQ, HKV, F, V = 64, 8, 2, 1, 96, 101
NE, TOPK, EP, EO, AP, AO = 4, 2, 2, 1, 4, 2
N, W, EXP, EPS = 16, 4, 2, 1e-6
DI, R, HD = EXP * H, math.ceil(H / 16), H // HQ
T = int(sys.argv[1]) if len(sys.argv) > 1 else 64
PROMPT, STEPS = 12, 32
attn = [i % AP == AO for i in range(NL)]
moe = [NE > 1 and i % EP == EO for i in range(NL)]
w = {"model.embed_tokens.weight": torch.randn(V, H), "model.final_layernorm.weight": 1 + 0.1 * torch.randn(H)}
if not TIE: w["lm_head.weight"] = torch.randn(V, H) / H ** 0.5
def lin(o, i): return torch.randn(o, i) / i ** 0.5
for l in range(NL):
    p = f"model.layers.{l}."
    w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(H)
    w[p + "pre_ff_layernorm.weight"] = 1 + 0.1 * torch.randn(H)
    if attn[l]:
        for n_, o in (("q", HQ * HD), ("k", HKV * HD), ("v", HKV * HD)): w[p + f"self_attn.{n_}_proj.weight"] = lin(o, H)
        w[p + "self_attn.o_proj.weight"] = lin(H, HQ * HD)
    else:
        m = p + "mamba."
        w[m + "in_proj.weight"] = lin(2 * DI, H)
        w[m + "conv1d.weight"] = torch.randn(DI, 1, W) * 0.3
        w[m + "conv1d.bias"] = torch.randn(DI) * 0.1
        w[m + "x_proj.weight"] = lin(R + 2 * N, DI) * 3
        w[m + "dt_proj.weight"] = torch.empty(DI, R).uniform_(-R ** -0.5, R ** -0.5)
        dt0 = torch.exp(torch.rand(DI) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
        w[m + "dt_proj.bias"] = dt0 + torch.log(-torch.expm1(-dt0))
        w[m + "A_log"] = torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(DI, 1) + 0.1 * torch.randn(DI, N)
        w[m + "D"] = 1 + 0.1 * torch.randn(DI)
        w[m + "out_proj.weight"] = lin(H, DI)
        w[m + "dt_layernorm.weight"] = 1 + 0.2 * torch.randn(R)
        w[m + "b_layernorm.weight"] = 1 + 0.2 * torch.randn(N)
        w[m + "c_layernorm.weight"] = 1 + 0.2 * torch.randn(N)
    f = p + "feed_forward."
    if moe[l]:
        w[f + "router.weight"] = lin(NE, H) * 2
        for j in range(NE):
            e = f + f"experts.{j}."
            w[e + "gate_proj.weight"], w[e + "up_proj.weight"], w[e + "down_proj.weight"] = lin(F, H), lin(F, H), lin(H, F)
    else:
        w[f + "gate_proj.weight"], w[f + "up_proj.weight"], w[f + "down_proj.weight"] = lin(F, H), lin(F, H), lin(H, F)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
os.makedirs("ckpt", exist_ok=True)
save_safetensors(w, "ckpt/model.safetensors")
cfg = {"architectures": ["JambaForCausalLM"], "model_type": "jamba", "vocab_size": V, "hidden_size": H,
       "intermediate_size": F, "num_hidden_layers": NL, "num_attention_heads": HQ, "num_key_value_heads": HKV,
       "hidden_act": "silu", "rms_norm_eps": EPS, "num_experts": NE, "num_experts_per_tok": TOPK,
       "expert_layer_period": EP, "expert_layer_offset": EO, "attn_layer_period": AP, "attn_layer_offset": AO,
       "use_mamba_kernels": False, "mamba_d_state": N, "mamba_d_conv": W, "mamba_expand": EXP, "mamba_dt_rank": "auto",
       "mamba_conv_bias": True, "mamba_proj_bias": False, "tie_word_embeddings": TIE, "sliding_window": None,
       "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
json.dump(cfg, open("ckpt/config.json", "w"))
ids = torch.randint(0, V, (2, T))
save_safetensors({"input_ids": ids}, "inputs.safetensors")

def forward(tokens, dt):  # HF eager JambaForCausalLM, no cache: tokens [B, L] -> logits [B, L, V]
    g = {k: v.to(dt) for k, v in w.items()}
    def rms(x, wt):  # JambaRMSNorm
        return wt * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))
    def attention(x, p):  # JambaAttention: [B, L, H]
        b, L, _ = x.shape
        q = (x @ g[p + "q_proj.weight"].T).view(b, L, HQ, HD).transpose(1, 2)
        k = (x @ g[p + "k_proj.weight"].T).view(b, L, HKV, HD).transpose(1, 2).repeat_interleave(HQ // HKV, 1)
        v = (x @ g[p + "v_proj.weight"].T).view(b, L, HKV, HD).transpose(1, 2).repeat_interleave(HQ // HKV, 1)
        s = q @ k.transpose(2, 3) / math.sqrt(HD)
        s = s + torch.triu(torch.full((L, L), torch.finfo(dt).min, dtype=dt), 1)
        o = Fn.softmax(s, -1) @ v
        return o.transpose(1, 2).reshape(b, L, H) @ g[p + "o_proj.weight"].T
    def mamba(x, p):  # JambaMambaMixer.slow_forward without a cache
        b, L, _ = x.shape
        hs, gate = (x @ g[p + "in_proj.weight"].T).transpose(1, 2).chunk(2, 1)        # [B, DI, L]
        hs = Fn.silu(Fn.conv1d(hs, g[p + "conv1d.weight"], g[p + "conv1d.bias"], padding=W - 1, groups=DI)[..., :L])
        ts, B, C = (hs.transpose(1, 2) @ g[p + "x_proj.weight"].T).split([R, N, N], -1)
        ts, B, C = rms(ts, g[p + "dt_layernorm.weight"]), rms(B, g[p + "b_layernorm.weight"]), rms(C, g[p + "c_layernorm.weight"])
        dts = Fn.softplus(ts @ g[p + "dt_proj.weight"].T + g[p + "dt_proj.bias"]).transpose(1, 2)   # [B, DI, L]
        A = -torch.exp(g[p + "A_log"])
        dA = torch.exp(A[None, :, None, :] * dts[:, :, :, None])
        dBu = dts[:, :, :, None] * B[:, None, :, :] * hs[:, :, :, None]
        st = torch.zeros(b, DI, N, dtype=dt); ys = []
        for i in range(L):
            st = dA[:, :, i] * st + dBu[:, :, i]
            ys.append((st @ C[:, i, :, None])[..., 0])
        y = (torch.stack(ys, -1) + hs * g[p + "D"][None, :, None]) * Fn.silu(gate)
        return y.transpose(1, 2) @ g[p + "out_proj.weight"].T
    def mlp(x, p): return (Fn.silu(x @ g[p + "gate_proj.weight"].T) * (x @ g[p + "up_proj.weight"].T)) @ g[p + "down_proj.weight"].T
    def moe_block(x, p):  # JambaSparseMoeBlock
        b, L, _ = x.shape
        x = x.reshape(-1, H)
        rw = Fn.softmax(x @ g[p + "router.weight"].T, dim=1)
        rw, sel = torch.topk(rw, TOPK, dim=-1)
        out = torch.zeros_like(x)
        mask = Fn.one_hot(sel, NE).permute(2, 1, 0)
        for e in range(NE):
            idx, top = torch.where(mask[e])
            if top.shape[0] == 0: continue
            out.index_add_(0, top, mlp(x[top], p + f"experts.{e}.") * rw[top, idx, None])
        return out.reshape(b, L, H)
    h = g["model.embed_tokens.weight"][tokens]
    for l in range(NL):
        p = f"model.layers.{l}."
        x = rms(h, g[p + "input_layernorm.weight"])
        h = h + (attention(x, p + "self_attn.") if attn[l] else mamba(x, p + "mamba."))
        x = rms(h, g[p + "pre_ff_layernorm.weight"])
        h = h + (moe_block(x, p + "feed_forward.") if moe[l] else mlp(x, p + "feed_forward."))
    h = rms(h, g["model.final_layernorm.weight"])
    return h @ (g["model.embed_tokens.weight"] if TIE else g["lm_head.weight"]).T

with torch.no_grad():
    ref32 = forward(ids, torch.float32)
    ref64 = forward(ids, torch.float64)
    prompt = ids[0, :PROMPT]; seq = prompt.clone(); greedy = []
    for i in range(STEPS):
        nxt = int(forward(seq[None], torch.float32)[0, -1].argmax()); greedy.append(nxt)
        seq = torch.cat([seq, torch.tensor([nxt])])
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"],
                   capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
got = load_safetensors("out.safetensors")["logits"].double()
assert list(got.shape) == [2, T, V], got.shape
def rel(a, b): return ((a - b).norm() / b.norm()).item()
print(f"reference fp32 vs float64: relL2 {rel(ref32.double(), ref64):.3e}, max |diff| {(ref32.double() - ref64).abs().max():.3e}")
print(f"Jamba{' (tied head)' if TIE else ''}, B=2, T={T}: surpass vs fp32 reference: relL2 {rel(got, ref32.double()):.3e}, "
      f"max |diff| {(got - ref32.double()).abs().max():.3e};  vs float64: relL2 {rel(got, ref64):.3e}, "
      f"max |diff| {(got - ref64).abs().max():.3e}  (|ref| max {ref64.abs().max():.2f})")
r = subprocess.run([surpass, "generate", "--model", "ckpt", "--ids", ",".join(str(int(i)) for i in prompt), "--max-new-tokens",
                    str(STEPS), "--ignore-eos"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
gen = [int(s) for s in r.stdout.split()]
print(f"greedy continuation of a {PROMPT}-token prompt, {STEPS} tokens: {'same ids' if gen == greedy else 'DIFFERENT ids'}")
if gen != greedy: print("  reference", greedy, "\n  surpass  ", gen); sys.exit(1)
if not rel(got, ref64) <= 1e-5: print("FAIL: relL2 vs float64 > 1e-5"); sys.exit(1)
