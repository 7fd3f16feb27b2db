#!/usr/bin/env python3
"""PyTorch peers for the surpass decode benchmark (GPU host; decode_compare.sh runs it).

  decode_peer.py {mamba,gpt2} MODEL_DIR --prompts FILE --new N [--batches 1,64] [--json OUT]
                 [--hf-new M] [--no-hf] [--no-graph] [--device cuda|cpu]

MODEL_DIR is a folder from make_random_checkpoints.py (--mamba: mamba_ssm naming; --gpt2: HF GPT-2
naming). On the same weights and the same token-id prompts (FILE: {"prompts": [[id, ...], ...]},
batch B takes the first B), greedy, every sequence generating N tokens:
- "torch eager": a plain PyTorch decoder, bf16 weights.
    mamba: fp32 conv and SSM state; each step as mamba_ssm's Mamba.step: conv-state roll, depthwise
           conv + SiLU, x_proj, dt_proj, softplus(dt + bias), dA = exp(dt·A), state = state·dA + dt·B·x,
           y = state·C + D·x, y·SiLU(z), out_proj; Add → RMSNorm with the residual in fp32; greedy over
           the first vocab_size logits (the padded rows are never picked, as in surpass).
    gpt2:  a static KV cache [layers, B, heads, prompt+N, 64] in bf16, one token per step, causal mask
           over the cache from a position tensor; LayerNorm / tanh GELU / SDPA, all bf16.
  The prompt is fed one token per step too (that part is not timed).
- "torch cuda-graph": the same step captured once as a CUDA graph (static token, position and state
  buffers, argmax inside the graph) and replayed: what PyTorch reaches without launch overhead.
- "hf generate": transformers' MambaForCausalLM / GPT2LMHeadModel (bf16, same weights loaded into a
  model built from the config) .generate(do_sample=False, max_new_tokens = min_new_tokens = M,
  use_cache=True, eos disabled), if transformers imports; else a line saying so.
Figure: decode tokens/s after the first new token, as `surpass generate` prints it: B·(N−1) / the
time of the N−1 decode steps after prefill (CUDA events). For HF generate, whose steps cannot be
timed apart: B·(M−1) / (t(generate M) − t(generate 1)), plus end to end B·M / t(generate M).
The plain decoders run the prompt + decode twice and keep the faster decode (the first warms up).
--device cpu (PyTorch on the CPU, no graph, wall clock) only checks the plumbing where there is no GPU.
Writes the rows to --json after each case (a killed run keeps what it measured); the generated ids
are in the rows so the report can compare them with surpass's.
"""
import argparse, json, math, os, struct, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def stamp():
    return time.strftime("%H:%M:%S", time.gmtime())


def log(*a):
    print(f"[{stamp()}] decode_peer:", *a, flush=True)


def load_safetensors(torch, path):
    """safetensors.torch.load_file, or a small reader of the same format when the package is absent."""
    try:
        from safetensors.torch import load_file
        return load_file(path)
    except ImportError:
        pass
    dt = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "I64": torch.int64, "I32": torch.int32}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = bytearray(f.read())
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.frombuffer(data[a:b], dtype=dt[v["dtype"]]).reshape(v["shape"]).clone() if b > a \
            else torch.empty(v["shape"], dtype=dt[v["dtype"]])
    return out


# ---------------------------------------------------------------------------------------------
# Plain PyTorch decoders. Each has alloc(B, T), reset(), a static token buffer `tok` [B] (int64)
# and step(), which reads `tok` and overwrites it with the greedy next token (graph-capturable).
# ---------------------------------------------------------------------------------------------

