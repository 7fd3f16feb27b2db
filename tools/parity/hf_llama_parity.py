# surpass's Llama against HF LlamaForCausalLM's arithmetic, without transformers installed: a small random
# checkpoint (llama3 RoPE scaling, or yarn with ROPE=yarn; theta 500000, GQA) is written with a transformers-5 config.json
# (rope_parameters; V4=1 writes transformers 4's rope_theta + rope_scaling), the logits of a T-token
# sequence are computed here by an fp32 PyTorch forward that follows transformers' operations (RoPE
# frequencies and angles in fp32, eager softmax attention, RMSNorm in fp32), and compared with
# `surpass forward` (SURPASS=path/to/surpass to test another build).
# QWEN3=1 writes a Qwen3 (per-head q_norm / k_norm RMSNorm before RoPE); BIN=1 saves the weights with torch.save
# as pytorch_model.bin and converts them with `surpass convert` first (BIN=direct: leaves only the .bin, which the loader
# converts as it opens it). GEMMA2=1 writes a Gemma 2 (norm weights as offsets
# from 1, √hidden embedding scale, tied head, GELU-tanh MLP, post-attention and pre/post-feedforward norms,
# query_pre_attn_scalar 24, attention soft cap 20, final soft cap 15, a 64-token window on even layers, default RoPE)
# following transformers' modeling_gemma2 (eager attention).
# MIXTRAL=1 / QWEN2MOE=1 / QWEN3MOE=1 write a mixture-of-experts model and follow transformers' sparse MoE blocks (router
# softmax in fp32 over all experts, torch.topk, the k weights renormalised for Mixtral and norm_topk_prob, each expert's
# output times its weight index_add_-ed per token): Mixtral (8 experts, top-2, block_sparse_moe.* names, a 128-token window on
# every layer, rope_theta and rms_norm_eps left to MixtralConfig's defaults 1e6 / 1e-5), Qwen2-MoE (6 experts, top-3, not
# renormalised, q/k/v biases, a shared expert gated by sigmoid(shared_expert_gate·x)), Qwen3-MoE (8 experts, top-3,
# norm_topk_prob, per-head q/k norms, layer 0 dense through mlp_only_layers), OLMoE (OLMOE=1: 8 experts, top-3, not
# renormalised, q/k RMSNorms over the whole projections, rms_norm_eps left to OlmoeConfig's 1e-5). FUSED=1 saves the experts as transformers 5
# does with save_original_format=False (mlp.gate, mlp.experts.gate_up_proj [E, 2F, H], mlp.experts.down_proj [E, H, F]).
# Run from an empty folder: python3 hf_llama_parity.py [T]   (PyTorch >= 1.13; Debian's python3-torch works)
import json, math, os, struct, subprocess, sys, torch
torch.manual_seed(0)
E, F, NL, HQ, HKV, D, V, T = 256, 512, 2, 8, 2, 32, 300, int(sys.argv[1]) if len(sys.argv) > 1 else 700
YARN = os.environ.get("ROPE") == "yarn"
QWEN3, BIN, G2 = os.environ.get("QWEN3") == "1", os.environ.get("BIN") in ("1", "direct"), os.environ.get("GEMMA2") == "1"
MOE = next((t for env, t in (("MIXTRAL", "mixtral"), ("QWEN2MOE", "qwen2_moe"), ("QWEN3MOE", "qwen3_moe"), ("OLMOE", "olmoe")) if os.environ.get(env) == "1"), None)
QWEN3 = QWEN3 or MOE == "qwen3_moe"
# experts, top-k, expert intermediate, renormalised, shared expert intermediate (0: none), dense layers, window
NE, K, FE, NORM, FS, DENSE, WIN = {"mixtral": (8, 2, 192, True, 0, [], 128), "qwen2_moe": (6, 3, 160, False, 384, [], 0),
                                   "qwen3_moe": (8, 3, 128, True, 0, [0], 0), "olmoe": (8, 3, 192, False, 0, [], 0)}.get(MOE, (0, 0, 0, False, 0, [], 0))
