# Writes tiny_dit.pt (torch.save of a DiT state dict as facebookresearch/DiT's train.py saves it: {"model", "ema", "opt",
# "args"}) and tiny_dit_ema.safetensors (the same "ema" tensors through tools/train/common.py's writer), fp16, for
# DiTTest's check that DiT.load reads the official .pt format: hidden 64, 1 block, patch 2, 8×8 input, 4 channels,
# learn_sigma, 10 classes. config.json beside them gives num_heads (64 is not an official width).
# Run with Debian's python3-torch 1.13 or any newer PyTorch from this folder.
import argparse, json, os, sys, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), *[".."] * 7, "tools", "train"))
from common import save_safetensors
torch.manual_seed(7)
D, C, P, G, K, M = 64, 4, 2, 4, 10, 256
sd = {"x_embedder.proj.weight": torch.randn(D, C, P, P) * 0.3, "x_embedder.proj.bias": torch.randn(D) * 0.1,
      "pos_embed": torch.randn(1, G * G, D) * 0.1,
      "t_embedder.mlp.0.weight": torch.randn(D, 256) * 0.06, "t_embedder.mlp.0.bias": torch.randn(D) * 0.1,
      "t_embedder.mlp.2.weight": torch.randn(D, D) * 0.12, "t_embedder.mlp.2.bias": torch.randn(D) * 0.1,
      "y_embedder.embedding_table.weight": torch.randn(K + 1, D) * 0.5,
      "blocks.0.attn.qkv.weight": torch.randn(3 * D, D) * 0.12, "blocks.0.attn.qkv.bias": torch.randn(3 * D) * 0.1,
      "blocks.0.attn.proj.weight": torch.randn(D, D) * 0.12, "blocks.0.attn.proj.bias": torch.randn(D) * 0.1,
      "blocks.0.mlp.fc1.weight": torch.randn(M, D) * 0.12, "blocks.0.mlp.fc1.bias": torch.randn(M) * 0.1,
      "blocks.0.mlp.fc2.weight": torch.randn(D, M) * 0.06, "blocks.0.mlp.fc2.bias": torch.randn(D) * 0.1,
      "blocks.0.adaLN_modulation.1.weight": torch.randn(6 * D, D) * 0.12, "blocks.0.adaLN_modulation.1.bias": torch.randn(6 * D) * 0.1,
      "final_layer.linear.weight": torch.randn(P * P * 2 * C, D) * 0.12, "final_layer.linear.bias": torch.randn(P * P * 2 * C) * 0.1,
      "final_layer.adaLN_modulation.1.weight": torch.randn(2 * D, D) * 0.12, "final_layer.adaLN_modulation.1.bias": torch.randn(2 * D) * 0.1}
ema = {k: v.half() for k, v in sd.items()}
model = {k: (v * 0.5).half() for k, v in sd.items() if k.startswith("x_embedder")}  # another copy: the loader must take the ema
torch.save({"model": model, "ema": ema, "opt": {"state": {}, "param_groups": [{"lr": 1e-4}]},
            "args": argparse.Namespace(model="DiT-tiny", image_size=16)}, "tiny_dit.pt")
save_safetensors(ema, "tiny_dit_ema.safetensors")
json.dump({"num_heads": 2}, open("config.json", "w"))