class MambaTorch:
    def __init__(self, torch, sd, cfg, dev):
        self.t, F = torch, torch.nn.functional
        self.F = F
        bf, f32 = torch.bfloat16, torch.float32
        emb = sd.get("backbone.embedding.weight", sd.get("backbone.embeddings.weight"))
        self.emb = emb.to(dev, bf)
        self.head = sd["lm_head.weight"].to(dev, bf) if "lm_head.weight" in sd else self.emb
        self.vocab = cfg.get("vocab_size", self.emb.shape[0])
        self.eps = cfg.get("layer_norm_epsilon", cfg.get("norm_epsilon", 1e-5))
        self.nl = cfg.get("n_layer", cfg.get("num_hidden_layers"))
        self.layers = []
        for i in range(self.nl):
            p = f"backbone.layers.{i}."
            g = lambda k, d=bf: sd[p + k].to(dev, d)
            cw = g("mixer.conv1d.weight", f32)
            self.layers.append(dict(
                norm=g("norm.weight", f32), in_proj=g("mixer.in_proj.weight"),
                conv_w=cw.reshape(cw.shape[0], cw.shape[-1]).contiguous(),
                conv_b=g("mixer.conv1d.bias", f32) if p + "mixer.conv1d.bias" in sd else None,
                x_proj=g("mixer.x_proj.weight"), dt_w=g("mixer.dt_proj.weight"), dt_b=g("mixer.dt_proj.bias", f32),
                A=-torch.exp(g("mixer.A_log", f32)), D=g("mixer.D", f32), out_proj=g("mixer.out_proj.weight")))
        self.norm_f = sd["backbone.norm_f.weight"].to(dev, f32)
        l0 = self.layers[0]
        self.di, self.K = l0["conv_w"].shape
        self.N = l0["A"].shape[1]
        self.r = l0["dt_w"].shape[1]
        self.dev = dev

    def alloc(self, B, T):
        t = self.t
        self.B = B
        self.conv = t.zeros(self.nl, B, self.di, self.K, device=self.dev)
        self.ssm = t.zeros(self.nl, B, self.di, self.N, device=self.dev)
        self.tok = t.zeros(B, dtype=t.int64, device=self.dev)

    def reset(self):
        self.conv.zero_(); self.ssm.zero_()

    def rms(self, x, w):
        return (x * self.t.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w).to(self.t.bfloat16)

    def step(self):
        t, F = self.t, self.F
        hidden, residual = self.emb[self.tok], None
        for i, l in enumerate(self.layers):
            residual = hidden.float() if residual is None else residual + hidden.float()
            h = self.rms(residual, l["norm"])
            xz = F.linear(h, l["in_proj"])
            x, z = xz[:, :self.di], xz[:, self.di:]
            cs = self.conv[i]
            cs.copy_(t.roll(cs, shifts=-1, dims=-1))
            cs[:, :, -1] = x.float()
            x = (cs * l["conv_w"]).sum(-1)
            if l["conv_b"] is not None:
                x = x + l["conv_b"]
            x = F.silu(x)
            xdb = F.linear(x.to(t.bfloat16), l["x_proj"])
            dt, Bm, Cm = t.split(xdb, [self.r, self.N, self.N], dim=-1)
            dt = F.softplus(F.linear(dt, l["dt_w"]).float() + l["dt_b"])
            dA = t.exp(dt[:, :, None] * l["A"])
            dB = dt[:, :, None] * Bm.float()[:, None, :]
            ss = self.ssm[i]
            ss.copy_(ss * dA + x[:, :, None] * dB)
            y = (ss * Cm.float()[:, None, :]).sum(-1) + l["D"] * x
            y = y * F.silu(z.float())
            hidden = F.linear(y.to(t.bfloat16), l["out_proj"])
        residual = residual + hidden.float()
        logits = F.linear(self.rms(residual, self.norm_f), self.head)
        self.tok.copy_(logits[:, :self.vocab].argmax(-1))


