# surpass's StarCoder2 / StableLM / GPT-J / Falcon against HF's arithmetic, without transformers installed: MODEL=starcoder2 |
# stablelm | gptj | falcon picks the family; a small random checkpoint in HF naming and config.json is written, the logits of a
# T-token sequence are computed here by a PyTorch forward that follows transformers' modeling_<model> (eager softmax attention
# scaled by head_dim^-0.5, RoPE frequencies and angles in fp32, the layer norms and activations as HF's) in fp32 and in float64,
# and compared with `surpass forward` (SURPASS=path/to/surpass to test another build): max |Δlogit| and relL2 = ‖Δ‖/‖ref‖.
# Then greedy decoding: the first 32 tokens as the prompt, 24 new tokens by `surpass generate --ids` against argmax steps of the
# fp32 transcription (a full forward per step).
#   starcoder2: LayerNorm with bias, biased q/k/v/o, GQA (8 q-heads / 2 kv-heads), rotate-half RoPE, a 64-token sliding_window,
#               c_fc → gelu_pytorch_tanh → c_proj, untied head; NOBIAS=1 sets use_bias false.
#   stablelm:   LayerNorm with bias, q/k/v biases, GQA (8 / 2 heads of 32), RoPE on the first quarter of each head, SwiGLU, sequential
#               residual, untied head; QK=1 adds qk_layernorm (a LayerNorm without bias per head, each its own weight), PAR=1 sets
#               use_parallel_residual.
#   gptj:       8 heads of 32, rotary_dim 16 interleaved (rotate_every_two, sin / cos repeat_interleave'd, from
#               create_sinusoidal_positions), attention and MLP in parallel from ln_1, no q/k/v/out biases, fc_in → gelu_new →
#               fc_out, lm_head with bias; scores computed as HF's _attn (q, k in fp32, divided by √head_dim).
#   falcon:     ARCH=new (default; falcon-40b style: 8 heads of 32 in 2 K/V groups, the fused query_key_value viewed per group and k / v
#               broadcast over each group's heads as _split_heads does, ln_attn + ln_mlp, parallel), ARCH=mq (falcon-7b: one K/V head,
#               one input_layernorm, parallel) or ARCH=seq (per-head [q|k|v], post_attention_layernorm); rotate-half RoPE, erf GELU,
#               biases (NOBIAS=1: none), untied head.
# Run from an empty folder: MODEL=starcoder2 python3 hf_decoders_parity.py [T]   (PyTorch >= 1.13; Debian's python3-torch works)
import json, math, os, re, subprocess, sys, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
MODEL, T = os.environ.get("MODEL", "starcoder2"), int(sys.argv[1]) if len(sys.argv) > 1 else 300
V, NL, PROMPT, NEW = 300, 2, 32, 24
w = {}


def rnd(name, *shape, scale=None, around=None):
    t = torch.randn(*shape)
    w[name] = around + scale * t if around is not None else t * (scale if scale is not None else shape[-1] ** -0.5)


def ln(x, p, eps, bias=True):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w[p + ".weight"].to(x.dtype), w[p + ".bias"].to(x.dtype) if bias else None, eps)


def lin(x, name):
    y = x @ w[name + ".weight"].to(x.dtype).T
    return y + w[name + ".bias"].to(x.dtype) if name + ".bias" in w else y


def gelu_tanh(x): return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
def rotate_half(x): return torch.cat((-x[..., x.shape[-1] // 2:], x[..., : x.shape[-1] // 2]), -1)


def rope_tables(n, rot, theta, dtype):
    # HF: inv_freq in fp32 from int64 arange, angles = inv_freq @ positions in fp32, cat((freqs, freqs)), then cast to x's dtype
    inv = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.int64).to(dtype=torch.float) / rot))
    freqs = (inv[None, :, None].float() @ torch.arange(n)[None, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), -1)
    return emb.cos()[:, None].to(dtype), emb.sin()[:, None].to(dtype)


