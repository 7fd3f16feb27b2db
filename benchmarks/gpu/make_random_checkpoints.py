#!/usr/bin/env python3
"""Random-weight checkpoints shaped like real ones, for end-to-end GPU timings (GPU host, PyTorch).

  make_random_checkpoints.py OUTDIR [--mamba] [--gpt2] [--dit] [--seed S]

--mamba: OUTDIR/mamba-130m/ (config.json in mamba_ssm's form + model.safetensors, bf16, mamba_ssm key
         names): d_model 768, 24 layers, vocab 50277 padded to 50280, d_state 16, d_conv 4, tied head.
--gpt2:  OUTDIR/gpt2-small/ (config.json and model.safetensors in the HF GPT2LMHeadModel form, bf16,
         "transformer." key names, Conv1D weights [in, out], tied head so no lm_head.weight): n_layer 12,
         n_embd 768, n_head 12, vocab 50257, n_positions 1024, gelu_new, eos 50256.
--dit:   OUTDIR/DiT-XL-2-256x256.safetensors (bf16, official facebookresearch/DiT key names): hidden
         1152, depth 28, 16 heads, patch 2, 4 latent channels, learn_sigma, 1000 classes; no
         pos_embed (the fixed sin-cos table is recomputed by the loader).
--seed S (default 0) seeds torch before each model is made, so a model's weights do not depend on
which other models are asked for. Safetensors carry {"format": "pt"} metadata (HF's loader wants it).
Weights are N(0, 0.02) (GPT-2: LayerNorm weights 1, biases 0, residual projections
0.02/sqrt(2·n_layer), wpe 0.01 as HF initialises them; A_log = log(1..16), D = 1, dt bias as mamba_ssm initialises it), so
activations stay finite; figures measured with them are speeds, not quality.
"""
import argparse, json, math, os
import torch
try:
    from safetensors.torch import save_file
except ImportError:  # the same format, written by hand (little-endian, header padded to 8 bytes)
    def save_file(t, path, metadata=None):
        import struct
        names = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32"}
        hdr, off, blobs = ({"__metadata__": metadata} if metadata else {}), 0, []
        for k, v in t.items():
            b = v.contiguous().view(torch.uint8).numpy().tobytes()
            hdr[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
            off += len(b); blobs.append(b)
        h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(h))); f.write(h)
            for b in blobs: f.write(b)

def rnd(*shape, std=0.02):
    return (torch.randn(*shape, device="cuda") * std).to(torch.bfloat16).cpu()

def save(t, path):
    save_file(t, path, metadata={"format": "pt"})

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
    save(t, os.path.join(out, "mamba-130m", "model.safetensors"))
    cfg = {"d_model": d, "n_layer": L, "vocab_size": 50277, "ssm_cfg": {}, "rms_norm": True,
           "residual_in_fp32": True, "fused_add_norm": True, "pad_vocab_size_multiple": 8, "tie_embeddings": True}
    json.dump(cfg, open(os.path.join(out, "mamba-130m", "config.json"), "w"))

def gpt2(out):
    L, E, H, V, P = 12, 768, 12, 50257, 1024
    ones, zeros = (lambda n: torch.ones(n, dtype=torch.bfloat16)), (lambda n: torch.zeros(n, dtype=torch.bfloat16))
    proj = 0.02 / math.sqrt(2 * L)
    t = {"transformer.wte.weight": rnd(V, E), "transformer.wpe.weight": rnd(P, E, std=0.01),
         "transformer.ln_f.weight": ones(E), "transformer.ln_f.bias": zeros(E)}
    for i in range(L):
        p = f"transformer.h.{i}."
        t.update({p + "ln_1.weight": ones(E), p + "ln_1.bias": zeros(E),
                  p + "attn.c_attn.weight": rnd(E, 3 * E), p + "attn.c_attn.bias": rnd(3 * E),
                  p + "attn.c_proj.weight": rnd(E, E, std=proj), p + "attn.c_proj.bias": rnd(E),
                  p + "ln_2.weight": ones(E), p + "ln_2.bias": zeros(E),
                  p + "mlp.c_fc.weight": rnd(E, 4 * E), p + "mlp.c_fc.bias": rnd(4 * E),
                  p + "mlp.c_proj.weight": rnd(4 * E, E, std=proj), p + "mlp.c_proj.bias": rnd(E)})
    d = os.path.join(out, "gpt2-small")
    os.makedirs(d, exist_ok=True)
    save(t, os.path.join(d, "model.safetensors"))
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
           "n_layer": L, "n_embd": E, "n_head": H, "n_positions": P, "n_ctx": P, "vocab_size": V,
           "layer_norm_epsilon": 1e-5, "bos_token_id": 50256, "eos_token_id": 50256, "initializer_range": 0.02,
           "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "scale_attn_weights": True,
           "tie_word_embeddings": True, "use_cache": True, "torch_dtype": "bfloat16"}
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)

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
    save(t, os.path.join(out, "DiT-XL-2-256x256.safetensors"))

if __name__ == "__main__":
    ap = argparse.ArgumentParser(); ap.add_argument("out"); ap.add_argument("--mamba", action="store_true")
    ap.add_argument("--gpt2", action="store_true"); ap.add_argument("--dit", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    for on, make in ((a.mamba, mamba), (a.gpt2, gpt2), (a.dit, dit)):
        if on:
            torch.manual_seed(a.seed)
            make(a.out)