class Gpt2Torch:
    def __init__(self, torch, sd, cfg, dev):
        self.t, self.F = torch, torch.nn.functional
        bf = torch.bfloat16
        p = "transformer." if "transformer.wte.weight" in sd else ""
        g = lambda k: sd[p + k].to(dev, bf)
        gt = lambda k: sd[p + k].to(dev, bf).t().contiguous()  # Conv1D [in, out] -> linear [out, in]
        self.E, self.H, self.nl = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
        self.Dh = self.E // self.H
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        self.wte, self.wpe = g("wte.weight"), g("wpe.weight")
        self.head = sd["lm_head.weight"].to(dev, bf) if "lm_head.weight" in sd else self.wte
        self.lnf = (g("ln_f.weight"), g("ln_f.bias"))
        self.layers = []
        for i in range(self.nl):
            q = f"h.{i}."
            self.layers.append(dict(
                ln1=(g(q + "ln_1.weight"), g(q + "ln_1.bias")), ln2=(g(q + "ln_2.weight"), g(q + "ln_2.bias")),
                wqkv=gt(q + "attn.c_attn.weight"), bqkv=g(q + "attn.c_attn.bias"),
                wo=gt(q + "attn.c_proj.weight"), bo=g(q + "attn.c_proj.bias"),
                wfc=gt(q + "mlp.c_fc.weight"), bfc=g(q + "mlp.c_fc.bias"),
                wp=gt(q + "mlp.c_proj.weight"), bp=g(q + "mlp.c_proj.bias")))
        self.vocab = cfg["vocab_size"]
        self.dev = dev

    def alloc(self, B, T):
        t = self.t
        self.B, self.T = B, T
        self.k = t.zeros(self.nl, B, self.H, T, self.Dh, dtype=t.bfloat16, device=self.dev)
        self.v = t.zeros_like(self.k)
        self.pos = t.zeros(1, dtype=t.int64, device=self.dev)
        self.ar = t.arange(T, device=self.dev)
        self.tok = t.zeros(B, dtype=t.int64, device=self.dev)

    def reset(self):
        self.pos.zero_()  # the cache beyond pos is masked, so it needs no clearing

    def step(self):
        t, F, B, E = self.t, self.F, self.B, self.E
        x = self.wte[self.tok] + self.wpe.index_select(0, self.pos)
        mask = (self.ar <= self.pos).view(1, 1, 1, self.T)
        for i, l in enumerate(self.layers):
            h = F.layer_norm(x, (E,), l["ln1"][0], l["ln1"][1], self.eps)
            q, k, v = F.linear(h, l["wqkv"], l["bqkv"]).view(B, 3, self.H, self.Dh).unbind(1)
            self.k[i].index_copy_(2, self.pos, k[:, :, None, :])
            self.v[i].index_copy_(2, self.pos, v[:, :, None, :])
            a = sdpa(t, F, q[:, :, None, :], self.k[i], self.v[i], mask)
            x = x + F.linear(a.reshape(B, E), l["wo"], l["bo"])
            h = F.layer_norm(x, (E,), l["ln2"][0], l["ln2"][1], self.eps)
            x = x + F.linear(F.gelu(F.linear(h, l["wfc"], l["bfc"]), approximate="tanh"), l["wp"], l["bp"])
        logits = F.linear(F.layer_norm(x, (E,), self.lnf[0], self.lnf[1], self.eps), self.head)
        self.tok.copy_(logits[:, :self.vocab].argmax(-1))
        self.pos.add_(1)


def timed_loop(torch, dev, fn):
    """Seconds of one fn(): CUDA events on a GPU (peer_timing.timed, once, no warm-up: the callers
    warm up themselves, as a decode loop has state), the wall clock on the CPU (plumbing checks only)."""
    if dev.type != "cuda":
        t = time.perf_counter(); fn()
        return time.perf_counter() - t
    import peer_timing
    return peer_timing.timed(torch, fn, reps=1, warm=0)


def sdpa(torch, F, q, k, v, mask):
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])  # PyTorch < 2.0 (CPU plumbing checks)
    return torch.softmax(s.masked_fill(~mask, float("-inf")).float(), -1).to(v.dtype) @ v


def run_plain(torch, model, prompts, n, graph):
    """Prefill (one token per step, untimed) then n-1 timed decode steps; (seconds, ids [B, n])."""
    B, P = prompts.shape
    model.alloc(B, P + n)
    run = model.step
    if graph:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                model.step()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            model.step()
        run = g.replay
    best, ids = None, None
    for _ in range(2):  # the first pass warms up (cuBLAS heuristics, allocator); the better one counts
        model.reset()
        for j in range(P):
            model.tok.copy_(prompts[:, j])
            run()
        out = torch.empty(n, B, dtype=torch.int64, device=model.dev)
        out[0].copy_(model.tok)
        sec = timed_loop(torch, model.dev, lambda: [(run(), out[i].copy_(model.tok)) for i in range(1, n)])
        if best is None or sec < best:
            best, ids = sec, out.t().tolist()
    return best, ids


# ---------------------------------------------------------------------------------------------
# HF transformers
# ---------------------------------------------------------------------------------------------

