#!/usr/bin/env python3
"""Prints surpass's scan and diffusion-step figures next to PyTorch's from the same run.

  scan_diffusion_compare.py BENCH_JSON PEER_JSON

BENCH_JSON: `surpass bench --device cuda --op selective_scan,ddim_step,dpmpp2m_step --json FILE`;
PEER_JSON: `scan_diffusion_peer.py --json FILE`. Cases are matched by (Bt, Dm, N, L, with z or not) for the scan
and by the latent shape for the steps; GB/s on both sides count the same bytes (what the op must
read + write once); %copy is against each side's own device-to-device copy figure;
speedup = PyTorch time / surpass time (> 1: surpass is faster).
"""
import json, re, sys


def main(bench_path, peer_path):
    bench = json.load(open(bench_path))
    peer = json.load(open(peer_path))
    cuda = [d for d in bench["devices"] if d["device"].startswith("cuda")]
    if not cuda:
        print("no CUDA device in", bench_path); return 1
    dev = cuda[0]
    peak = dev["peak"]
    copy = [p["gbs"] for p in peer if p.get("case") == "copy"]
    torch_copy = copy[0] if copy else None
    print(f"{dev['device']}: copy {peak['gbps']:.0f} GB/s ({peak['gbpsMethod']})"
          + (f"; PyTorch copy {torch_copy:.0f} GB/s" if torch_copy else ""))
    print(f"{'case':44s} {'surpass us':>11s} {'GB/s':>7s} {'%copy':>6s} | {'torch us':>11s} {'GB/s':>7s} {'%copy':>6s} | {'speedup':>7s}")
    shown = 0
    for r in dev["results"]:
        op = r["op"]
        if op == "selective_scan":
            m = re.match(r"Bt(\d+) Dm(\d+) N(\d+) L(\d+)( no-z)?$", r["shape"])
            if not m: continue
            key = tuple(map(int, m.groups()[:4])) + (m.group(5) is None,)
            peers = [p for p in peer if p.get("case") == op and (p["Bt"], p["Dm"], p["N"], p["L"], p.get("z", True)) == key]
        elif op in ("ddim_step", "dpmpp2m_step"):
            m = re.match(r"\[(\d+), (\d+), (\d+), (\d+)\]", r["shape"])
            if not m: continue
            key = list(map(int, m.groups()))
            peers = [p for p in peer if p.get("case") == op and p["shape"] == key]
        else:
            continue
        name = f"{op} {r['dtype']} {r['shape']}"
        if "error" in r:
            print(f"{name:44s} ERROR {r['error']}"); shown += 1; continue
        ours_us = r["medianMs"] * 1e3
        ours = f"{ours_us:11.1f} {r['value']:7.0f} {100 * r['fractionOfPeak']:5.1f}%"
        if not peers:
            print(f"{name:44s} {ours} | {'-':>11s} {'-':>7s} {'-':>6s} | {'-':>7s}"); shown += 1; continue
        for p in peers:
            t_us = p["ms"] * 1e3 if "ms" in p else p["us"]
            pc = f"{100 * p['gbs'] / torch_copy:5.1f}%" if torch_copy else f"{'-':>6s}"
            print(f"{name:44s} {ours} | {t_us:11.1f} {p['gbs']:7.0f} {pc} | {t_us / ours_us:6.2f}x  ({p['impl']})")
            shown += 1
    if shown == 0:
        print("no selective_scan / ddim_step / dpmpp2m_step results in", bench_path); return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__); sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
