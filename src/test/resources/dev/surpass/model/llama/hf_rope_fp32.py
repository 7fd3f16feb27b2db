# Writes hf_rope_fp32.txt: HF transformers' RoPE frequencies and cos/sin tables as fp32 bit patterns,
# computed by torch on the CPU with the same operations, in the same order, as transformers'
# modeling_rope_utils (_compute_default_rope_parameters, linear, _compute_llama3_parameters) and
# LlamaRotaryEmbedding.forward. Rerun: python3 hf_rope_fp32.py > hf_rope_fp32.txt (torch 1.13 here).
import math, struct, torch

def default(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype=torch.float) / dim))

def llama3(base, dim, factor, lo, hi, old):
    inv_freq = default(base, dim)
    low_freq_wavelen, high_freq_wavelen = old / lo, old / hi
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama)

def cos_sin(inv, positions):
    freqs = (inv[None, :, None].float() @ torch.tensor([positions])[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[0], emb.sin()[0]

def line(name, t):
    print(name, ' '.join('%08x' % struct.unpack('<I', struct.pack('<f', v))[0] for v in t.flatten().tolist()))

POSITIONS = [0, 1, 7, 1000, 4095, 131071]
cases = [("default theta=10000 D=64", default(10000.0, 64)),
         ("linear theta=500000 D=128 factor=4", default(500000.0, 128) / 4.0),
         ("llama3 theta=500000 D=128 factor=8 lo=1 hi=4 old=8192", llama3(500000.0, 128, 8.0, 1.0, 4.0, 8192)),
         ("llama3 theta=10000 D=16 factor=8 lo=1 hi=4 old=16", llama3(10000.0, 16, 8.0, 1.0, 4.0, 16))]
for name, inv in cases:
    line("inv " + name.replace(' ', ','), inv)
    c, s = cos_sin(inv, POSITIONS)
    line("cos " + name.replace(' ', ','), c[:, : inv.numel()])
    line("sin " + name.replace(' ', ','), s[:, : inv.numel()])