def hf_model(torch, kind, sd, cfg, dev):
    import transformers
    bf = torch.bfloat16
    if kind == "mamba":
        from transformers import MambaConfig, MambaForCausalLM
        emb = sd.get("backbone.embedding.weight", sd.get("backbone.embeddings.weight"))
        l0 = "backbone.layers.0.mixer."
        hc = MambaConfig(vocab_size=emb.shape[0], hidden_size=emb.shape[1], state_size=sd[l0 + "A_log"].shape[1],
                         num_hidden_layers=cfg.get("n_layer", cfg.get("num_hidden_layers")),
                         expand=sd[l0 + "in_proj.weight"].shape[0] // (2 * emb.shape[1]),
                         conv_kernel=sd[l0 + "conv1d.weight"].shape[-1], use_bias=False,
                         use_conv_bias=l0 + "conv1d.bias" in sd, time_step_rank=sd[l0 + "dt_proj.weight"].shape[1],
                         layer_norm_epsilon=1e-5, residual_in_fp32=True, tie_word_embeddings="lm_head.weight" not in sd,
                         pad_token_id=0, bos_token_id=0, eos_token_id=0)
        with torch.device(dev):
            m = MambaForCausalLM(hc)
        state = {k.replace("backbone.embedding.", "backbone.embeddings."): v for k, v in sd.items()}
        try:
            from transformers.models.mamba import modeling_mamba
            fast = bool(getattr(modeling_mamba, "is_fast_path_available", False))
        except Exception:
            fast = False
        note = "mamba_ssm/causal_conv1d CUDA kernels (fast path)" if fast else "slow path (no mamba_ssm/causal_conv1d kernels)"
    else:
        from transformers import GPT2Config, GPT2LMHeadModel
        keep = {k: v for k, v in cfg.items() if k not in ("architectures", "model_type", "torch_dtype", "dtype")}
        hc = GPT2Config(**keep)
        with torch.device(dev):
            m = GPT2LMHeadModel(hc)
        state = {(k if k.startswith("transformer.") or k.startswith("lm_head.") else "transformer." + k): v for k, v in sd.items()}
        note = "attn_implementation " + str(getattr(m.config, "_attn_implementation", "?"))
    m = m.to(bf).eval()
    missing, unexpected = m.load_state_dict(state, strict=False)
    bad = [k for k in missing if not (k == "lm_head.weight" or k.endswith(".attn.bias") or k.endswith(".attn.masked_bias"))]
    if bad or unexpected:
        raise RuntimeError(f"weights do not fit {type(m).__name__}: missing {bad[:5]}, unexpected {list(unexpected)[:5]}")
    if "lm_head.weight" not in sd:
        try:
            m.tie_weights()
        except Exception:
            pass
        if m.lm_head.weight.data_ptr() != m.get_input_embeddings().weight.data_ptr():
            m.lm_head.weight.data.copy_(m.get_input_embeddings().weight.data)
    m.generation_config.eos_token_id = None  # never stop early (min_new_tokens also asks for that)
    return m, f"transformers {transformers.__version__}, {note}"


def run_hf(torch, m, prompts, n, pad):
    ids = prompts
    mask = torch.ones_like(ids)

    def gen(k):
        with torch.no_grad():
            return m.generate(input_ids=ids, attention_mask=mask, max_new_tokens=k, min_new_tokens=k, do_sample=False,
                              use_cache=True, pad_token_id=pad)

    def timed(k):
        o = []
        if ids.device.type == "cuda":
            torch.cuda.synchronize()
        return timed_loop(torch, ids.device, lambda: o.append(gen(k))), o[0]

    gen(min(n, 4))  # warm-up
    t1, _ = timed(1)
    tn, out = timed(n)
    if out.shape[1] != ids.shape[1] + n:
        raise RuntimeError(f"generate returned {out.shape[1] - ids.shape[1]} new tokens, not {n}")
    return t1, tn, out[:, ids.shape[1]:].tolist()


