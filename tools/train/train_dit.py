#!/usr/bin/env python3
"""Trains a small pixel-space DiT (facebookresearch/DiT models.py architecture: adaLN-Zero blocks,
learned sigma, class labels with a null class for classifier-free guidance) on Fashion-MNIST and saves
it in the official state-dict naming (x_embedder.proj, t_embedder.mlp.{0,2}, y_embedder.embedding_table,
blocks.i.{attn.qkv, attn.proj, mlp.fc1, mlp.fc2, adaLN_modulation.1}, final_layer.*, pos_embed) as
model.safetensors + config.json (DiT constructor arguments), plus:
  reference.safetensors  x, t, y -> forward output of the saved weights (for the Java test)
  samples-ddim.png       one row per class, DDIM 50 steps with guidance
  metrics.json, loss curve

Data: Debian dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz), pixels scaled
to [-1, 1], 28x28x1, no VAE. Diffusion: DiT's linear schedule (1000 steps, beta 1e-4..0.02), loss =
MSE on epsilon + the variational bound term for the learned variance (DiT/improved-diffusion L_hybrid).
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import save_safetensors  # noqa: E402

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load_fmnist(split, root=FMNIST_DIR):
    pre = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(root, f"{pre}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(root, f"{pre}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(x.astype(np.float32) / 127.5 - 1).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


# ----------------------------------------------------------------------------------------------
# The model (facebookresearch/DiT models.py, written out again)


def timestep_embedding(t, dim=256, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def sincos_1d(dim, pos):
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    out = np.einsum("m,d->md", pos.reshape(-1), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def pos_embed_2d(dim, grid):
    """DiT's get_2d_sincos_pos_embed: for token i*grid + j, [sincos(dim/2, j) | sincos(dim/2, i)]."""
    gh = np.arange(grid, dtype=np.float32)
    gw = np.arange(grid, dtype=np.float32)
    g = np.meshgrid(gw, gh)  # w first
    g = np.stack(g, axis=0).reshape(2, 1, grid, grid)
    return np.concatenate([sincos_1d(dim // 2, g[0]), sincos_1d(dim // 2, g[1])], axis=1)


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Attn(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        a = ((q @ k.transpose(-2, -1)) * (d // self.h) ** -0.5).softmax(-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, d, m):
        super().__init__()
        self.fc1 = nn.Linear(d, m)
        self.fc2 = nn.Linear(m, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, d, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attn(d, heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, int(d * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x, c):
        sm, cm, gm, sf, cf, gf = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gm.unsqueeze(1) * self.attn(modulate(self.norm1(x), sm, cm))
        return x + gf.unsqueeze(1) * self.mlp(modulate(self.norm2(x), sf, cf))


class FinalLayer(nn.Module):
    def __init__(self, d, p, out_c):
        super().__init__()
        self.norm_final = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(d, p * p * out_c)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class PatchEmbed(nn.Module):
    def __init__(self, c, d, p):
        super().__init__()
        self.proj = nn.Conv2d(c, d, p, stride=p)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))

    def forward(self, t):
        return self.mlp(timestep_embedding(t))


class LabelEmbedder(nn.Module):
    def __init__(self, classes, d):
        super().__init__()
        self.embedding_table = nn.Embedding(classes + 1, d)  # + the null class (index `classes`)


class DiT(nn.Module):
    def __init__(self, input_size, patch_size, in_channels, hidden_size, depth, num_heads, mlp_ratio, num_classes):
        super().__init__()
        self.p, self.c, self.out_c, self.num_classes = patch_size, in_channels, 2 * in_channels, num_classes
        self.x_embedder = PatchEmbed(in_channels, hidden_size, patch_size)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.y_embedder = LabelEmbedder(num_classes, hidden_size)
        grid = input_size // patch_size
        self.pos_embed = nn.Parameter(torch.from_numpy(pos_embed_2d(hidden_size, grid)).float().unsqueeze(0), requires_grad=False)
        self.blocks = nn.ModuleList([Block(hidden_size, num_heads, mlp_ratio) for _ in range(depth)])
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_c)
        # DiT's initialize_weights
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.x_embedder.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for blk in self.blocks:
            nn.init.zeros_(blk.adaLN_modulation[-1].weight)
            nn.init.zeros_(blk.adaLN_modulation[-1].bias)
        for lin in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def unpatchify(self, x):
        c, p = self.out_c, self.p
        h = w = int(x.shape[1] ** 0.5)
        x = x.reshape(x.shape[0], h, w, p, p, c)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(x.shape[0], c, h * p, w * p)

    def forward(self, x, t, y):
        x = self.x_embedder(x) + self.pos_embed
        c = self.t_embedder(t) + self.y_embedder.embedding_table(y)
        for blk in self.blocks:
            x = blk(x, c)
        return self.unpatchify(self.final_layer(x, c))


# ----------------------------------------------------------------------------------------------
# Gaussian diffusion (DiT's create_diffusion: linear betas, learned range variance, L_hybrid)


class Diffusion:
    def __init__(self, T=1000):
        betas = np.linspace(1e-4, 0.02, T, dtype=np.float64)
        ac = np.cumprod(1 - betas)
        ac_prev = np.append(1.0, ac[:-1])
        pv = betas * (1 - ac_prev) / (1 - ac)
        f = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        self.T = T
        self.betas_np, self.ac_np = betas, ac
        self.sqrt_ac, self.sqrt_1m_ac = f(np.sqrt(ac)), f(np.sqrt(1 - ac))
        self.sqrt_recip_ac, self.sqrt_recipm1_ac = f(np.sqrt(1 / ac)), f(np.sqrt(1 / ac - 1))
        self.log_var_clipped = f(np.log(np.append(pv[1], pv[1:])))
        self.log_betas = f(np.log(betas))
        self.c1 = f(betas * np.sqrt(ac_prev) / (1 - ac))
        self.c2 = f((1 - ac_prev) * np.sqrt(1 - betas) / (1 - ac))

    def to(self, device):
        for k in ["sqrt_ac", "sqrt_1m_ac", "sqrt_recip_ac", "sqrt_recipm1_ac", "log_var_clipped", "log_betas", "c1", "c2"]:
            setattr(self, k, getattr(self, k).to(device))
        return self

    @staticmethod
    def _b(a, t):
        return a[t].view(-1, 1, 1, 1)

    def loss(self, model, x0, t, y):
        noise = torch.randn_like(x0)
        xt = self._b(self.sqrt_ac, t) * x0 + self._b(self.sqrt_1m_ac, t) * noise
        out = model(xt, t, y)
        C = x0.shape[1]
        eps, v = out[:, :C], out[:, C:]
        mse = ((eps - noise) ** 2).mean(dim=(1, 2, 3))
        # variational bound with the mean frozen (only the variance learns from it)
        frac = (v + 1) / 2
        log_var = frac * self._b(self.log_betas, t) + (1 - frac) * self._b(self.log_var_clipped, t)
        x0_pred = self._b(self.sqrt_recip_ac, t) * xt - self._b(self.sqrt_recipm1_ac, t) * eps.detach()
        mean = self._b(self.c1, t) * x0_pred + self._b(self.c2, t) * xt
        true_mean = self._b(self.c1, t) * x0 + self._b(self.c2, t) * xt
        true_lv = self._b(self.log_var_clipped, t)
        kl = 0.5 * (-1.0 + log_var - true_lv + torch.exp(true_lv - log_var) + (true_mean - mean) ** 2 * torch.exp(-log_var))
        kl = kl.mean(dim=(1, 2, 3)) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x0, mean, 0.5 * log_var).mean(dim=(1, 2, 3)) / math.log(2.0)
        vb = torch.where(t == 0, nll, kl)
        return (mse + vb).mean(), mse.mean(), vb.mean()

    @torch.no_grad()
    def ddim_sample(self, model, y, steps=50, cfg_scale=2.0, null_class=10, gen=None):
        """DDIM (eta 0) on DiT's respaced timesteps range(0, 1000, 1000 // steps), guidance on the eps channels."""
        n = y.shape[0]
        x = torch.randn(n, model.c, 28, 28, generator=gen)
        ts = list(range(0, self.T, self.T // steps))
        for i in reversed(range(len(ts))):
            t = ts[i]
            ac = float(self.ac_np[t])
            ac_prev = float(self.ac_np[ts[i - 1]]) if i > 0 else 1.0
            tt = torch.full((2 * n,), t, dtype=torch.long)
            out = model(torch.cat([x, x]), tt, torch.cat([y, torch.full_like(y, null_class)]))
            e_c, e_u = out[:n, :model.c], out[n:, :model.c]
            eps = e_u + cfg_scale * (e_c - e_u)
            x0 = ((x - math.sqrt(1 - ac) * eps) / math.sqrt(ac)).clamp(-1, 1)
            eps = (x - math.sqrt(ac) * x0) / math.sqrt(1 - ac)
            x = math.sqrt(ac_prev) * x0 + math.sqrt(1 - ac_prev) * eps
        return x


def approx_std_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    cx = x - means
    inv = torch.exp(-log_scales)
    cdf_plus = approx_std_normal_cdf(inv * (cx + 1.0 / 255.0))
    cdf_min = approx_std_normal_cdf(inv * (cx - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_1m_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_1m_cdf_min, log_delta))


def save_grid(imgs, path, rows, cols, scale=3):
    """imgs [rows*cols, 1, 28, 28] in [-1, 1] -> a grey PNG with 2-pixel gaps."""
    from PIL import Image
    a = ((imgs.clamp(-1, 1) + 1) * 127.5).round().byte().numpy()[:, 0]
    h, w = a.shape[1:]
    g = 2
    canvas = np.full((rows * (h + g) + g, cols * (w + g) + g), 255, np.uint8)
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        canvas[g + r * (h + g):g + r * (h + g) + h, g + c * (w + g):g + c * (w + g) + w] = a[i]
    Image.fromarray(canvas).resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST).save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--patch", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--stop-at", type=int, default=0, help="stop after this many steps (the lr schedule still spans --steps); "
                    "reproduces a run that --max-minutes cut short")
    ap.add_argument("--max-minutes", type=float, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--sample-every", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--data", default=FMNIST_DIR)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (training only; evaluation and sampling run on the CPU)")
    ap.add_argument("--init", default=None, help="start from these weights (a model.safetensors of an earlier run: its EMA) "
                    "instead of the random init; the optimizer starts fresh")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    xs, ys = load_fmnist("train", args.data)
    xte, yte = load_fmnist("test", args.data)
    cfg = {"input_size": 28, "patch_size": args.patch, "in_channels": 1, "hidden_size": args.hidden, "depth": args.depth,
           "num_heads": args.heads, "mlp_ratio": 4.0, "num_classes": 10, "learn_sigma": True, "class_dropout_prob": 0.1}
    model = DiT(28, args.patch, 1, args.hidden, args.depth, args.heads, 4.0, 10)
    ema = DiT(28, args.patch, 1, args.hidden, args.depth, args.heads, 4.0, 10)
    if args.init:
        from common import load_safetensors
        model.load_state_dict(load_safetensors(args.init))
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"DiT: {n_params} trainable parameters, {len(xs)} training images", flush=True)
    diff = Diffusion().to(args.device)
    model.to(args.device)
    ema.to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(args.seed)
    curve, run, run_m, run_v, k = [], 0.0, 0.0, 0.0, 0
    t0 = time.time()
    stopped_early = False

    def save_model(m):
        sd = {k2: v.float() for k2, v in m.state_dict().items()}
        save_safetensors(sd, os.path.join(args.out, "model.safetensors"), {"format": "pt"})

    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, len(xs), (args.batch,), generator=gen)
        x0, y = xs[idx], ys[idx].clone()
        y[torch.rand(args.batch, generator=gen) < 0.1] = 10  # class dropout -> null class
        t = torch.randint(0, diff.T, (args.batch,), generator=gen)
        loss, mse, vb = diff.loss(model, x0.to(args.device), t.to(args.device), y.to(args.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm, alpha=1 - decay)
        run, run_m, run_v, k = run + loss.item(), run_m + mse.item(), run_v + vb.item(), k + 1
        if (step + 1) % args.log_every == 0:
            el = time.time() - t0
            curve.append({"step": step + 1, "loss": round(run / k, 5), "mse": round(run_m / k, 5), "vb": round(run_v / k, 5),
                          "seconds": round(el, 1)})
            print(f"step {step + 1}/{args.steps} loss {run / k:.4f} (mse {run_m / k:.4f}, vb {run_v / k:.4f}) lr {lr:.2e} {el:.0f}s", flush=True)
            run, run_m, run_v, k = 0.0, 0.0, 0.0, 0
        if args.sample_every and (step + 1) % args.sample_every == 0:
            save_model(ema)
        if args.max_minutes and time.time() - t0 > args.max_minutes * 60 and step + 1 < args.steps:
            stopped_early = True
            print(f"stopping at step {step + 1}: --max-minutes reached", flush=True)
            break
        if args.stop_at and step + 1 >= args.stop_at and step + 1 < args.steps:
            stopped_early = True
            print(f"stopping at step {step + 1}: --stop-at", flush=True)
            break
    train_seconds = time.time() - t0
    steps_done = step + 1
    ema.eval()
    ema.cpu()
    diff.to("cpu")
    save_model(ema)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")

    # held-out loss of the EMA weights on a fixed slice of the test set (fixed noise and timesteps)
    g2 = torch.Generator().manual_seed(7)
    with torch.no_grad():
        torch.manual_seed(7)
        tl, tm, tv = diff.loss(ema, xte[:1000], torch.randint(0, diff.T, (1000,), generator=g2), yte[:1000])
    print(f"test loss {tl.item():.4f} (mse {tm.item():.4f}, vb {tv.item():.4f})", flush=True)

    # reference forward pass for the Java test: 4 inputs, fractional and integer t, a null label
    g3 = torch.Generator().manual_seed(99)
    rx = torch.randn(4, 1, 28, 28, generator=g3)
    rt = torch.tensor([999.0, 500.0, 37.5, 0.0])
    ry = torch.tensor([0, 5, 9, 10])
    with torch.no_grad():
        ro = ema(rx, rt, ry)
    save_safetensors({"x": rx, "t": rt, "y": ry.float(), "out": ro}, os.path.join(args.out, "reference.safetensors"),
                     {"note": "out = model(x, t, y) of model.safetensors in float32 (PyTorch); y stored as float"})

    t1 = time.time()
    labels = torch.arange(10).repeat_interleave(8)
    imgs = diff.ddim_sample(ema, labels, steps=50, cfg_scale=2.0, gen=torch.Generator().manual_seed(args.seed))
    # 10 rows (classes) x 8
    save_grid(imgs, os.path.join(args.out, "samples-ddim50-cfg2.png"), 10, 8)
    save_grid(xte[torch.cat([torch.nonzero(yte == c)[:8, 0] for c in range(10)])], os.path.join(args.out, "real-test-images.png"), 10, 8)
    sample_seconds = time.time() - t1
    metrics = {
        "model": "DiT (facebookresearch/DiT models.py naming), pixel space, learned sigma, class-conditional",
        "config": cfg,
        "parameters": n_params,
        "data": {"source": "Fashion-MNIST, Debian package dataset-fashion-mnist 0.0~git20200523.55506a9-1 "
                           "(/usr/share/datasets/fashion-mnist)", "licence": "MIT (Zalando Research)",
                 "train": "the 60,000 training images", "held_out": "the first 1,000 test images",
                 "pixels": "uint8 / 127.5 - 1, 28x28x1, no VAE"},
        "diffusion": "1000 steps, linear betas 1e-4..0.02 (float64), loss = MSE(eps) + VB term with the mean frozen (DiT L_hybrid), class dropout 0.1 to label 10",
        "seed": args.seed,
        "init": args.init or "random (DiT initialize_weights)",
        "hyper_parameters": {"batch": args.batch, "steps": args.steps, "lr": args.lr, "ema": args.ema,
                             "schedule": "50-step warm-up, cosine to 10%", "optimizer": "AdamW, no weight decay, grad clip 1.0"},
        "saved_weights": "EMA",
        "steps_done": steps_done,
        "stopped_early": stopped_early,
        "train_seconds": round(train_seconds, 1),
        "device": args.device + (f" ({torch.get_num_threads()} threads)" if args.device == "cpu" else ""),
        "torch": torch.__version__,
        "final_train_loss": curve[-1] if curve else None,
        "test_loss_ema": {"loss": round(tl.item(), 5), "mse": round(tm.item(), 5), "vb": round(tv.item(), 5),
                          "protocol": "test images [0, 1000), t ~ randint(0, 1000) and noise from torch.manual_seed(7)"},
        "samples": "samples-ddim50-cfg2.png: rows = classes " + ", ".join(f"{i} {c}" for i, c in enumerate(CLASSES))
                   + "; DDIM eta 0 on timesteps range(0, 1000, 20), guidance 2.0 on the eps channel, x0 clipped to [-1, 1]",
        "sample_seconds": round(sample_seconds, 1),
        "reference": "reference.safetensors: x [4,1,28,28] (randn, seed 99), t [999, 500, 37.5, 0], y [0, 5, 9, 10 (null)] -> out [4,2,28,28]",
        "loss_curve": curve,
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    print("done", flush=True)


if __name__ == "__main__":
    main()
