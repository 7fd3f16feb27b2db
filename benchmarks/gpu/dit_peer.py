#!/usr/bin/env python3
"""PyTorch peer for surpass's DiT on a GPU host: an independent transcription of
facebookresearch/DiT models.py (DiT, forward, forward_with_cfg) loading the same safetensors.

  dit_peer.py inputs FILE                      x [2,4,32,32] f32, t [2] i64, y [2] i64 (incl. the null class)
  dit_peer.py check MODEL INPUTS OUTPUTS       torch forward (fp32, TF32 off) vs `surpass forward`'s output
  dit_peer.py time MODEL [--batch 8 --steps 50 --cfg 4]
                                               50 DDIM steps with classifier-free guidance, end to end,
                                               fp32+TF32 and bf16 autocast (the official sample.py's work)
"""
import argparse, math, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
from safetensors.torch import load_file, save_file

def sincos_1d(dim, pos):
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    out = pos.reshape(-1).double()[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)

def pos_embed(dim, grid):
    # np.meshgrid(grid_w, grid_h) as the official code: the first grid is the column index, and its
    # embedding fills the first half of each row of the table.
    col, row = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64), indexing="xy")
    return torch.cat([sincos_1d(dim // 2, col), sincos_1d(dim // 2, row)], dim=1).float()

def t_embed(t, dim=256):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)

class DiT(nn.Module):
    def __init__(self, sd, heads=16, input_size=32):
        super().__init__()
        self.sd = {k: v.float().cuda() for k, v in sd.items()}
        w = self.sd["x_embedder.proj.weight"]
        self.H, self.C, self.p = w.shape[0], w.shape[1], w.shape[2]
        self.depth = 1 + max(int(k.split(".")[1]) for k in self.sd if k.startswith("blocks."))
        self.heads, self.grid = heads, input_size // self.p
        self.out_c = self.sd["final_layer.linear.weight"].shape[0] // (self.p * self.p)
        self.pos = pos_embed(self.H, self.grid).cuda()[None]

    def lin(self, x, name): return F.linear(x, self.sd[name + ".weight"], self.sd[name + ".bias"])

    def forward(self, x, t, y):
        s, N = self.sd, x.shape[0]
        x = F.conv2d(x, s["x_embedder.proj.weight"], s["x_embedder.proj.bias"], stride=self.p).flatten(2).transpose(1, 2) + self.pos
        te = self.lin(F.silu(self.lin(t_embed(t), "t_embedder.mlp.0")), "t_embedder.mlp.2")
        c = te + s["y_embedder.embedding_table.weight"][y]
        ln = lambda v: F.layer_norm(v, (self.H,), eps=1e-6)
        mod = lambda v, sh, sc: v * (1 + sc[:, None]) + sh[:, None]
        for i in range(self.depth):
            b = f"blocks.{i}."
            sm, scm, gm, sp, scp, gp = self.lin(F.silu(c), b + "adaLN_modulation.1").chunk(6, dim=1)
            h = mod(ln(x), sm, scm)
            qkv = self.lin(h, b + "attn.qkv").reshape(N, -1, 3, self.heads, self.H // self.heads).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(N, -1, self.H)
            x = x + gm[:, None] * self.lin(a, b + "attn.proj")
            h = mod(ln(x), sp, scp)
            x = x + gp[:, None] * self.lin(F.gelu(self.lin(h, b + "mlp.fc1"), approximate="tanh"), b + "mlp.fc2")
        sh, sc = self.lin(F.silu(c), "final_layer.adaLN_modulation.1").chunk(2, dim=1)
        x = self.lin(mod(ln(x), sh, sc), "final_layer.linear")
        g, p, oc = self.grid, self.p, self.out_c
        return torch.einsum("nhwpqc->nchpwq", x.reshape(N, g, g, p, p, oc)).reshape(N, oc, g * p, g * p)

    def forward_with_cfg(self, x, t, y, scale):
        half = x[: len(x) // 2]
        out = self.forward(torch.cat([half, half]), t, y)
        eps, rest = out[:, :3], out[:, 3:]
        cond, uncond = torch.split(eps, len(eps) // 2, dim=0)
        h = uncond + scale * (cond - uncond)
        return torch.cat([torch.cat([h, h]), rest], dim=1)

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("cmd"); ap.add_argument("args", nargs="*")
    ap.add_argument("--batch", type=int, default=8); ap.add_argument("--steps", type=int, default=50); ap.add_argument("--cfg", type=float, default=4.0)
    a = ap.parse_args()
    if a.cmd == "inputs":
        g = torch.Generator().manual_seed(7)
        save_file({"x": torch.randn(2, 4, 32, 32, generator=g), "t": torch.tensor([999, 500]), "y": torch.tensor([207, 1000])}, a.args[0])
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False; torch.backends.cudnn.allow_tf32 = False
    m = DiT(load_file(a.args[0]))
    if a.cmd == "check":
        inp, outp = load_file(a.args[1]), load_file(a.args[2])
        with torch.no_grad():
            ref = m.forward(inp["x"].cuda(), inp["t"].cuda(), inp["y"].cuda())
        got = outp["output"].cuda().float()
        rel = ((got - ref).norm() / ref.norm()).item()
        print(f"dit forward check: surpass vs torch fp32 (TF32 off) relL2 {rel:.3e} maxAbs {(got - ref).abs().max().item():.3e} "
              f"{'PASS' if rel < 1e-3 else 'FAIL'} (tolerance 1e-3)")
        return 0 if rel < 1e-3 else 1
    if a.cmd == "time":
        B, steps = a.batch, a.steps
        betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
        ac = torch.cumprod(1 - betas, 0)
        ts = list(range(999, -1, -1000 // steps))[:steps]
        y = torch.cat([torch.arange(B) % 1000, torch.full((B,), 1000)]).cuda()
        for mode in ("tf32", "bf16"):
            torch.backends.cuda.matmul.allow_tf32 = True
            def run():
                x = torch.randn(B, 4, 32, 32, device="cuda")
                for i, t in enumerate(ts):
                    xx = torch.cat([x, x])
                    tt = torch.full((2 * B,), t, device="cuda")
                    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=(mode == "bf16")):
                        out = m.forward_with_cfg(xx, tt, y, a.cfg)
                    eps = out[:B, :4].float()
                    a_t = ac[t].item(); a_p = ac[ts[i + 1]].item() if i + 1 < len(ts) else 1.0
                    x0 = (x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
                    x = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * eps
                return x
            with torch.no_grad():
                run(); torch.cuda.synchronize()
                t0 = time.perf_counter(); run(); torch.cuda.synchronize(); dt = time.perf_counter() - t0
            print(f"torch DiT {steps} DDIM steps, CFG {a.cfg}, batch {B} ({2*B} with guidance), {mode}: {dt:.3f} s")
        return 0
    print(__doc__); return 2

if __name__ == "__main__":
    sys.exit(main())
