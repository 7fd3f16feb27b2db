# surpass's FalconMamba against HF FalconMambaForCausalLM's arithmetic, without transformers installed: a small
# random checkpoint (hidden 48, 2 layers, state 16, conv 4, time_step_rank "auto" = 3, vocab 97, untied lm_head) is
# written with a falcon_mamba config.json whose `expand` disagrees with the given intermediate_size 96 (HF's config
# keeps intermediate_size), and the logits of a T-token sequence are computed here by an fp32
# PyTorch transcription of FalconMambaMixer.slow_forward: in_proj split [x | z], depthwise causal conv + SiLU, x_proj
# split [dt | B | C], then rms_forward (weight-free RMS over the last axis, eps mixer_rms_eps) of B, C and dt,
# softplus(dt_proj(dt)), the sequential selective scan, + D·x, · silu(z), out_proj; blocks are
# residual + mixer(RMSNorm(residual)) with norm_f and lm_head at the end. They are compared with `surpass forward`
# (SURPASS=path/to/surpass to test another build).
# The decode path is checked too: the reference's cached path (prefill that stores the conv window and SSM state, then
# one token at a time: conv from the rolled window, one recurrence step — slow_forward's cache branch, which applies the
# same three norms) is checked against the full forward, its greedy continuation of a prompt is computed and
# `surpass generate --ids ... --ignore-eos` must produce the same ids.
# FALCON=0 writes model_type "mamba" (no B/C/dt norms; intermediate_size then matches expand · hidden) and the
# reference skips the norms: the same check for HF's plain Mamba-1.
# Run from an empty folder: python3 hf_falcon_mamba_parity.py [T]   (PyTorch >= 1.13)
# Exits 1 when max |Δlogit| > 1e-3 or the greedy ids differ.
import json, math, os, subprocess, sys, torch
import torch.nn.functional as Fn
torch.manual_seed(0)
FALCON = os.environ.get("FALCON", "1") != "0"
E, NL, N, W, V, DI, EPS, MIX_EPS = 48, 2, 16, 4, 97, 96, 1e-5, 1e-6
R = math.ceil(E / 16)            # time_step_rank "auto"
T = int(sys.argv[1]) if len(sys.argv) > 1 else 300
PROMPT, STEPS = 20, 30
w = {"backbone.embeddings.weight": torch.randn(V, E), "backbone.norm_f.weight": 1 + 0.1 * torch.randn(E),
     "lm_head.weight": torch.randn(V, E) / E ** 0.5}
