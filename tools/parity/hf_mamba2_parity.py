# surpass's Mamba-2 against HF Mamba2ForCausalLM's arithmetic, without transformers installed: a small random
# checkpoint (hidden 64, 2 layers, 8 heads of 16, state 16, 2 groups, conv 4, chunk_size 16 so the SSD crosses
# chunks) is written with a transformers-5 config.json (time_step_limit [0.0, Infinity] as Python's json writes it),
# the logits of a T-token sequence are computed here by an fp32 PyTorch forward that follows Mamba2Mixer.torch_forward
# (in_proj split [z | xBC | dt], depthwise causal conv + SiLU, softplus(dt + dt_bias) clamped to time_step_limit,
# the naive chunked SSD: segment_sum, intra-chunk diagonal blocks, chunk states, inter-chunk recurrence, state → output;
# + D·x; MambaRMSNormGated over all d_inner channels, which ignores n_groups), and compared with `surpass forward`
# (SURPASS=path/to/surpass to test another build). The chunked SSD is also checked against a plain token-by-token
# recurrence, so a mistake in this reference shows up as "chunked vs recurrent".
# NAMING=ssm writes the mamba_ssm checkpoint instead (backbone.embedding.weight, d_model/n_layer/ssm_cfg config) and
# the reference's gated norm follows mamba_ssm's RMSNormGated(group_size = d_inner // ngroups, eps 1e-5,
# norm_before_gate False): y·silu(z), then RMS over each group's d_inner/ngroups channels apart, times weight.
# BIN=1 saves the weights with torch.save as pytorch_model.bin (state-spaces/mamba2-* ship only that).
# Run from an empty folder: python3 hf_mamba2_parity.py [T]   (PyTorch >= 1.13; Debian's python3-torch works)
# Exits 1 when max |Δlogit| > 1e-3.
import json, math, os, struct, subprocess, sys, torch
import torch.nn.functional as Fn
torch.manual_seed(0)
E, NL, H, P, N, G, W, V, CH, EPS = 64, 2, 8, 16, 16, 2, 4, 97, 16, 1e-5
DI = H * P                       # d_inner = expand · hidden = 128
CD = DI + 2 * G * N              # conv channels: [x | B | C]
T = int(sys.argv[1]) if len(sys.argv) > 1 else 300
SSM = os.environ.get("NAMING") == "ssm"
TSL = (0.0, float("inf"))        # time_step_limit (HF default; mamba_ssm's dt_limit default is the same)
emb_key = "backbone.embedding.weight" if SSM else "backbone.embeddings.weight"
w = {emb_key: torch.randn(V, E), "backbone.norm_f.weight": 1 + 0.1 * torch.randn(E), "lm_head.weight": torch.randn(V, E) / E ** 0.5}
for l in range(NL):
    p = f"backbone.layers.{l}."
    w[p + "norm.weight"] = 1 + 0.1 * torch.randn(E)
    ip = torch.randn(2 * DI + 2 * G * N + H, E) / E ** 0.5
    ip[-H:] *= 0.5                                             # dt rows: keep softplus(dt + dt_bias) mostly in ~0.01–0.5
    w[p + "mixer.in_proj.weight"] = ip
    w[p + "mixer.conv1d.weight"] = torch.randn(CD, 1, W) * 0.3
    w[p + "mixer.conv1d.bias"] = torch.randn(CD) * 0.1
    dt0 = torch.exp(torch.rand(H) * (math.log(0.5) - math.log(0.01)) + math.log(0.01))
    w[p + "mixer.dt_bias"] = dt0 + torch.log(-torch.expm1(-dt0))  # inverse softplus
    w[p + "mixer.A_log"] = torch.log(torch.empty(H).uniform_(1, 16))
    w[p + "mixer.D"] = 1 + 0.1 * torch.randn(H)
    w[p + "mixer.norm.weight"] = 1 + 0.1 * torch.randn(DI)
    w[p + "mixer.out_proj.weight"] = torch.randn(E, DI) / DI ** 0.5
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402  (the training scripts' safetensors writer and reader)
def save(path, tensors): save_safetensors(tensors, path)
def load(path, key): return load_safetensors(path)[key]
os.makedirs("ckpt", exist_ok=True)
if os.environ.get("BIN") == "1": torch.save(w, "ckpt/pytorch_model.bin")  # as mamba_ssm's releases: surpass converts it as it loads
else: save("ckpt/model.safetensors", w)
if SSM:
    cfg = {"d_model": E, "n_layer": NL, "vocab_size": V,
           "ssm_cfg": {"layer": "Mamba2", "d_state": N, "headdim": P, "ngroups": G, "expand": 2, "d_conv": W, "chunk_size": CH},
           "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True, "pad_vocab_size_multiple": 1, "tie_embeddings": False}
else:  # as transformers 5 writes a Mamba2Config (json.dump spells float('inf') Infinity)
    cfg = {"model_type": "mamba2", "architectures": ["Mamba2ForCausalLM"], "hidden_size": E, "num_hidden_layers": NL,
           "num_heads": H, "head_dim": P, "state_size": N, "n_groups": G, "expand": 2, "conv_kernel": W, "vocab_size": V,
           "chunk_size": CH, "layer_norm_epsilon": EPS, "use_bias": False, "use_conv_bias": True, "hidden_act": "silu",
           "residual_in_fp32": True, "rms_norm": True, "time_step_limit": list(TSL), "time_step_rank": "auto",
           "tie_word_embeddings": False, "eos_token_id": 0}
json.dump(cfg, open("ckpt/config.json", "w"))
ids = torch.randint(0, V, (1, T))
save("inputs.safetensors", {"input_ids": ids})
# --- reference forward (fp32, batch 1)
def rms(x, wt, eps=EPS):  # Mamba2RMSNorm
    return wt * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))