def attend(q, k, v, window=None, divide=False):
    # q [1, H, n, D], k/v [1, Hkv, n, D]: repeat_kv, eager softmax in the working dtype, causal (and sliding) mask
    n, hq, hkv, d = q.shape[2], q.shape[1], k.shape[1], q.shape[3]
    k, v = k.repeat_interleave(hq // hkv, 1), v.repeat_interleave(hq // hkv, 1)
    i = torch.arange(n)
    allowed = i[None, :] <= i[:, None]
    if window: allowed &= i[None, :] > i[:, None] - window
    mask = torch.zeros(n, n, dtype=q.dtype).masked_fill(~allowed, torch.finfo(q.dtype).min)
    scores = q @ k.transpose(2, 3) / torch.sqrt(torch.tensor(d, dtype=torch.float32)).to(q.dtype) if divide else q @ k.transpose(2, 3) * d ** -0.5
    a = torch.softmax(scores + mask, -1, dtype=q.dtype) @ v
    return a.transpose(1, 2).reshape(1, n, hq * d)


# ---------------------------------------------------------------- StarCoder2 (modeling_starcoder2)
if MODEL == "starcoder2":
    E, HQ, HKV, F, EPS, THETA, WIN, BIAS = 256, 8, 2, 512, 1e-5, 100000.0, 64, os.environ.get("NOBIAS") != "1"
    D = E // HQ
    rnd("model.embed_tokens.weight", V, E, scale=1.0)
    for l in range(NL):
        p = f"model.layers.{l}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            rnd(p + n + ".weight", E, scale=0.1, around=1.0); rnd(p + n + ".bias", E, scale=0.1)
        for n, o, i in (("self_attn.q_proj", HQ * D, E), ("self_attn.k_proj", HKV * D, E), ("self_attn.v_proj", HKV * D, E),
                        ("self_attn.o_proj", E, HQ * D), ("mlp.c_fc", F, E), ("mlp.c_proj", E, F)):
            rnd(p + n + ".weight", o, i)
            if BIAS: rnd(p + n + ".bias", o, scale=0.1)
    rnd("model.norm.weight", E, scale=0.1, around=1.0); rnd("model.norm.bias", E, scale=0.1)
    rnd("lm_head.weight", V, E)
    config = {"model_type": "starcoder2", "architectures": ["Starcoder2ForCausalLM"], "hidden_size": E, "num_hidden_layers": NL,
              "num_attention_heads": HQ, "num_key_value_heads": HKV, "intermediate_size": F, "vocab_size": V, "max_position_embeddings": 1024,
              "norm_epsilon": EPS, "rope_theta": THETA, "sliding_window": WIN, "hidden_act": "gelu_pytorch_tanh", "use_bias": BIAS,
              "tie_word_embeddings": False, "eos_token_id": 0}

    def forward(ids, dt):
        n = ids.shape[1]
        cos, sin = rope_tables(n, D, THETA, dt)
        x = w["model.embed_tokens.weight"].to(dt)[ids]
        for l in range(NL):
            p = f"model.layers.{l}."
            h = ln(x, p + "input_layernorm", EPS)
            q = lin(h, p + "self_attn.q_proj").view(1, n, HQ, D).transpose(1, 2)
            k = lin(h, p + "self_attn.k_proj").view(1, n, HKV, D).transpose(1, 2)
            v = lin(h, p + "self_attn.v_proj").view(1, n, HKV, D).transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            x = x + lin(attend(q, k, v, WIN), p + "self_attn.o_proj")
            x = x + lin(gelu_tanh(lin(ln(x, p + "post_attention_layernorm", EPS), p + "mlp.c_fc")), p + "mlp.c_proj")
        return lin(ln(x, "model.norm", EPS), "lm_head")[0]
# ---------------------------------------------------------------- StableLM (modeling_stablelm)
elif MODEL == "stablelm":
    E, HQ, HKV, F, EPS, THETA, PRF = 256, 8, 2, 512, 1e-5, 10000.0, 0.25
    QK, PAR = os.environ.get("QK") == "1", os.environ.get("PAR") == "1"
    D = E // HQ
    R = int(D * PRF)
    rnd("model.embed_tokens.weight", V, E, scale=1.0)
    for l in range(NL):
        p = f"model.layers.{l}."
        for n in ("input_layernorm",) if PAR else ("input_layernorm", "post_attention_layernorm"):
            rnd(p + n + ".weight", E, scale=0.1, around=1.0); rnd(p + n + ".bias", E, scale=0.1)
        for n, o, i in (("self_attn.q_proj", HQ * D, E), ("self_attn.k_proj", HKV * D, E), ("self_attn.v_proj", HKV * D, E),
                        ("self_attn.o_proj", E, HQ * D), ("mlp.gate_proj", F, E), ("mlp.up_proj", F, E), ("mlp.down_proj", E, F)):
            rnd(p + n + ".weight", o, i)
        for n in ("q", "k", "v"): rnd(p + f"self_attn.{n}_proj.bias", w[p + f"self_attn.{n}_proj.weight"].shape[0], scale=0.2)
        if QK:
            for h in range(HQ): rnd(p + f"self_attn.q_layernorm.norms.{h}.weight", D, scale=0.3, around=1.0)
            for h in range(HKV): rnd(p + f"self_attn.k_layernorm.norms.{h}.weight", D, scale=0.3, around=1.0)
    rnd("model.norm.weight", E, scale=0.1, around=1.0); rnd("model.norm.bias", E, scale=0.1)
    rnd("lm_head.weight", V, E)
    config = {"model_type": "stablelm", "architectures": ["StableLmForCausalLM"], "hidden_size": E, "num_hidden_layers": NL,
              "num_attention_heads": HQ, "num_key_value_heads": HKV, "intermediate_size": F, "vocab_size": V, "max_position_embeddings": 1024,
              "layer_norm_eps": EPS, "rope_theta": THETA, "partial_rotary_factor": PRF, "hidden_act": "silu", "use_qkv_bias": True,
              "qk_layernorm": QK, "use_parallel_residual": PAR, "tie_word_embeddings": False, "eos_token_id": 0}

    def per_head(x, p, heads):  # StableLmLayerNormPerHead: torch.split over heads, nn.LayerNorm(bias=False) each, cat
        return torch.cat([torch.nn.functional.layer_norm(xh, (D,), w[p + f".norms.{h}.weight"].to(x.dtype), None, EPS)
                          for h, xh in enumerate(torch.split(x, 1, dim=1))], dim=1)

    def forward(ids, dt):
        n = ids.shape[1]
        cos, sin = rope_tables(n, R, THETA, dt)
        rope = lambda t: torch.cat((t[..., :R] * cos + rotate_half(t[..., :R]) * sin, t[..., R:]), -1)
        x = w["model.embed_tokens.weight"].to(dt)[ids]
        for l in range(NL):
            p = f"model.layers.{l}."
            h = ln(x, p + "input_layernorm", EPS)
            q = lin(h, p + "self_attn.q_proj").view(1, n, HQ, D).transpose(1, 2)
            k = lin(h, p + "self_attn.k_proj").view(1, n, HKV, D).transpose(1, 2)
            v = lin(h, p + "self_attn.v_proj").view(1, n, HKV, D).transpose(1, 2)
            if QK: q, k = per_head(q, p + "self_attn.q_layernorm", HQ), per_head(k, p + "self_attn.k_layernorm", HKV)
            a = lin(attend(rope(q), rope(k), v), p + "self_attn.o_proj")
            mlp = lambda m: lin(torch.nn.functional.silu(lin(m, p + "mlp.gate_proj")) * lin(m, p + "mlp.up_proj"), p + "mlp.down_proj")
            if PAR:
                x = x + a + mlp(h)
            else:
                x = x + a
                x = x + mlp(ln(x, p + "post_attention_layernorm", EPS))
        return lin(ln(x, "model.norm", EPS), "lm_head")[0]
# ---------------------------------------------------------------- GPT-J (modeling_gptj)
elif MODEL == "gptj":
    E, HQ, F, EPS, R = 256, 8, 512, 1e-5, 16
    D = E // HQ
    rnd("transformer.wte.weight", V, E, scale=1.0)
    for l in range(NL):
        p = f"transformer.h.{l}."
        rnd(p + "ln_1.weight", E, scale=0.1, around=1.0); rnd(p + "ln_1.bias", E, scale=0.1)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"): rnd(p + f"attn.{n}.weight", E, E)
        rnd(p + "mlp.fc_in.weight", F, E); rnd(p + "mlp.fc_in.bias", F, scale=0.1)
        rnd(p + "mlp.fc_out.weight", E, F); rnd(p + "mlp.fc_out.bias", E, scale=0.1)
    rnd("transformer.ln_f.weight", E, scale=0.1, around=1.0); rnd("transformer.ln_f.bias", E, scale=0.1)
    rnd("lm_head.weight", V, E); rnd("lm_head.bias", V, scale=0.5)
    config = {"model_type": "gptj", "architectures": ["GPTJForCausalLM"], "n_embd": E, "n_layer": NL, "n_head": HQ, "n_inner": F,
              "vocab_size": V, "n_positions": 1024, "rotary_dim": R, "layer_norm_epsilon": EPS, "activation_function": "gelu_new",
              "tie_word_embeddings": False, "eos_token_id": 0}

    def rotate_every_two(x):
        return torch.stack((-x[:, :, :, 1::2], x[:, :, :, ::2]), dim=-1).flatten(-2)

    def forward(ids, dt):
        n = ids.shape[1]
        inv = 1.0 / (10000 ** (torch.arange(0, R, 2, dtype=torch.int64) / R))  # create_sinusoidal_positions
        sinusoid = torch.einsum("i , j -> i j", torch.arange(n, dtype=torch.int64).float(), inv).float()
        sin = torch.repeat_interleave(torch.sin(sinusoid)[None, :, None, :], 2, 3)
        cos = torch.repeat_interleave(torch.cos(sinusoid)[None, :, None, :], 2, 3)
        rope = lambda t: torch.cat((t[..., :R] * cos + rotate_every_two(t[..., :R]) * sin, t[..., R:]), -1)  # t [1, n, H, D]
        x = w["transformer.wte.weight"].to(dt)[ids]
        for l in range(NL):
            p = f"transformer.h.{l}."
            h = ln(x, p + "ln_1", EPS)
            q = rope(lin(h, p + "attn.q_proj").view(1, n, HQ, D)).transpose(1, 2)
            k = rope(lin(h, p + "attn.k_proj").view(1, n, HQ, D)).transpose(1, 2)
            v = lin(h, p + "attn.v_proj").view(1, n, HQ, D).transpose(1, 2)
            a = lin(attend(q, k, v, divide=True), p + "attn.out_proj")
            x = a + lin(gelu_tanh(lin(h, p + "mlp.fc_in")), p + "mlp.fc_out") + x
        return lin(ln(x, "transformer.ln_f", EPS), "lm_head")[0]
# ---------------------------------------------------------------- Falcon (modeling_falcon)
elif MODEL == "falcon":
    E, HQ, F, EPS, THETA, ARCH, BIAS = 256, 8, 512, 1e-5, 10000.0, os.environ.get("ARCH", "new"), os.environ.get("NOBIAS") != "1"
    D = E // HQ
    KV = {"new": 2, "mq": 1, "seq": HQ}[ARCH]
    rnd("transformer.word_embeddings.weight", V, E, scale=1.0)
    norms = {"new": ("ln_attn", "ln_mlp"), "mq": ("input_layernorm",), "seq": ("input_layernorm", "post_attention_layernorm")}[ARCH]
    for l in range(NL):
        p = f"transformer.h.{l}."
        for n in norms: rnd(p + n + ".weight", E, scale=0.1, around=1.0); rnd(p + n + ".bias", E, scale=0.1)
        for n, o, i in (("self_attention.query_key_value", (HQ + 2 * KV) * D, E), ("self_attention.dense", E, E), ("mlp.dense_h_to_4h", F, E),
                        ("mlp.dense_4h_to_h", E, F)):
            rnd(p + n + ".weight", o, i)
            if BIAS: rnd(p + n + ".bias", o, scale=0.1)
    rnd("transformer.ln_f.weight", E, scale=0.1, around=1.0); rnd("transformer.ln_f.bias", E, scale=0.1)
    rnd("lm_head.weight", V, E)
    block = {"new": {"new_decoder_architecture": True, "num_kv_heads": KV, "parallel_attn": True},
             "mq": {"new_decoder_architecture": False, "multi_query": True, "parallel_attn": True},
             "seq": {"new_decoder_architecture": False, "multi_query": False, "parallel_attn": False}}[ARCH]
    config = {"model_type": "falcon", "architectures": ["FalconForCausalLM"], "hidden_size": E, "num_hidden_layers": NL,
              "num_attention_heads": HQ, **block, "ffn_hidden_size": F, "vocab_size": V, "max_position_embeddings": 1024,
              "layer_norm_epsilon": EPS, "rope_theta": THETA, "alibi": False, "bias": BIAS, "tie_word_embeddings": False, "eos_token_id": 11}

    def split_heads(fused, n):  # FalconAttention._split_heads, then the transposes of its forward
        if ARCH == "new":
            qkv = fused.view(1, n, -1, HQ // KV + 2, D)
            q, k, v = qkv[:, :, :, :-2], qkv[:, :, :, [-2]], qkv[:, :, :, [-1]]
            k, v = torch.broadcast_to(k, q.shape), torch.broadcast_to(v, q.shape)
            q, k, v = [t.flatten(2, 3) for t in (q, k, v)]
            kvh = HQ  # num_kv_heads = num_heads for the new architecture after the broadcast
        elif ARCH == "seq":
            f = fused.view(1, n, HQ, 3, D)
            q, k, v, kvh = f[..., 0, :], f[..., 1, :], f[..., 2, :], HQ
        else:
            f = fused.view(1, n, HQ + 2, D)
            q, k, v, kvh = f[..., :-2, :], f[..., [-2], :], f[..., [-1], :], 1
        return (q.transpose(1, 2).reshape(1, HQ, n, D), k.transpose(1, 2).reshape(1, kvh, n, D), v.transpose(1, 2).reshape(1, kvh, n, D))

    def forward(ids, dt):
        n = ids.shape[1]
        cos, sin = rope_tables(n, D, THETA, dt)
        x = w["transformer.word_embeddings.weight"].to(dt)[ids]
        mlp = lambda m, p: lin(torch.nn.functional.gelu(lin(m, p + "mlp.dense_h_to_4h")), p + "mlp.dense_4h_to_h")
        for l in range(NL):
            p = f"transformer.h.{l}."
            h = ln(x, p + ("ln_attn" if ARCH == "new" else "input_layernorm"), EPS)
            q, k, v = split_heads(lin(h, p + "self_attention.query_key_value"), n)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            a = lin(attend(q, k, v, divide=True), p + "self_attention.dense")
            if ARCH == "seq":
                x = x + a
                x = x + mlp(ln(x, p + "post_attention_layernorm", EPS), p)
            else:
                m = mlp(ln(x, p + "ln_mlp", EPS) if ARCH == "new" else h, p)
                x = x + (m + a)
        return lin(ln(x, "transformer.ln_f", EPS), "lm_head")[0]
else:
    sys.exit(f"MODEL={MODEL}: expected starcoder2, stablelm, gptj or falcon")

# ---------------------------------------------------------------- compare
os.makedirs("ckpt", exist_ok=True)
save_safetensors({k: v.contiguous() for k, v in w.items()}, "ckpt/model.safetensors")
json.dump(config, open("ckpt/config.json", "w"))
ids = torch.randint(1, V, (1, T))
save_safetensors({"input_ids": ids}, "inputs.safetensors")
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "forward", "--model", "ckpt", "--inputs", "inputs.safetensors", "--out", "out.safetensors"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
got = load_safetensors("out.safetensors")["logits"].view(-1, V).double()
with torch.no_grad():
    for name, dt in (("fp32", torch.float32), ("float64", torch.float64)):
        ref = forward(ids, dt).double()
        d = got - ref
        print(f"{MODEL} T={T} vs {name} transcription: max |Δlogit| {d.abs().max():.3e}, relL2 {d.norm() / ref.norm():.3e}, |ref| max {ref.abs().max():.2f}")
    seq = ids[:, :PROMPT]
    for _ in range(NEW):
        seq = torch.cat((seq, forward(seq, torch.float32)[-1].argmax()[None, None]), 1)
want = seq[0, PROMPT:].tolist()
r = subprocess.run([surpass, "generate", "--model", "ckpt", "--ids", ",".join(map(str, ids[0, :PROMPT].tolist())), "--max-new-tokens", str(NEW),
                    "--ignore-eos"], capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
have = [int(t) for t in re.findall(r"-?\d+", r.stdout)][-NEW:]
same = next((i for i in range(NEW) if want[i] != have[i]), NEW)
print(f"greedy {NEW} tokens after a {PROMPT}-token prompt: {'identical' if same == NEW else f'first difference at new token {same}'}")
if same != NEW: print("  transcription:", want, "\n  surpass:      ", have)