for l in range(NL):
    p = f"backbone.layers.{l}."
    w[p + "norm.weight"] = 1 + 0.1 * torch.randn(E)
    w[p + "mixer.in_proj.weight"] = torch.randn(2 * DI, E) / E ** 0.5
    w[p + "mixer.conv1d.weight"] = torch.randn(DI, 1, W) * 0.3
    w[p + "mixer.conv1d.bias"] = torch.randn(DI) * 0.1
    w[p + "mixer.x_proj.weight"] = torch.randn(R + 2 * N, DI) / DI ** 0.5 * 3  # scale the norms take out
    w[p + "mixer.dt_proj.weight"] = torch.empty(DI, R).uniform_(-R ** -0.5, R ** -0.5)
    dt0 = torch.exp(torch.rand(DI) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
    w[p + "mixer.dt_proj.bias"] = dt0 + torch.log(-torch.expm1(-dt0))  # inverse softplus
    w[p + "mixer.A_log"] = torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(DI, 1) + 0.1 * torch.randn(DI, N)
    w[p + "mixer.D"] = 1 + 0.1 * torch.randn(DI)
    w[p + "mixer.out_proj.weight"] = torch.randn(E, DI) / DI ** 0.5
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402  (the training scripts' safetensors writer and reader)
os.makedirs("ckpt", exist_ok=True)
save_safetensors(w, "ckpt/model.safetensors")
cfg = {"architectures": ["FalconMambaForCausalLM" if FALCON else "MambaForCausalLM"],
       "model_type": "falcon_mamba" if FALCON else "mamba", "hidden_size": E, "num_hidden_layers": NL, "state_size": N,
       "expand": 16 if FALCON else DI // E, "intermediate_size": DI, "conv_kernel": W, "vocab_size": V,
       "time_step_rank": "auto", "layer_norm_epsilon": EPS, "use_bias": False, "use_conv_bias": True, "hidden_act": "silu",
       "residual_in_fp32": True, "tie_word_embeddings": False, "eos_token_id": 11, "pad_token_id": 11, "bos_token_id": 0}
if FALCON: cfg.update({"mixer_rms_eps": MIX_EPS, "use_mambapy": False})
json.dump(cfg, open("ckpt/config.json", "w"))
ids = torch.randint(0, V, (1, T))
save_safetensors({"input_ids": ids}, "inputs.safetensors")

def rms_forward(x, eps):  # weight-free RMS over the last axis, in fp32
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
def ssm_step(p, x_t, z_t, state):  # x_t, z_t [DI]: one token of the SSM part of the mixer (3.a-3.c and the output)
    dbc = x_t @ w[p + "x_proj.weight"].T
    dt, B, C = dbc.split([R, N, N], -1)
    if FALCON: B, C, dt = rms_forward(B, MIX_EPS), rms_forward(C, MIX_EPS), rms_forward(dt, MIX_EPS)
    dt = Fn.softplus(dt @ w[p + "dt_proj.weight"].T + w[p + "dt_proj.bias"])            # [DI]
    A = -torch.exp(w[p + "A_log"])                                                      # [DI, N]
    state = torch.exp(A * dt[:, None]) * state + (dt * x_t)[:, None] * B[None, :]
    y = state @ C + x_t * w[p + "D"]
    return y * Fn.silu(z_t), state
def mixer_full(hs, p):  # slow_forward without a cache: hs [L, E]
    L = hs.shape[0]
    x, z = (hs @ w[p + "in_proj.weight"].T).split([DI, DI], -1)
    x = Fn.silu(Fn.conv1d(x.T[None], w[p + "conv1d.weight"], w[p + "conv1d.bias"], padding=W - 1, groups=DI)[0, :, :L]).T
    state = torch.zeros(DI, N); ys = []
    for t in range(L):
        y, state = ssm_step(p, x[t], z[t], state); ys.append(y)
    return torch.stack(ys) @ w[p + "out_proj.weight"].T, (hs @ w[p + "in_proj.weight"].T)[:, :DI], state
def rmsnorm(x, wt): return wt * rms_forward(x, EPS)
def forward(tokens):  # logits [L, V] and the cache (conv window of the last W inputs, SSM state) per layer
    h = w["backbone.embeddings.weight"][tokens]; cache = []
    for l in range(NL):
        p = f"backbone.layers.{l}."
        out, xin, state = mixer_full(rmsnorm(h, w[p + "norm.weight"]), p + "mixer.")
        window = Fn.pad(xin.T, (max(0, W - xin.shape[0]), 0))[:, -W:]                  # [DI, W]: pad(x, W - L) as HF
        cache.append([window, state]); h = h + out
    return rmsnorm(h, w["backbone.norm_f.weight"]) @ w["lm_head.weight"].T, cache
def step(token, cache):  # slow_forward's decode branch for one token
    h = w["backbone.embeddings.weight"][token]
    for l in range(NL):
        p = f"backbone.layers.{l}."; mp = p + "mixer."
        x, z = (rmsnorm(h, w[p + "norm.weight"]) @ w[mp + "in_proj.weight"].T).split([DI, DI], -1)
        window = torch.cat([cache[l][0][:, 1:], x[:, None]], 1)
        xc = Fn.silu((window * w[mp + "conv1d.weight"][:, 0, :]).sum(-1) + w[mp + "conv1d.bias"])
        y, state = ssm_step(mp, xc, z, cache[l][1])
        cache[l] = [window, state]; h = h + y @ w[mp + "out_proj.weight"].T
    return rmsnorm(h, w["backbone.norm_f.weight"]) @ w["lm_head.weight"].T

with torch.no_grad():
    ref, _ = forward(ids[0])
    prompt = ids[0, :PROMPT]
    lg, cache = forward(prompt)
    nxt = int(lg[-1].argmax()); greedy = [nxt]; cached = []
    for i in range(STEPS - 1):
        lg1 = step(nxt, cache); cached.append(lg1); nxt = int(lg1.argmax()); greedy.append(nxt)
    full, _ = forward(torch.cat([prompt, torch.tensor(greedy[:-1])]))
    sc = max((full[PROMPT + i] - cached[i]).abs().max().item() for i in range(len(cached)))
print(f"reference self-check: cached decode vs full forward over {STEPS - 1} steps, max |diff| {sc:.3e}")
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"],
                   capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
got = load_safetensors("out.safetensors")["logits"]
assert list(got.shape) == [1, T, V], got.shape
d = (got.view(-1, V) - ref.view(-1, V)).abs()
name = "FalconMamba" if FALCON else "Mamba"
print(f"{name}, T={T} logits: max |diff| {d.max():.3e}, max rel (1+|ref|) {(d / (1 + ref.abs())).max():.3e}, |ref| max {ref.abs().max():.2f}")
for t in sorted({0, min(3, T - 1), min(4, T - 1), T - 1}): print(f"  position {t}: max |diff| {d[t].max():.3e}")
r = subprocess.run([surpass, "generate", "--model", "ckpt", "--ids", ",".join(str(int(i)) for i in prompt), "--max-new-tokens",
                    str(STEPS), "--ignore-eos"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
gen = [int(s) for s in r.stdout.split()]
print(f"greedy continuation of a {PROMPT}-token prompt, {STEPS} tokens: {'same ids' if gen == greedy else 'DIFFERENT ids'}")
if gen != greedy: print("  reference", greedy, "\n  surpass  ", gen); sys.exit(1)
if not d.max() <= 1e-3: print("FAIL: max |diff| > 1e-3"); sys.exit(1)
