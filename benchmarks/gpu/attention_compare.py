#!/usr/bin/env python3
"""Prints surpass's attention figures next to PyTorch's from the same run.

  attention_compare.py BENCH_JSON PEER_JSON

BENCH_JSON: `surpass bench --device cuda --op attention,attn_decode --json FILE`;
PEER_JSON: `attention_peer.py --json FILE`. Shapes are matched by (B, H, N, D, causal) for prefill
and (B, Hq, Hkv, L, D) for decode; ratio = surpass / peer (> 1: surpass is faster).
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
    print(f"{dev['device']}: peak {peak['gflops']/1e3:.0f} TFLOP/s "
          f"({peak['gflopsMethod']}), {peak['gbps']:.0f} GB/s ({peak['gbpsMethod']})")
    print(f"{'case':44s} {'surpass':>12s} {'%peak':>6s} | {'flash':>10s} {'ratio':>6s} | {'cudnn':>10s} {'ratio':>6s}")
    for r in dev["results"]:
        if r["op"] == "attention":
            m = re.match(r"B(\d+) H(\d+) N(\d+) D(\d+)( causal)?", r["shape"])
            if not m: continue
            B, H, N, D = map(int, m.groups()[:4]); causal = m.group(5) is not None
            ours = r["value"] / 1e3  # GFLOP/s -> TFLOP/s
            peers = {p["backend"]: p["tflops"] for p in peer if p.get("case") == "prefill"
                     and (p["B"], p["H"], p["N"], p["D"], p["causal"]) == (B, H, N, D, causal)}
            unit = "TFLOP/s"
        elif r["op"] == "attn_decode":
            m = re.match(r"B(\d+) Hq(\d+) Hkv(\d+) L(\d+) D(\d+)", r["shape"])
            if not m: continue
            B, Hq, Hkv, L, D = map(int, m.groups())
            ours = r["value"]
            peers = {p["backend"]: p["gbs"] for p in peer if p.get("case") == "decode"
                     and (p["B"], p["Hq"], p["Hkv"], p["L"], p["D"]) == (B, Hq, Hkv, L, D)}
            unit = "GB/s"
        else:
            continue
        cells = []
        for be in ("flash", "cudnn"):
            v = peers.get(be)
            cells.append(f"{v:10.1f} {ours / v:6.2f}" if v else f"{'-':>10s} {'-':>6s}")
        name = f"{r['op']} {r['dtype']} {r['shape']}"
        print(f"{name:44s} {ours:8.1f} {unit:>3s} {100 * r['fractionOfPeak']:5.1f}% | {cells[0]} | {cells[1]}")
    return 0

if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__); sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
