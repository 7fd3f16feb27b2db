# Writes the PyTorch checkpoints PyTorchCheckpointTest reads (run with Debian's python3-torch 1.13 or any newer PyTorch):
#   state_dict.pt   an OrderedDict state dict: fp32/fp16/bf16/fp64/int32/int64/bool tensors, a Parameter, a transposed
#                   (non-contiguous) view, a sliced view with a storage offset, two names on one tensor, nested containers
#   train.pt        a train.py-style checkpoint: {"model", "ema", "opt" (Adam state), "args" (argparse.Namespace), "step"}
#   legacy.pt       the pre-1.6 (non-zip) format, which the reader refuses with a hint
import argparse, collections, torch
a = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 - 1
base = torch.arange(20, dtype=torch.float32).reshape(4, 5)
sd = collections.OrderedDict()
sd["a.weight"] = a
sd["a.bias"] = torch.tensor([0.5, -1.5, 2.25, 1e-3], dtype=torch.float16)
sd["b"] = torch.tensor([[1.0, -2.0, 3.5], [0.1, 100.0, -0.25]], dtype=torch.bfloat16)
sd["d64"] = torch.tensor([1.0 / 3, -2.5, 1e10], dtype=torch.float64)
sd["i32"] = torch.tensor([[1, -2], [3, 2147483647]], dtype=torch.int32)
sd["ids"] = torch.tensor([0, 1, -5, 2 ** 40, 7], dtype=torch.int64)
sd["mask"] = torch.tensor([True, False])
sd["p"] = torch.nn.Parameter(torch.tensor([[2.0, 4.0]]))
sd["t"] = base.t()                 # [5, 4], strides (1, 5)
sd["s"] = base[1:, 2:]             # [3, 3], offset 7, strides (5, 1)
sd["tied"] = a                     # the same tensor object again
sd["scalar"] = torch.tensor(3.0)
sd["nested"] = {"x": torch.tensor([9.0]), "lst": [torch.tensor([1, 2]), torch.tensor([3.0])]}
sd["n"] = 5
sd["name"] = "not a tensor"
torch.save(sd, "state_dict.pt")
m = torch.nn.Linear(3, 2)
with torch.no_grad():
    m.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])); m.bias.copy_(torch.tensor([0.5, -0.5]))
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
m(torch.ones(1, 3)).sum().backward(); opt.step()
ema = {k: v.detach().clone() * 2 for k, v in m.state_dict().items()}
torch.save({"model": m.state_dict(), "ema": ema, "opt": opt.state_dict(), "args": argparse.Namespace(model="DiT-S/2", lr=1e-4), "step": 3}, "train.pt")
torch.save({"w": torch.ones(2)}, "legacy.pt", _use_new_zipfile_serialization=False)