MP = "block_sparse_moe." if MOE == "mixtral" else "mlp."
XN = ("w1", "w3", "w2") if MOE == "mixtral" else ("gate_proj", "up_proj", "down_proj")
theta, rs = 500000.0, ({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256} if YARN else
                       {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
w = {"model.embed_tokens.weight": torch.randn(V, E), "model.norm.weight": 1 + 0.1 * torch.randn(E), "lm_head.weight": torch.randn(V, E) / E ** 0.5}
for l in range(NL):
    p = f"model.layers.{l}."
    w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(E); w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(E)
    w[p + "self_attn.q_proj.weight"] = torch.randn(HQ * D, E) / E ** 0.5; w[p + "self_attn.k_proj.weight"] = torch.randn(HKV * D, E) / E ** 0.5
    w[p + "self_attn.v_proj.weight"] = torch.randn(HKV * D, E) / E ** 0.5; w[p + "self_attn.o_proj.weight"] = torch.randn(E, HQ * D) / (HQ * D) ** 0.5
    w[p + "mlp.gate_proj.weight"] = torch.randn(F, E) / E ** 0.5; w[p + "mlp.up_proj.weight"] = torch.randn(F, E) / E ** 0.5
    w[p + "mlp.down_proj.weight"] = torch.randn(E, F) / F ** 0.5
    if MOE and l not in DENSE:
        for n in ("gate_proj", "up_proj", "down_proj"): del w[p + "mlp." + n + ".weight"]
        w[p + MP + "gate.weight"] = 2.5 * torch.randn(NE, E) / E ** 0.5  # a decisive router, as trained ones are
        for j in range(NE):
            ep = p + MP + f"experts.{j}."
            w[ep + XN[0] + ".weight"] = torch.randn(FE, E) / E ** 0.5; w[ep + XN[1] + ".weight"] = torch.randn(FE, E) / E ** 0.5
            w[ep + XN[2] + ".weight"] = torch.randn(E, FE) / FE ** 0.5
        if FS:
            sp = p + "mlp.shared_expert."
            w[sp + "gate_proj.weight"] = torch.randn(FS, E) / E ** 0.5; w[sp + "up_proj.weight"] = torch.randn(FS, E) / E ** 0.5
            w[sp + "down_proj.weight"] = torch.randn(E, FS) / FS ** 0.5; w[p + "mlp.shared_expert_gate.weight"] = torch.randn(1, E) / E ** 0.5
    if MOE == "qwen2_moe":
        for n, o in (("q", HQ * D), ("k", HKV * D), ("v", HKV * D)): w[p + f"self_attn.{n}_proj.bias"] = 0.3 * torch.randn(o)
    if MOE == "olmoe": w[p + "self_attn.q_norm.weight"] = 1 + 0.3 * torch.randn(HQ * D); w[p + "self_attn.k_norm.weight"] = 1 + 0.3 * torch.randn(HKV * D)
    if QWEN3: w[p + "self_attn.q_norm.weight"] = 1 + 0.3 * torch.randn(D); w[p + "self_attn.k_norm.weight"] = 1 + 0.3 * torch.randn(D)
    if G2: w[p + "pre_feedforward_layernorm.weight"] = 0.1 * torch.randn(E); w[p + "post_feedforward_layernorm.weight"] = 0.1 * torch.randn(E)
if G2:  # offsets from 1, a tied head
    for k in list(w):
        if k.endswith("layernorm.weight") or k == "model.norm.weight": w[k] = w[k] - 1 if not k.endswith("feedforward_layernorm.weight") else w[k]
    del w["lm_head.weight"]; w["model.embed_tokens.weight"] = w["model.embed_tokens.weight"] * 0.05
# RoPE modes (the rope_modes_* functions): LONGROPE=1 writes a Phi-3 (fused qkv_proj / gate_up_proj, model_type phi3)
# with LongRoPE over original_max_position_embeddings 256 of 4096 — T <= 256 takes the short factors, T > 256 the long
# ones, cos/sin times sqrt(1 + ln 16 / ln 256), as transformers' longrope_frequency_update on a forward of T tokens;
# PARTIAL=1 writes a Phi-3 with partial_rotary_factor 0.75 (Phi-4-mini's: RoPE on the first 24 of 32 dims, the q_rot /
# q_pass split of modeling_phi3), alone or with LONGROPE=1; DYNAMIC=1 writes a Llama with dynamic NTK (factor 2 over
# max_position_embeddings 256: T > 256 grows the base from seq_len = T in fp32, as dynamic_frequency_update).
LONGROPE, PARTIAL, DYNAMIC = os.environ.get("LONGROPE") == "1", os.environ.get("PARTIAL") == "1", os.environ.get("DYNAMIC") == "1"
PHI3 = LONGROPE or PARTIAL  # HF's Llama attention rotates whole heads: partial rotary and LongRoPE are Phi-3's
RDIM = int(D * 0.75) if PARTIAL else D  # the rotary dims of each head
def rope_modes_weights(w):
    """Phi-3 stores q/k/v rows fused in qkv_proj and gate/up rows in gate_up_proj."""
    if not PHI3: return w
    w = dict(w)
    for l in range(NL):
        p = f"model.layers.{l}."
        w[p + "self_attn.qkv_proj.weight"] = torch.cat([w.pop(p + f"self_attn.{n}_proj.weight") for n in "qkv"])
        w[p + "mlp.gate_up_proj.weight"] = torch.cat([w.pop(p + "mlp.gate_proj.weight"), w.pop(p + "mlp.up_proj.weight")])
    return w
gen = torch.Generator().manual_seed(5)
SHORT = [round(1 + 0.5 * float(x), 6) for x in torch.rand(RDIM // 2, generator=gen).sort().values]
LONG = [round(float(x), 6) for x in torch.logspace(0, 1.5, RDIM // 2) * (1 + 0.1 * torch.rand(RDIM // 2, generator=gen))]
def rope_modes_config():
    """model_type and the config fields of the mode (transformers 4 form: top-level fields and rope_scaling)."""
    if DYNAMIC: return "llama", {"max_position_embeddings": 256, "rope_theta": 10000.0, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}
    c = {"max_position_embeddings": 4096, "rope_theta": 10000.0}
    if PARTIAL: c["partial_rotary_factor"] = 0.75
    if LONGROPE: c.update(original_max_position_embeddings=256, rope_scaling={"type": "longrope", "short_factor": SHORT, "long_factor": LONG})
    return "phi3", c
def rope_modes_write_config():
    mt, extra = rope_modes_config()
    json.dump({"model_type": mt, "hidden_size": E, "intermediate_size": F, "num_hidden_layers": NL, "num_attention_heads": HQ,
               "num_key_value_heads": HKV, "head_dim": D, "vocab_size": V, "rms_norm_eps": 1e-5, "tie_word_embeddings": False, **extra},
              open("ckpt/config.json", "w"))
def rope_modes_frequencies(T):
    """inv_freq and attention_scaling of a T-token forward, with transformers' operations (fp32 tensors)."""
    pos = torch.arange(T)[None]
    seq_len = torch.max(pos) + 1  # dynamic_rope_update's seq_len: a tensor
    if DYNAMIC:
        if seq_len <= 256: return default_inv(10000.0, RDIM), 1.0
        seq_len = torch.maximum(seq_len, torch.tensor(256, dtype=seq_len.dtype))
        base = 10000.0 * ((2.0 * seq_len / 256) - (2.0 - 1)) ** (RDIM / (RDIM - 2))
        return 1.0 / (base ** (torch.arange(0, RDIM, 2, dtype=torch.int64).to(dtype=torch.float) / RDIM)), 1.0
    if not LONGROPE: return default_inv(10000.0, RDIM), 1.0
    factor = 4096 / 256
    att = math.sqrt(1 + math.log(factor) / math.log(256))
    ext = torch.tensor(LONG if seq_len > 256 else SHORT, dtype=torch.float32)
    shape = torch.arange(0, RDIM, 2, dtype=torch.int64).float() / RDIM
    return 1.0 / (ext * 10000.0 ** shape), att
def rope_modes_rot(x):
    """modeling_phi3's q_rot / q_pass split: rotate_half over the first RDIM dims; the pass dims meet cos 1, sin 0 below."""
    xr = x[..., :RDIM]
    return torch.cat((-xr[..., RDIM // 2:], xr[..., : RDIM // 2], torch.zeros_like(x[..., RDIM:])), -1)
def rope_modes_pad(t, fill):
    """cos / sin over the rotary dims widened to the head with the pass dims' fill (1 for cos, 0 for sin)."""
    return torch.cat((t, torch.full((*t.shape[:-1], D - RDIM), fill, dtype=t.dtype)), -1)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402  (the training scripts' safetensors writer and reader)
def save(path, tensors): save_safetensors(tensors, path)
def load(path, key): return load_safetensors(path)[key]
os.makedirs("ckpt", exist_ok=True)
if os.environ.get("BIN") == "direct":  # the folder keeps only pytorch_model.bin: surpass converts it as it loads
    torch.save(w, "ckpt/pytorch_model.bin")
elif BIN:
    torch.save(w, "ckpt/pytorch_model.bin")
    surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
    r = subprocess.run([surpass, "convert", "ckpt/pytorch_model.bin", "ckpt/model.safetensors"], capture_output=True, text=True)
    if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
    os.remove("ckpt/pytorch_model.bin")
elif MOE and os.environ.get("FUSED") == "1":  # transformers 5's fused experts (save_original_format=False)
    fw = {k: v for k, v in w.items() if ".experts." not in k and not k.endswith(MP + "gate.weight")}
    for l in range(NL):
        p = f"model.layers.{l}."
        if l in DENSE: continue
        fw[p + "mlp.gate.weight"] = w[p + MP + "gate.weight"]
        ex = [p + MP + f"experts.{j}." for j in range(NE)]
        fw[p + "mlp.experts.gate_up_proj"] = torch.stack([torch.cat((w[e + XN[0] + ".weight"], w[e + XN[1] + ".weight"])) for e in ex])
        fw[p + "mlp.experts.down_proj"] = torch.stack([w[e + XN[2] + ".weight"] for e in ex])
    save("ckpt/model.safetensors", fw)
else:
    save("ckpt/model.safetensors", rope_modes_weights(w))
# transformers 5 style config: rope under rope_parameters
G2CFG = {"query_pre_attn_scalar": 24, "attn_logit_softcapping": 20.0, "final_logit_softcapping": 15.0, "sliding_window": 64,
         "hidden_activation": "gelu_pytorch_tanh", "rope_theta": 10000.0}
if G2: json.dump({"model_type": "gemma2", "hidden_size": E, "intermediate_size": F, "num_hidden_layers": NL, "num_attention_heads": HQ,
                  "num_key_value_heads": HKV, "head_dim": D, "vocab_size": V, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096,
                  "tie_word_embeddings": True, **G2CFG}, open("ckpt/config.json", "w"))
elif MOE:
    cfg = {"model_type": MOE, "hidden_size": E, "intermediate_size": FE if MOE in ("mixtral", "olmoe") else F, "num_hidden_layers": NL,
           "num_attention_heads": HQ, "num_key_value_heads": HKV, "head_dim": D, "vocab_size": V, "max_position_embeddings": 4096,
           "tie_word_embeddings": False, "num_experts_per_tok": K}
    if MOE == "mixtral": cfg.update(num_local_experts=NE, sliding_window=WIN)  # rope_theta, rms_norm_eps: MixtralConfig's defaults
    elif MOE == "olmoe": cfg.update(num_experts=NE, norm_topk_prob=NORM, rope_theta=theta, clip_qkv=None)  # rms_norm_eps: OlmoeConfig's
    else: cfg.update(num_experts=NE, moe_intermediate_size=FE, norm_topk_prob=NORM, mlp_only_layers=DENSE, decoder_sparse_step=1,
                     rms_norm_eps=1e-5, rope_theta=theta, use_sliding_window=False, **({"shared_expert_intermediate_size": FS} if FS else {}))
    json.dump(cfg, open("ckpt/config.json", "w"))
else: json.dump({"model_type": "qwen3" if QWEN3 else "llama", "hidden_size": E, "intermediate_size": F, "num_hidden_layers": NL, "num_attention_heads": HQ,
           "num_key_value_heads": HKV, "head_dim": D, "vocab_size": V, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096,
           "tie_word_embeddings": False, **({"rope_parameters": dict(rope_theta=theta, **rs)} if os.environ.get("V4") is None else {"rope_theta": theta, "rope_scaling": rs})}, open("ckpt/config.json", "w"))
if PHI3 or DYNAMIC: rope_modes_write_config()
ids = torch.randint(0, V, (1, T))
save("inputs.safetensors", {"input_ids": ids})
# --- HF forward
def default_inv(base, dim): return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype=torch.float) / dim))
def llama3_inv(base, dim, factor, lo, hi, old):
    inv = default_inv(base, dim); lw, hw = old / lo, old / hi; wl = 2 * math.pi / inv
    il = torch.where(wl > lw, inv / factor, inv); sm = (old / wl - lo) / (hi - lo)
    smoothed = (1 - sm) * il / factor + sm * il; med = ~(wl < hw) * ~(wl > lw)
    return torch.where(med, smoothed, il)
def yarn_inv(base, dim, factor, old):  # _compute_yarn_parameters with its defaults (beta 32 / 1, truncate)
    att = 0.1 * math.log(factor) + 1.0
    corr = lambda rot: (dim * math.log(old / (rot * 2 * math.pi))) / (2 * math.log(base))
    low, high = max(math.floor(corr(32)), 0), min(math.ceil(corr(1)), dim - 1)
    if low == high: high += 0.001
    keep = 1 - torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pf = base ** (torch.arange(0, dim, 2).to(dtype=torch.float) / dim)
    return (1.0 / (factor * pf)) * (1 - keep) + (1.0 / pf) * keep, att
inv, att = yarn_inv(theta, D, 4.0, 256) if YARN else (llama3_inv(theta, D, 8.0, 1.0, 4.0, 64), 1.0)
if PHI3 or DYNAMIC: inv, att = rope_modes_frequencies(T)
if G2: inv, att = default_inv(10000.0, D), 1.0
if MOE: inv, att = default_inv(1e6 if MOE == "mixtral" else theta, D), 1.0
pos = torch.arange(T)[None]
freqs = (inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2); emb = torch.cat((freqs, freqs), -1)
cos, sin = emb.cos() * att, emb.sin() * att
def rms(x, wt, eps=1e-5):
    v = x.pow(2).mean(-1, keepdim=True)
    return (x * torch.rsqrt(v + eps)) * (1.0 + wt) if G2 else wt * (x * torch.rsqrt(v + eps))  # Gemma2RMSNorm: x·rsqrt·(1 + w)
def cap(s, c): return torch.tanh(s / c) * c
def rot(x): return torch.cat((-x[..., D // 2:], x[..., : D // 2]), -1)
if PHI3 or DYNAMIC: rot, cos, sin = rope_modes_rot, rope_modes_pad(cos, 1.0), rope_modes_pad(sin, 0.0)
x = w["model.embed_tokens.weight"][ids]
if G2: x = x * torch.tensor(E ** 0.5, dtype=torch.float32)
mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)
window = torch.where(torch.ones(T, T, dtype=torch.bool).tril(-G2CFG["sliding_window"]), torch.finfo(torch.float32).min, mask)
if WIN: mask = torch.where(torch.ones(T, T, dtype=torch.bool).tril(-WIN), torch.finfo(torch.float32).min, mask)  # Mixtral's window
def swiglu(h, g, u, d): return (torch.nn.functional.silu(h @ g.T) * (h @ u.T)) @ d.T
def moe(h, p):  # MixtralSparseMoeBlock / Qwen2MoeSparseMoeBlock / Qwen3MoeSparseMoeBlock on h [1, T, E]
    hs = h.view(-1, E)
    probs = torch.softmax(hs @ w[p + MP + "gate.weight"].T, dim=1, dtype=torch.float)
    top, sel = torch.topk(probs, K, dim=-1)
    if NORM: top /= top.sum(dim=-1, keepdim=True)
    out = torch.zeros_like(hs)
    hit = torch.nn.functional.one_hot(sel, num_classes=NE).permute(2, 1, 0)
    for j in range(NE):
        idx, tok = torch.where(hit[j])
        if tok.numel() == 0: continue
        ep = p + MP + f"experts.{j}."
        y = swiglu(hs[tok], w[ep + XN[0] + ".weight"], w[ep + XN[1] + ".weight"], w[ep + XN[2] + ".weight"]) * top[tok, idx, None]
        out.index_add_(0, tok, y)
    if FS:
        sp = p + "mlp.shared_expert."
        out = out + torch.sigmoid(hs @ w[p + "mlp.shared_expert_gate.weight"].T) * swiglu(hs, w[sp + "gate_proj.weight"], w[sp + "up_proj.weight"], w[sp + "down_proj.weight"])
    return out.view(1, T, E)
for l in range(NL):
    p = f"model.layers.{l}."
    h = rms(x, w[p + "input_layernorm.weight"])
    bias = lambda n: w.get(p + f"self_attn.{n}_proj.bias", 0)  # Qwen2-MoE's q/k/v biases
    q = (h @ w[p + "self_attn.q_proj.weight"].T + bias("q")).view(1, T, HQ, D)
    k = (h @ w[p + "self_attn.k_proj.weight"].T + bias("k")).view(1, T, HKV, D)
    if MOE == "olmoe":  # OlmoeAttention: q_norm / k_norm over the whole projections, before the heads are split
        q = rms(q.view(1, T, HQ * D), w[p + "self_attn.q_norm.weight"]).view(1, T, HQ, D)
        k = rms(k.view(1, T, HKV * D), w[p + "self_attn.k_norm.weight"]).view(1, T, HKV, D)
    if QWEN3: q = rms(q, w[p + "self_attn.q_norm.weight"], 1e-5); k = rms(k, w[p + "self_attn.k_norm.weight"], 1e-5)
    q, k = q.transpose(1, 2), k.transpose(1, 2)
    v = (h @ w[p + "self_attn.v_proj.weight"].T + bias("v")).view(1, T, HKV, D).transpose(1, 2)
    q = q * cos[:, None] + rot(q) * sin[:, None]; k = k * cos[:, None] + rot(k) * sin[:, None]
    k = k.repeat_interleave(HQ // HKV, 1); v = v.repeat_interleave(HQ // HKV, 1)
    if G2:
        sc = cap((q @ k.transpose(2, 3)) * G2CFG["query_pre_attn_scalar"] ** -0.5, G2CFG["attn_logit_softcapping"])
        a = torch.softmax(sc + (window if l % 2 == 0 else mask), -1, dtype=torch.float32) @ v
        x = x + rms(a.transpose(1, 2).reshape(1, T, HQ * D) @ w[p + "self_attn.o_proj.weight"].T, w[p + "post_attention_layernorm.weight"])
        h = rms(x, w[p + "pre_feedforward_layernorm.weight"])
        g = torch.nn.functional.gelu(h @ w[p + "mlp.gate_proj.weight"].T, approximate="tanh")
        x = x + rms((g * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T, w[p + "post_feedforward_layernorm.weight"])
        continue
    a = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(D) + mask, -1, dtype=torch.float32) @ v
    x = x + a.transpose(1, 2).reshape(1, T, HQ * D) @ w[p + "self_attn.o_proj.weight"].T
    h = rms(x, w[p + "post_attention_layernorm.weight"])
    if MOE and l not in DENSE:
        x = x + moe(h, p)
        continue
    x = x + (torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
if G2: ref = cap(rms(x, w["model.norm.weight"]) @ w["model.embed_tokens.weight"].T, G2CFG["final_logit_softcapping"])
else: ref = rms(x, w["model.norm.weight"]) @ w["lm_head.weight"].T
# --- surpass
r = subprocess.run([os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass")), "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
got = load("out.safetensors", "logits")
d = (got.view(-1, V) - ref.view(-1, V)).abs()
print(f"T={T} logits: max |diff| {d.max():.3e}, max rel (1+|ref|) {(d / (1 + ref.view(-1, V).abs())).max():.3e}, |ref| max {ref.abs().max():.2f}")
for t in [0, 63, 255, T - 1]: print(f"  position {t}: max |diff| {d[t].max():.3e}")
