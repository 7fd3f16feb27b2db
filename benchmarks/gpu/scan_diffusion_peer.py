#!/usr/bin/env python3
"""PyTorch peer for the surpass scan and diffusion-step benchmarks (GPU host).

On the shapes `surpass bench --device cuda --op selective_scan,ddim_step,dpmpp2m_step` runs:
- selective_scan: mamba_ssm's `selective_scan_ref` (a PyTorch loop over L, fp32) with D, z, the
  delta bias and softplus, u/delta/z [Bt, Dm, L], A [Dm, N], B/C [Bt, N, L];
- ddim_step: one DDIM step (eta 0, epsilon prediction) with classifier-free guidance, eager PyTorch
  as diffusers writes it, on latents [b, 4, h, w] fp32 with a [uncond; cond] model output [2b, ...];
- dpmpp2m_step: one second-order DPM-Solver++(2M) step with guidance, eager, same shapes.
GB/s use the bytes surpass counts (what the op must read + write once), so the figures compare.
Prints one line per case and, with --json FILE, the figures as JSON. Timing: CUDA events, median of
20 after 5 warm-ups (2 for the scan loop).
"""
import argparse, json, math, sys

import peer_timing


def scan_bytes(Bt, Dm, N, L, gate=True, es=4):
    return (4 if gate else 3) * Bt * Dm * L * es + 2 * Bt * N * L * es + Dm * N * 4 + 2 * Dm * 4 + Bt * Dm * N * 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # no PyTorch: say so, not a failure of surpass
        print(f"scan_diffusion_peer: PyTorch not available ({e})"); return 0
    if not torch.cuda.is_available():
        print("scan_diffusion_peer: no CUDA device"); return 0
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 (einsum may use matmul)
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(0)
    print(f"scan_diffusion_peer: torch {torch.__version__} on {props.name}, {props.multi_processor_count} SMs")

    def timed(fn, reps=20, warm=5):
        return peer_timing.timed(torch, fn, reps, warm)

    rows = []
    copy_gbs = peer_timing.copy_gbs(torch, dev)
    print(f"copy {copy_gbs:.0f} GB/s (read+write)")
    rows.append(dict(case="copy", gbs=copy_gbs))

    # ---- selective scan: mamba_ssm selective_scan_ref (fp32, no initial state) ----
    Bt, Dm, N, L = (2 if a.quick else 8), 1536, 16, 2048
    g = torch.Generator(device=dev).manual_seed(0)
    rnd = lambda *s, sc=1.0: (torch.rand(*s, device=dev, generator=g) * 2 - 1) * sc
    u, delta, z = rnd(Bt, Dm, L), rnd(Bt, Dm, L), rnd(Bt, Dm, L, sc=2.0)
    A = -(1 + rnd(Dm, N, sc=0.5))
    B, C = rnd(Bt, N, L), rnd(Bt, N, L)
    D, bias = rnd(Dm), rnd(Dm, sc=0.5)

    def scan_ref(gate=True):
        dt = F.softplus(delta + bias[..., None])
        dA = torch.exp(torch.einsum("bdl,dn->bdln", dt, A))
        dBu = torch.einsum("bdl,bnl,bdl->bdln", dt, B, u)
        h = u.new_zeros(Bt, Dm, N)
        ys = []
        for i in range(L):
            h = dA[:, :, i] * h + dBu[:, :, i]
            ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, i]))
        yy = torch.stack(ys, dim=2) + u * D[:, None]
        return (yy * F.silu(z) if gate else yy), h

    # with the gate z (the mamba block's call); without it (issue 4's floor) on the full run only
    for gate in ((True,) if a.quick else (True, False)):
        sb = scan_bytes(Bt, Dm, N, L, gate)
        label = f"Bt{Bt} Dm{Dm} N{N} L{L}" + ("" if gate else " no-z")
        try:
            t = timed(lambda: scan_ref(gate), warm=2)
            gbs = sb / t / 1e9
            print(f"selective_scan torch-loop fp32 {label}: {t*1e3:.3f} ms {gbs:.1f} GB/s "
                  f"({gbs/copy_gbs*100:.1f}% of copy); bytes floor at the copy figure {sb/copy_gbs/1e3:.1f} us")
            rows.append(dict(case="selective_scan", impl="torch-loop", Bt=Bt, Dm=Dm, N=N, L=L, z=gate,
                             ms=t * 1e3, gbs=gbs, bytes=sb))
        except Exception as e:
            print(f"selective_scan torch-loop {label}: failed ({str(e).splitlines()[0]})")
    del u, delta, z, A, B, C, D, bias
    torch.cuda.empty_cache()

    # ---- diffusion steps: latents [b, 4, h, w] fp32, guided model output [uncond; cond] ----
    b, c, hh, ww = (16, 4, 64, 64) if a.quick else (64, 4, 128, 128)
    n = b * c * hh * ww
    xl = rnd(b, c, hh, ww, sc=2.0)
    mo = rnd(2 * b, c, hh, ww)
    prev_x0 = rnd(b, c, hh, ww)
    s = 7.5
    # DDIM (eta 0) on a scaled-linear schedule, t = 501 -> 481 (the constants do not change the cost)
    betas = [x_ ** 2 for x_ in [math.sqrt(0.00085) + (math.sqrt(0.012) - math.sqrt(0.00085)) * i / 999 for i in range(1000)]]
    acp, p = [], 1.0
    for bt_ in betas: p *= 1 - bt_; acp.append(p)
    at, ap_ = acp[501], acp[481]

    def ddim():
        mu, mc = mo.chunk(2)
        eps = mu + s * (mc - mu)
        x0 = (xl - math.sqrt(1 - at) * eps) / math.sqrt(at)
        return math.sqrt(ap_) * x0 + math.sqrt(1 - ap_) * eps

    # DPM-Solver++(2M), second-order step (diffusers' midpoint form), eps prediction
    sg = lambda t_: math.sqrt((1 - acp[t_]) / acp[t_])
    al = lambda sgm: 1 / math.sqrt(sgm * sgm + 1)
    lam = lambda sgm: math.log(al(sgm)) - math.log(sgm * al(sgm))
    s_prev, s_cur, s_next = sg(947), sg(894), sg(841)
    h_ = lam(s_next) - lam(s_cur); r0 = (lam(s_cur) - lam(s_prev)) / h_
    a_cur, v_cur, a_next, v_next = al(s_cur), s_cur * al(s_cur), al(s_next), s_next * al(s_next)

    def dpmpp2m():
        mu, mc = mo.chunk(2)
        eps = mu + s * (mc - mu)
        x0 = (xl - v_cur * eps) / a_cur
        d = (1 + 1 / (2 * r0)) * x0 - (1 / (2 * r0)) * prev_x0
        out = (v_next / v_cur) * xl - a_next * (math.exp(-h_) - 1) * d
        prev_x0.copy_(x0)  # the state the next step reads (surpass writes it in the same pass)
        return out

    for name, fn, nb in (("ddim_step", ddim, 4 * n * 4), ("dpmpp2m_step", dpmpp2m, 6 * n * 4)):
        t = timed(fn)
        gbs = nb / t / 1e9
        print(f"{name} torch-eager fp32 [{b}, {c}, {hh}, {ww}] cfg: {t*1e6:.1f} us {gbs:.0f} GB/s "
              f"({gbs/copy_gbs*100:.1f}% of copy); bytes floor at the copy figure {nb/copy_gbs/1e3:.1f} us")
        rows.append(dict(case=name, impl="torch-eager", shape=[b, c, hh, ww], us=t * 1e6, gbs=gbs, bytes=nb))
    if a.json:
        with open(a.json, "w") as f: json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