def gated_norm(y, z, wt):
    y = y * Fn.silu(z)
    if not SSM:  # HF MambaRMSNormGated: one RMS over all d_inner channels, eps = layer_norm_epsilon
        return wt * (y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + EPS))
    yg = y.view(*y.shape[:-1], G, DI // G)  # mamba_ssm rms_norm_ref(group_size = d_inner // ngroups), eps 1e-5
    return (yg * torch.rsqrt(yg.pow(2).mean(-1, keepdim=True) + 1e-5)).reshape(y.shape) * wt
def pad_t(x, n):  # pad_tensor_by_size: zeros after the sequence (dim 1)
    return Fn.pad(x, (0, 0, 0, n) if x.dim() == 3 else (0, 0, 0, 0, 0, n))
def chunks(x, n):  # reshape_into_chunks: [b, L, ...] -> [b, L/CH, CH, ...]
    x = pad_t(x, n); return x.reshape(x.shape[0], -1, CH, *x.shape[2:])
def segsum(a):  # segment_sum: out[..., i, j] = sum a[..., j+1..i] for j <= i, -inf above the diagonal
    c = a.size(-1); a = a[..., None].expand(*a.shape, c)
    a = a.masked_fill(~torch.tril(torch.ones(c, c, dtype=torch.bool), -1), 0)
    return torch.cumsum(a, -2).masked_fill(~torch.tril(torch.ones(c, c, dtype=torch.bool), 0), -math.inf)
def ssd_chunked(x, dt, A, B, C, D):  # x [1,T,H,P], dt [1,T,H], A [H], B/C [1,T,H,N] (already per head)
    L = x.shape[1]; pad = (CH - L % CH) % CH
    Dres = D[:, None] * pad_t(x, pad)
    x = x * dt[..., None]; A = A * dt
    x, A, B, C = [chunks(t, pad) for t in (x, A, B, C)]
    A = A.permute(0, 3, 1, 2); Acs = torch.cumsum(A, -1)                          # [b, h, c, l]
    Lm = torch.exp(segsum(A))                                                      # [b, h, c, l, s]
    Gm = (C[:, :, :, None] * B[:, :, None]).sum(-1)                                # [b, c, l, s, h]
    M = (Gm[..., None] * Lm.permute(0, 2, 3, 4, 1)[..., None]).sum(-1)             # [b, c, l, s, h]
    Ydiag = (M[..., None] * x[:, :, None]).sum(3)                                  # [b, c, l, h, p]
    decay = torch.exp(Acs[:, :, :, -1:] - Acs)                                     # [b, h, c, l]
    states = ((B * decay.permute(0, 2, 3, 1)[..., None])[..., None, :] * x[..., None]).sum(2)  # [b, c, h, p, n]
    states = torch.cat([torch.zeros_like(states[:, :1]), states], 1)
    dchunk = torch.exp(segsum(Fn.pad(Acs[:, :, :, -1], (1, 0)))).transpose(1, 3)   # [b, from chunk, to chunk, h]
    new = (dchunk[..., None, None] * states[:, :, None]).sum(1)                     # [b, to chunk, h, p, n]
    states = new[:, :-1]
    Yoff = (C[..., None, :] * states[:, :, None]).sum(-1) * torch.exp(Acs).permute(0, 2, 3, 1)[..., None]
    y = (Ydiag + Yoff).reshape(1, -1, H, P) + Dres
    return y[:, :L]
def ssd_recurrent(x, dt, A, B, C, D):  # h_t = exp(dt·A) h_{t-1} + dt·x_t ⊗ B_t;  y_t = h_t·C_t + D·x_t
    h = torch.zeros(H, P, N, dtype=torch.float64); ys = []
    x, dt, A, B, C, D = [t.double() for t in (x, dt, A, B, C, D)]
    for t in range(x.shape[1]):
        h = torch.exp(dt[0, t] * A)[:, None, None] * h + (dt[0, t][:, None] * x[0, t])[..., None] * B[0, t][:, None, :]
        ys.append((h * C[0, t][:, None, :]).sum(-1) + D[:, None] * x[0, t])
    return torch.stack(ys)[None].float()
def mixer(hs, p, rec=False):
    L = hs.shape[1]
    zxbcdt = hs @ w[p + "in_proj.weight"].T
    z, xBC, dt = zxbcdt.split([DI, CD, H], -1)
    xBC = Fn.conv1d(xBC.transpose(1, 2), w[p + "conv1d.weight"], w[p + "conv1d.bias"], padding=W - 1, groups=CD)[..., :L]
    xBC = Fn.silu(xBC.transpose(1, 2))
    x, B, C = xBC.split([DI, G * N, G * N], -1)
    A = -torch.exp(w[p + "A_log"])
    dt = torch.clamp(Fn.softplus(dt + w[p + "dt_bias"]), TSL[0], TSL[1])
    x = x.reshape(1, L, H, P)
    B = B.reshape(1, L, G, N).repeat_interleave(H // G, 2)  # head h reads group h // (H/G)
    C = C.reshape(1, L, G, N).repeat_interleave(H // G, 2)
    y = (ssd_recurrent if rec else ssd_chunked)(x, dt, A, B, C, w[p + "D"]).reshape(1, L, DI)
    return gated_norm(y, z, w[p + "norm.weight"]) @ w[p + "out_proj.weight"].T
def forward(rec=False):
    x = w[emb_key][ids]
    for l in range(NL):
        p = f"backbone.layers.{l}."
        x = x + mixer(rms(x, w[p + "norm.weight"]), p + "mixer.", rec)
    return rms(x, w["backbone.norm_f.weight"]) @ w["lm_head.weight"].T
with torch.no_grad():
    ref = forward()
    rec = forward(rec=True)
print(f"reference self-check: chunked SSD vs token-by-token recurrence, max |diff| {(ref - rec).abs().max():.3e}")
# --- surpass
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
got = load("out.safetensors", "logits")
assert list(got.shape) == [1, T, V], got.shape
d = (got.view(-1, V) - ref.view(-1, V)).abs()
print(f"{'mamba_ssm' if SSM else 'HF'} naming, T={T} logits: max |diff| {d.max():.3e}, max rel (1+|ref|) {(d / (1 + ref.view(-1, V).abs())).max():.3e}, |ref| max {ref.abs().max():.2f}")
for t in sorted({0, min(15, T - 1), min(16, T - 1), min(255, T - 1), T - 1}): print(f"  position {t}: max |diff| {d[t].max():.3e}")
if not d.max() <= 1e-3: print("FAIL: max |diff| > 1e-3"); sys.exit(1)
