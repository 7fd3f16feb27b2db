#!/usr/bin/env python3
"""PyTorch peer for the surpass attention benchmark (GPU host).

Times torch.nn.functional.scaled_dot_product_attention with the flash and cuDNN backends on the
shapes `surpass bench` runs (q/k/v in surpass's [B, N, H, D] layout, transposed as a view to SDPA's
[B, H, N, D], which is what a model hands it), and the paged decode shape as a contiguous-KV SDPA
decode (the read of the KV cache is the cost either way). Prints one line per case and, with
--json FILE, the figures as JSON for the report. Timing: CUDA events, median of 20 after 5 warm-ups.
"""
import argparse, json, sys

import peer_timing

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
        from torch.nn.attention import sdpa_kernel, SDPBackend
    except Exception as e:  # no PyTorch: say so, not a failure of surpass
        print(f"attention_peer: PyTorch not available ({e})"); return 0
    if not torch.cuda.is_available():
        print("attention_peer: no CUDA device"); return 0
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(0)
    print(f"attention_peer: torch {torch.__version__} on {props.name}, {props.multi_processor_count} SMs")

    def timed(fn, reps=20, warm=5):
        return peer_timing.timed(torch, fn, reps, warm)

    rows = []
    b16 = 4 if a.quick else 16
    shapes = [(b16, 16, 2048, d, c) for d in (64, 128) for c in (False, True)]
    if not a.quick: shapes.append((4, 16, 8192, 128, True))
    # copy bandwidth: the peak GB/s for the decode fraction
    copy_gbs = peer_timing.copy_gbs(torch, dev)
    print(f"copy {copy_gbs:.0f} GB/s (read+write)")
    rows.append(dict(case="copy", gbs=copy_gbs))
    for (B, H, N, D, causal) in shapes:
        q, k, v = (torch.randn(B, N, H, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
        qt, kt, vt = (t_.transpose(1, 2) for t_ in (q, k, v))
        flops = 4 * B * H * N * N * D / (2 if causal else 1)
        for name, be in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel([be]):
                    t = timed(lambda: F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal))
                tf = flops / t / 1e12
                print(f"sdpa-{name} bf16 B{B} H{H} N{N} D{D} {'causal' if causal else 'full'}: {t*1e3:.3f} ms {tf:.1f} TFLOP/s")
                rows.append(dict(case="prefill", backend=name, B=B, H=H, N=N, D=D, causal=causal, ms=t * 1e3, tflops=tf))
            except Exception as e:
                print(f"sdpa-{name} B{B} H{H} N{N} D{D} causal={causal}: unavailable ({str(e).splitlines()[0]})")
        del q, k, v
    # decode: B64 Hq32 Hkv8 L4096 D128 (GQA as enable_gqa)
    B, Hq, Hkv, L, D = (16 if a.quick else 64), 32, 8, 4096, 128
    q = torch.randn(B, Hq, 1, D, device=dev, dtype=torch.bfloat16)
    k = torch.randn(B, Hkv, L, D, device=dev, dtype=torch.bfloat16); v = torch.randn_like(k)
    kv_bytes = 2 * k.numel() * 2
    for name, be in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION), ("math", SDPBackend.MATH)):
        try:
            with sdpa_kernel([be]):
                t = timed(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True))
            gbs = kv_bytes / t / 1e9
            print(f"sdpa-{name} decode bf16 B{B} Hq{Hq} Hkv{Hkv} L{L} D{D}: {t*1e6:.1f} us {gbs:.0f} GB/s KV read ({gbs/copy_gbs*100:.0f}% of the copy figure)")
            rows.append(dict(case="decode", backend=name, B=B, Hq=Hq, Hkv=Hkv, L=L, D=D, us=t * 1e6, gbs=gbs))
        except Exception as e:
            print(f"sdpa-{name} decode: unavailable ({str(e).splitlines()[0]})")
    if a.json:
        with open(a.json, "w") as f: json.dump(rows, f, indent=1)
    return 0

if __name__ == "__main__":
    sys.exit(main())
