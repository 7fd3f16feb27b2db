#!/usr/bin/env python3
"""Random-weight checkpoints shaped like real ones, for end-to-end GPU timings (GPU host, PyTorch).

  make_random_checkpoints.py OUTDIR [--mamba] [--dit]

--mamba: OUTDIR/mamba-130m/ (config.json in mamba_ssm's form + model.safetensors, bf16, mamba_ssm key
         names): d_model 768, 24 layers, vocab 50277 padded to 50280, d_state 16, d_conv 4, tied head.
--dit:   OUTDIR/DiT-XL-2-256x256.safetensors (bf16, official facebookresearch/DiT key names): hidden
         1152, depth 28, 16 heads, patch 2, 4 latent channels, learn_sigma, 1000 classes; no
         pos_embed (the fixed sin-cos table is recomputed by the loader).
Weights are N(0, 0.02) (A_log = log(1..16), D = 1, dt bias as mamba_ssm initialises it), so
activations stay finite; figures measured with them are speeds, not quality.
"""
import argparse, json, math, os
import torch
from safetensors.torch import save_file

def rnd(*shape, std=0.02):
    return (torch.randn(*shape, device="cuda") * std).to(torch.bfloat16).cpu()

def mamba(out):
    d, L, V, N, K = 768, 24, 50280, 16, 4
    di, r = 2 * d, math.ceil(d / 16)
    t = {"backbone.embedding.weight": rnd(V, d), "backbone.norm_f.weight": torch.ones(d, dtype=torch.bfloat16)}
    for i in range(L):
        p = f"backbone.layers.{i}."
        dt = torch.exp(torch.rand(di) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
        t.update({
            p + "norm.weight": torch.ones(d, dtype=torch.bfloat16),
            p + "mixer.in_proj.weight": rnd(2 * di, d),
            p + "mixer.conv1d.weight": rnd(di, 1, K, std=0.2),
            p + "mixer.conv1d.bias": rnd(di),
            p + "mixer.x_proj.weight": rnd(r + 2 * N, di),
            p + "mixer.dt_proj.weight": rnd(di, r, std=r ** -0.5),
            p + "mixer.dt_proj.bias": (dt + torch.log(-torch.expm1(-dt))).to(torch.bfloat16),
            p + "mixer.A_log": torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(di, 1),
            p + "mixer.D": torch.ones(di),
            p + "mixer.out_proj.weight": rnd(d, di),
        })
    os.makedirs(os.path.join(out, "mamba-130m"), exist_ok=True)
    save_file(t, os.path.join(out, "mamba-130m", "model.safetensors"))
    cfg = {"d_model": d, "n_layer": L, "vocab_size": 50277, "ssm_cfg": {}, "rms_norm": True,
           "residual_in_fp32": True, "fused_add_norm": True, "pad_vocab_size_multiple": 8, "tie_embeddings": True}
    json.dump(cfg, open(os.path.join(out, "mamba-130m", "config.json"), "w"))

def dit(out):
    H, depth, p, C, classes = 1152, 28, 2, 4, 1000
    t = {"x_embedder.proj.weight": rnd(H, C, p, p), "x_embedder.proj.bias": rnd(H),
         "t_embedder.mlp.0.weight": rnd(H, 256), "t_embedder.mlp.0.bias": rnd(H),
         "t_embedder.mlp.2.weight": rnd(H, H), "t_embedder.mlp.2.bias": rnd(H),
         "y_embedder.embedding_table.weight": rnd(classes + 1, H),
         "final_layer.linear.weight": rnd(p * p * 2 * C, H), "final_layer.linear.bias": rnd(p * p * 2 * C),
         "final_layer.adaLN_modulation.1.weight": rnd(2 * H, H), "final_layer.adaLN_modulation.1.bias": rnd(2 * H)}
    for i in range(depth):
        b = f"blocks.{i}."
        t.update({b + "attn.qkv.weight": rnd(3 * H, H), b + "attn.qkv.bias": rnd(3 * H),
                  b + "attn.proj.weight": rnd(H, H), b + "attn.proj.bias": rnd(H),
                  b + "mlp.fc1.weight": rnd(4 * H, H), b + "mlp.fc1.bias": rnd(4 * H),
                  b + "mlp.fc2.weight": rnd(H, 4 * H), b + "mlp.fc2.bias": rnd(H),
                  b + "adaLN_modulation.1.weight": rnd(6 * H, H), b + "adaLN_modulation.1.bias": rnd(6 * H)})
    os.makedirs(out, exist_ok=True)
    save_file(t, os.path.join(out, "DiT-XL-2-256x256.safetensors"))

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("out"); ap.add_argument("--mamba", action="store_true"); ap.add_argument("--dit", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    if a.mamba: mamba(a.out)
    if a.dit: dit(a.out)