def sync(torch, dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["mamba", "gpt2"])
    ap.add_argument("model")
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--hf-new", type=int, default=None, help="new tokens for HF generate (default: --new)")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--json")
    ap.add_argument("--no-hf", action="store_true")
    ap.add_argument("--no-graph", action="store_true")
    ap.add_argument("--device", default="cuda", help="cuda, or cpu to check the plumbing on a host without a GPU")
    a = ap.parse_args()
    rows = []

    def emit(row):
        rows.append(row)
        if a.json:
            with open(a.json + ".tmp", "w") as f:
                json.dump(rows, f)
            os.replace(a.json + ".tmp", a.json)

    try:
        import torch
    except Exception as e:  # no PyTorch: say so, not a failure of surpass
        log(f"PyTorch not available ({e}); no peer figures")
        emit(dict(model=a.kind, impl="env", error=f"PyTorch not available: {e}"))
        return 0
    if a.device == "cuda" and not torch.cuda.is_available():
        log("PyTorch has no CUDA device; no peer figures")
        emit(dict(model=a.kind, impl="env", error="no CUDA device"))
        return 0
    dev = torch.device(a.device)
    if a.device == "cpu":  # plumbing check: no CUDA graph, wall-clock timing, figures mean nothing
        a.no_graph = True
        name = "cpu"
    else:
        name = torch.cuda.get_device_properties(0).name
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    st = [f for f in sorted(os.listdir(a.model)) if f.endswith(".safetensors")]
    sd = {}
    for f in st:
        sd.update(load_safetensors(torch, os.path.join(a.model, f)))
    prompts_all = json.load(open(a.prompts))["prompts"]
    batches = [int(b) for b in a.batches.split(",") if b]
    env = dict(model=a.kind, impl="env", torch=torch.__version__, device=name)
    log(f"{a.kind}: torch {torch.__version__} on {name}; {sum(v.numel() for v in sd.values()) / 1e6:.1f} M parameters from {a.model}")
    torch.manual_seed(0)

    with torch.no_grad():
        try:
            plain = (MambaTorch if a.kind == "mamba" else Gpt2Torch)(torch, sd, cfg, dev)
        except Exception as e:
            plain = None
            log(f"{a.kind}: plain PyTorch model failed to build: {type(e).__name__}: {e}")
            emit(dict(model=a.kind, impl="torch eager", error=f"{type(e).__name__}: {e}"))
        for B in batches:
            if plain is None:
                break
            pr = torch.tensor(prompts_all[:B], dtype=torch.int64, device=dev)
            eager_ids = None
            for graph in ([False] if a.no_graph else [False, True]):
                impl = "torch cuda-graph" if graph else "torch eager"
                try:
                    sec, ids = run_plain(torch, plain, pr, a.new, graph)
                    tps = B * (a.new - 1) / sec
                    row = dict(model=a.kind, impl=impl, batch=B, new_tokens=a.new, decode_tokens_per_s=tps,
                               ms_per_step=1e3 * sec / (a.new - 1), ids=ids)
                    if graph and eager_ids is not None:
                        row["same_ids_as_eager"] = ids == eager_ids
                    if not graph:
                        eager_ids = ids
                    emit(row)
                    log(f"{a.kind} b{B} {impl}: {tps:,.0f} tokens/s ({row['ms_per_step']:.2f} ms/step)"
                        + ("" if "same_ids_as_eager" not in row else f", ids as eager: {row['same_ids_as_eager']}"))
                except Exception as e:
                    log(f"{a.kind} b{B} {impl}: failed: {type(e).__name__}: {e}")
                    emit(dict(model=a.kind, impl=impl, batch=B, error=f"{type(e).__name__}: {e}"))
                sync(torch, dev)
        del plain
        if dev.type == "cuda":
            torch.cuda.empty_cache()

        if a.no_hf:
            emit(dict(model=a.kind, impl="hf generate", error="skipped (--no-hf)"))
        else:
            try:
                import transformers  # noqa: F401
                have_hf = True
            except Exception as e:
                have_hf = False
                log(f"transformers not importable ({type(e).__name__}: {e}); no HF generate figures")
                emit(dict(model=a.kind, impl="hf generate", error=f"transformers not importable: {e}"))
            if have_hf:
                n = a.hf_new or a.new
                try:
                    m, note = hf_model(torch, a.kind, sd, cfg, dev)
                    env["hf"] = note
                    log(f"{a.kind}: HF model built ({note})")
                except Exception as e:
                    m = None
                    log(f"{a.kind}: HF model failed to build: {type(e).__name__}: {e}")
                    emit(dict(model=a.kind, impl="hf generate", error=f"{type(e).__name__}: {e}"))
                for B in batches:
                    if m is None:
                        break
                    pr = torch.tensor(prompts_all[:B], dtype=torch.int64, device=dev)
                    try:
                        t1, tn, ids = run_hf(torch, m, pr, n, 0 if a.kind == "mamba" else cfg.get("eos_token_id", 0))
                        tps = B * (n - 1) / (tn - t1) if tn > t1 else float("nan")
                        row = dict(model=a.kind, impl="hf generate", batch=B, new_tokens=n, decode_tokens_per_s=tps,
                                   e2e_tokens_per_s=B * n / tn, generate_1_s=t1, generate_n_s=tn, note=note, ids=ids)
                        emit(row)
                        log(f"{a.kind} b{B} hf generate: {tps:,.0f} tokens/s after the first ({B * n / tn:,.0f} end to end, {n} new)")
                    except Exception as e:
                        log(f"{a.kind} b{B} hf generate: failed: {type(e).__name__}: {e}")
                        emit(dict(model=a.kind, impl="hf generate", batch=B, error=f"{type(e).__name__}: {e}"))
                    sync(torch, dev)
    emit(env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
