#!/usr/bin/env python3
"""Trains a character-level language model on Jane Austen's novels and saves it in Hugging Face form.

  --arch gpt    a Llama-style decoder (RMSNorm, rotate-half RoPE, SwiGLU, untied head), saved as
                LlamaForCausalLM (model.embed_tokens / model.layers.i.* / model.norm / lm_head)
  --arch mamba  a Mamba-1 model (mamba_ssm semantics: Add -> RMSNorm -> Mixer, selective scan with
                softplus(dt + dt_proj.bias), silu(z) gate), saved as HF MambaForCausalLM
                (backbone.embeddings / backbone.layers.i.mixer.* / backbone.norm_f, tied head)

Both write config.json, model.safetensors (fp32), tokenizer.json (a byte-level BPE whose tokens are
the corpus' characters, so dev.surpass.text and HF tokenizers read it), metrics.json and a README.

Data: austen_data.py (Debian r-cran-janeaustenr); train = first 95% of the characters, held-out = last 5%.
Held-out bits per character: the held-out text cut into consecutive windows of ctx+1 characters
(window w = chars [w*ctx, w*ctx + ctx]); the model reads the first ctx, and we sum -log2 p of the ctx
next characters; bpc = total bits / predicted characters. "subset" = the same over the first
--subset-chars + 1 held-out characters (what the Java tests recompute).

Runs on a CPU (PyTorch 1.13+) or a GPU (PyTorch 2.x; --device cuda).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import austen_data  # noqa: E402
from common import save_safetensors  # noqa: E402

# ----------------------------------------------------------------------------------------------
# Vocabulary and tokenizer.json


def byte_to_unicode():
    """GPT-2's bytes_to_unicode map (byte -> printable character)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def build_vocab(text):
    """Ids 0..K-1: the corpus' characters in code-point order. Then, for each multi-byte character,
    the single-byte pieces the BPE needs before merging them (never produced by encoding the corpus)."""
    chars = sorted(set(text))
    b2u = byte_to_unicode()
    vocab, merges = {}, []
    for c in chars:
        vocab["".join(b2u[b] for b in c.encode("utf-8"))] = len(vocab)
    for c in chars:
        bs = c.encode("utf-8")
        if len(bs) == 1:
            continue
        pieces = [b2u[b] for b in bs]
        for p in pieces:
            if p not in vocab:
                vocab[p] = len(vocab)
        acc = pieces[0]
        for p in pieces[1:]:
            merged = acc + p
            if merged not in vocab:
                vocab[merged] = len(vocab)
            merges.append(acc + " " + p)
            acc = merged
    return chars, vocab, merges


def tokenizer_json(vocab, merges):
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
        "pre_tokenizer": bl, "post_processor": bl, "decoder": bl,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": merges},
    }


# ----------------------------------------------------------------------------------------------
# Models


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h, self.hd = heads, d // heads
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.h, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.h, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        att = att.masked_fill(mask[:t, :t], float("-inf")).softmax(-1)
        return self.o_proj((att @ v).transpose(1, 2).reshape(b, t, -1))


class LlamaMLP(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.input_layernorm = RMSNorm(d, cfg["rms_norm_eps"])
        self.self_attn = LlamaAttention(d, cfg["num_attention_heads"])
        self.post_attention_layernorm = RMSNorm(d, cfg["rms_norm_eps"])
        self.mlp = LlamaMLP(d, cfg["intermediate_size"])

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaBody(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([LlamaLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class CharLlama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = LlamaBody(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        hd = cfg["hidden_size"] // cfg["num_attention_heads"]
        inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        pos = torch.arange(cfg["max_position_embeddings"], dtype=torch.float64)
        fr = torch.outer(pos, inv)
        emb = torch.cat((fr, fr), dim=-1)
        self.register_buffer("cos", emb.cos().float(), persistent=False)
        self.register_buffer("sin", emb.sin().float(), persistent=False)
        n = cfg["max_position_embeddings"]
        self.register_buffer("mask", torch.triu(torch.ones(n, n, dtype=torch.bool), 1), persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * cfg["num_hidden_layers"]) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                nn.init.normal_(p, std=std)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.model.embed_tokens(ids)
        cos, sin = self.cos[:t], self.sin[:t]
        for layer in self.model.layers:
            x = layer(x, cos, sin, self.mask)
        return self.lm_head(self.model.norm(x))

    def state_for_save(self):
        return {k: v for k, v in self.state_dict().items()}


class MambaMixer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, di, n, r, w = (cfg["hidden_size"], cfg["intermediate_size"], cfg["state_size"], cfg["time_step_rank"],
                          cfg["conv_kernel"])
        self.di, self.n, self.r = di, n, r
        self.in_proj = nn.Linear(d, 2 * di, bias=False)
        self.conv1d = nn.Conv1d(di, di, w, groups=di, padding=w - 1, bias=True)
        self.x_proj = nn.Linear(di, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, di, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(di, 1).contiguous())
        self.D = nn.Parameter(torch.ones(di))
        self.out_proj = nn.Linear(di, d, bias=False)
        # mamba_ssm's dt init: weight U(+-r^-0.5), bias = softplus^-1(dt), dt log-uniform in [1e-3, 1e-1]
        nn.init.uniform_(self.dt_proj.weight, -r ** -0.5, r ** -0.5)
        dt = torch.exp(torch.rand(di) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def forward(self, h):
        b, L, _ = h.shape
        x, z = self.in_proj(h).chunk(2, dim=-1)
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :L]).transpose(1, 2)             # [b, L, di]
        dt, B, C = torch.split(self.x_proj(x), [self.r, self.n, self.n], dim=-1)
        delta = F.softplus(dt @ self.dt_proj.weight.t() + self.dt_proj.bias)          # [b, L, di]
        A = -torch.exp(self.A_log)                                                     # [di, n]
        y = SelectiveScan.apply(delta, A, B, C, x)
        y = y + x * self.D
        return self.out_proj(y * F.silu(z))


def selective_scan_ref(delta, A, B, C, x):
    """y_t[d] = sum_n C_t[n] h_t[d, n],  h_t = exp(delta_t[d] A[d, n]) h_{t-1} + delta_t[d] B_t[n] x_t[d]  (h_{-1} = 0).
    Plain autograd; slow (every step's tensors are kept). For checking SelectiveScan."""
    b, L, di = x.shape
    h = x.new_zeros(b, di, A.shape[1])
    ys = []
    for t in range(L):
        h = torch.exp(delta[:, t, :, None] * A) * h + (delta[:, t] * x[:, t])[:, :, None] * B[:, t, None, :]
        ys.append((h * C[:, t, None, :]).sum(-1))
    return torch.stack(ys, 1)


class SelectiveScan(torch.autograd.Function):
    """The same recurrence as selective_scan_ref with a hand-written backward: one step at a time on
    [b, d_inner, d_state] tensors, keeping only the states h_t (a [b, L, d_inner, d_state] buffer),
    which avoids autograd's per-step graph and the large temporaries that make CPU training slow."""

    @staticmethod
    def forward(ctx, delta, A, B, C, x):
        b, L, di = x.shape
        n = A.shape[1]
        hs = x.new_empty(b, L, di, n)
        ys = x.new_empty(b, L, di)
        h = x.new_zeros(b, di, n)
        u = delta * x
        for t in range(L):
            h = torch.exp(delta[:, t, :, None] * A) * h + u[:, t, :, None] * B[:, t, None, :]
            hs[:, t] = h
            ys[:, t] = torch.bmm(h, C[:, t, :, None]).squeeze(-1)
        ctx.save_for_backward(delta, A, B, C, x, hs)
        return ys

    @staticmethod
    def backward(ctx, gy):
        delta, A, B, C, x, hs = ctx.saved_tensors
        b, L, di = x.shape
        gy = gy.contiguous()
        g_delta = torch.empty_like(delta)
        g_x = torch.empty_like(x)
        g_B = torch.empty_like(B)
        g_C = torch.empty_like(C)
        g_A = torch.zeros_like(A)
        gh = x.new_zeros(b, di, A.shape[1])
        for t in range(L - 1, -1, -1):
            h_t = hs[:, t]
            gh = gh + gy[:, t, :, None] * C[:, t, None, :]
            g_C[:, t] = torch.bmm(gy[:, t, None, :], h_t).squeeze(1)
            dA = torch.exp(delta[:, t, :, None] * A)
            ghB = torch.bmm(gh, B[:, t, :, None]).squeeze(-1)                         # [b, di]
            g_x[:, t] = ghB * delta[:, t]
            gd = ghB * x[:, t]
            g_B[:, t] = torch.bmm((delta[:, t] * x[:, t])[:, None, :], gh).squeeze(1)
            if t > 0:
                tmp = gh * hs[:, t - 1] * dA                                            # dL/d(delta A) per element
                gd = gd + (tmp * A).sum(-1)
                g_A += (tmp * delta[:, t, :, None]).sum(0)
            g_delta[:, t] = gd
            gh = gh * dA
        return g_delta, g_A, g_B, g_C, g_x


class MambaBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm = RMSNorm(cfg["hidden_size"], cfg["layer_norm_epsilon"])
        self.mixer = MambaMixer(cfg)


class MambaBackbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([MambaBlock(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm_f = RMSNorm(cfg["hidden_size"], cfg["layer_norm_epsilon"])


class CharMamba(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.backbone = MambaBackbone(cfg)
        nn.init.normal_(self.backbone.embeddings.weight, std=0.02)
        for layer in self.backbone.layers:  # mamba_ssm's rescale_prenorm_residual
            nn.init.kaiming_uniform_(layer.mixer.out_proj.weight, a=math.sqrt(5))
            with torch.no_grad():
                layer.mixer.out_proj.weight /= math.sqrt(cfg["num_hidden_layers"])

    def forward(self, ids):
        residual = self.backbone.embeddings(ids)
        for layer in self.backbone.layers:
            residual = residual + layer.mixer(layer.norm(residual))
        return F.linear(self.backbone.norm_f(residual), self.backbone.embeddings.weight)  # tied head

    def state_for_save(self):
        return dict(self.state_dict())


def make_config(arch, args, vocab_size):
    if arch == "gpt":
        return {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab_size,
            "hidden_size": args.d_model, "intermediate_size": args.ffn, "num_hidden_layers": args.layers,
            "num_attention_heads": args.heads, "num_key_value_heads": args.heads,
            "head_dim": args.d_model // args.heads, "hidden_act": "silu",
            "max_position_embeddings": args.ctx, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "rope_scaling": None, "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
            "attention_dropout": 0.0, "initializer_range": 0.02, "torch_dtype": "float32",
            "bos_token_id": None, "eos_token_id": None, "use_cache": True,
        }
    return {
        "architectures": ["MambaForCausalLM"], "model_type": "mamba", "vocab_size": vocab_size,
        "hidden_size": args.d_model, "num_hidden_layers": args.layers, "state_size": 16, "expand": 2,
        "intermediate_size": 2 * args.d_model, "conv_kernel": 4, "time_step_rank": math.ceil(args.d_model / 16),
        "layer_norm_epsilon": 1e-5, "use_bias": False, "use_conv_bias": True, "hidden_act": "silu",
        "residual_in_fp32": True, "tie_word_embeddings": True, "rescale_prenorm_residual": False,
        "time_step_scale": 1.0, "time_step_min": 0.001, "time_step_max": 0.1, "time_step_init_scheme": "random",
        "time_step_floor": 1e-4, "initializer_range": 0.1, "torch_dtype": "float32",
        "bos_token_id": None, "eos_token_id": None, "pad_token_id": None, "use_cache": True,
    }


# ----------------------------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def bits_per_char(model, ids, ctx, batch=64):
    """Sum of -log2 p over consecutive windows of ctx+1 ids (see the module docstring); returns (bpc, chars)."""
    model.eval()
    n_win = (len(ids) - 1) // ctx
    total, count = 0.0, 0
    for w0 in range(0, n_win, batch):
        ws = range(w0, min(n_win, w0 + batch))
        x = torch.stack([ids[w * ctx:w * ctx + ctx] for w in ws])
        y = torch.stack([ids[w * ctx + 1:w * ctx + ctx + 1] for w in ws])
        lp = F.log_softmax(model(x.to(DEVICE)).double(), -1)
        total += -lp.gather(-1, y.to(DEVICE).unsqueeze(-1)).sum().item()
        count += y.numel()
    model.train()
    return total / count / math.log(2), count


DEVICE = "cpu"


def main():
    global DEVICE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["gpt", "mamba"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=384)
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--stop-at", type=int, default=0, help="stop after this many steps (the lr schedule still spans --steps); "
                    "reproduces a run that --max-minutes cut short")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop early (and say so) after this wall time; 0 = no limit")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=500, help="held-out subset bpc and a checkpoint every N steps")
    ap.add_argument("--subset-chars", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rdb", default=None, help="path of janeaustenr's Rdata.rdb")
    args = ap.parse_args()
    DEVICE = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    text = austen_data.austen_text(args.rdb)  # 4,025,029 bytes, sha256 65b434d1...
    train_text, held_text = austen_data.split(text)
    chars, vocab, merges = build_vocab(text)
    cid = {c: i for i, c in enumerate(chars)}
    train_ids = torch.tensor([cid[c] for c in train_text], dtype=torch.long)
    held_ids = torch.tensor([cid[c] for c in held_text], dtype=torch.long)
    subset_ids = held_ids[:args.subset_chars + 1]

    cfg = make_config(args.arch, args, len(vocab))
    model = (CharLlama(cfg) if args.arch == "gpt" else CharMamba(cfg)).to(DEVICE)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.arch}: {n_params} parameters, vocab {len(vocab)}, train {len(train_ids)} chars, held-out {len(held_ids)}", flush=True)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(args.seed)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    curve, evals = [], []
    t0 = time.time()
    run_loss, run_n, step = 0.0, 0, 0
    stopped_early = False

    def save(tag_step):
        sd = {k: v.float() for k, v in model.state_for_save().items()}
        save_safetensors(sd, os.path.join(args.out, "model.safetensors"), {"format": "pt"})

    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        starts = torch.randint(0, len(train_ids) - args.ctx - 1, (args.batch,), generator=gen)
        x = torch.stack([train_ids[s:s + args.ctx] for s in starts]).to(DEVICE)
        y = torch.stack([train_ids[s + 1:s + args.ctx + 1] for s in starts]).to(DEVICE)
        loss = F.cross_entropy(model(x).reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        run_loss += loss.item()
        run_n += 1
        if (step + 1) % args.log_every == 0:
            el = time.time() - t0
            curve.append({"step": step + 1, "train_loss_nats": round(run_loss / run_n, 5),
                          "train_bpc": round(run_loss / run_n / math.log(2), 5), "seconds": round(el, 1)})
            print(f"step {step + 1}/{args.steps} loss {run_loss / run_n:.4f} ({run_loss / run_n / math.log(2):.3f} bpc) "
                  f"lr {lr_at(step):.2e} {el:.0f}s", flush=True)
            run_loss, run_n = 0.0, 0
        if (step + 1) % args.eval_every == 0:
            sb, _ = bits_per_char(model, subset_ids, args.ctx)
            evals.append({"step": step + 1, "heldout_subset_bpc": round(sb, 5)})
            print(f"  held-out subset bpc {sb:.4f}", flush=True)
            save(step + 1)
        if args.max_minutes and time.time() - t0 > args.max_minutes * 60 and step + 1 < args.steps:
            stopped_early = True
            print(f"stopping at step {step + 1}: --max-minutes {args.max_minutes} reached", flush=True)
            break
        if args.stop_at and step + 1 >= args.stop_at and step + 1 < args.steps:
            stopped_early = True
            print(f"stopping at step {step + 1}: --stop-at", flush=True)
            break
    train_seconds = time.time() - t0
    steps_done = step + 1

    save(steps_done)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "heldout-subset.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(held_text[:args.subset_chars + 1])  # what the Java tests score
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges), f, ensure_ascii=False, indent=1)
        f.write("\n")

    t1 = time.time()
    full_bpc, full_n = bits_per_char(model, held_ids, args.ctx)
    sub_bpc, sub_n = bits_per_char(model, subset_ids, args.ctx)
    eval_seconds = time.time() - t1
    print(f"held-out bpc {full_bpc:.4f} over {full_n} chars; subset ({sub_n} chars) {sub_bpc:.4f}", flush=True)

    metrics = {
        "model": "LlamaForCausalLM (character level)" if args.arch == "gpt" else "MambaForCausalLM (character level, Mamba-1)",
        "parameters": n_params,
        "data": {
            "source": "Jane Austen's six novels, Debian package r-cran-janeaustenr 1.0.0-1 (data/Rdata.rdb, decoded by tools/train/austen_data.py)",
            "licence": "novels public domain; janeaustenr package MIT (c) Julia Silge",
            "text": "all lines joined with \\n plus a final \\n: 4,025,028 characters, sha256 65b434d16a8755142bfa95ba19c5f9abd0d30cf3dffe3b6793e834f9f56dcc96 (UTF-8)",
            "train": f"characters [0, {len(train_text)})",
            "held_out": f"characters [{len(train_text)}, {len(text)}) (the last 5%)",
        },
        "tokenizer": f"one token per character: ids 0..{len(chars) - 1} are the {len(chars)} distinct characters in code-point order; tokenizer.json is a byte-level BPE with merges only inside multi-byte characters",
        "seed": args.seed,
        "hyper_parameters": {k: getattr(args, k) for k in ["d_model", "layers", "heads", "ffn", "ctx", "batch", "steps", "lr", "warmup"]}
        if args.arch == "gpt" else {k: getattr(args, k) for k in ["d_model", "layers", "ctx", "batch", "steps", "lr", "warmup"]},
        "optimizer": "AdamW betas (0.9, 0.95), weight decay 0.1 on matrices, linear warm-up then cosine to 10% of lr, grad clip 1.0",
        "steps_done": steps_done,
        "stopped_early": stopped_early,
        "tokens_seen": steps_done * args.batch * args.ctx,
        "train_seconds": round(train_seconds, 1),
        "device": DEVICE + (f" ({torch.get_num_threads()} threads)" if DEVICE == "cpu" else ""),
        "torch": torch.__version__,
        "eval_protocol": f"consecutive windows of ctx+1 = {args.ctx + 1} characters starting at 0, ctx apart; the model reads the first {args.ctx} and is scored on the next {args.ctx}; bpc = sum(-log2 p) / scored characters; log-softmax in float64",
        "heldout_bpc": round(full_bpc, 6),
        "heldout_scored_chars": full_n,
        "heldout_subset": {"chars": f"held-out characters [0, {args.subset_chars + 1}), saved as heldout-subset.txt", "scored_chars": sub_n,
                           "bpc": sub_bpc},
        "eval_seconds": round(eval_seconds, 1),
        "loss_curve": curve,
        "subset_bpc_during_training": evals,
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    # a greedy sample for the README
    prompt = "It is a truth universally acknowledged"
    ids = torch.tensor([[cid[c] for c in prompt]], device=DEVICE)
    model.eval()
    with torch.no_grad():
        for _ in range(args.ctx - ids.shape[1]):
            nxt = model(ids)[0, -1].argmax()
            ids = torch.cat([ids, nxt.view(1, 1)], 1)
    sample = "".join(chars[i] for i in ids[0].tolist())
    print("greedy sample:", repr(sample), flush=True)
    with open(os.path.join(args.out, "sample.txt"), "w") as f:
        f.write(sample + "\n")


if __name__ == "__main__":
    main()
