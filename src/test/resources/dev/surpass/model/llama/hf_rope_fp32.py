# Writes hf_rope_fp32.txt: HF transformers' RoPE frequencies and cos/sin tables as fp32 bit patterns,
# computed by torch on the CPU with the same operations, in the same order, as transformers'
# modeling_rope_utils (_compute_default_rope_parameters, linear, _compute_llama3_parameters,
# _compute_yarn_parameters) and LlamaRotaryEmbedding.forward (cos and sin times the attention factor).
# Rerun: python3 hf_rope_fp32.py > hf_rope_fp32.txt (torch 1.13 here).
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

def yarn(base, dim, factor, old, beta_fast=None, beta_slow=None, mscale=None, mscale_all_dim=None, truncate=True):
    def get_mscale(scale, m=1):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0
    attention_factor = (float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
                        if mscale and mscale_all_dim else get_mscale(factor))
    beta_fast, beta_slow = beta_fast or 32, beta_slow or 1
    def find_correction_dim(num_rotations):
        return (dim * math.log(old / (num_rotations * 2 * math.pi))) / (2 * math.log(base))
    low, high = find_correction_dim(beta_fast), find_correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos_freqs = base ** (torch.arange(0, dim, 2).to(dtype=torch.float) / dim)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    keep = 1 - ramp
    return interpolation * (1 - keep) + extrapolation * keep, attention_factor

def cos_sin(inv, positions, attention_factor=1.0):
    freqs = (inv[None, :, None].float() @ torch.tensor([positions])[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[0] * attention_factor, emb.sin()[0] * attention_factor

def line(name, t):
    print(name, ' '.join('%08x' % struct.unpack('<I', struct.pack('<f', v))[0] for v in t.flatten().tolist()))

POSITIONS = [0, 1, 7, 1000, 4095, 131071]
cases = [("default theta=10000 D=64", default(10000.0, 64)),
         ("linear theta=500000 D=128 factor=4", default(500000.0, 128) / 4.0),
         ("llama3 theta=500000 D=128 factor=8 lo=1 hi=4 old=8192", llama3(500000.0, 128, 8.0, 1.0, 4.0, 8192)),
         ("llama3 theta=10000 D=16 factor=8 lo=1 hi=4 old=16", llama3(10000.0, 16, 8.0, 1.0, 4.0, 16)),
         ("yarn theta=1000000 D=128 factor=4 old=32768", yarn(1000000.0, 128, 4.0, 32768)),
         ("yarn theta=10000 D=64 factor=16 old=4096 mscale=0.707 all=0.707 fast=24 slow=2 notruncate",
          yarn(10000.0, 64, 16.0, 4096, 24, 2, 0.707, 0.707, False))]
for name, inv in cases:
    inv, att = inv if isinstance(inv, tuple) else (inv, 1.0)
    line("inv " + name.replace(' ', ','), inv)
    c, s = cos_sin(inv, POSITIONS, att)
    line("cos " + name.replace(' ', ','), c[:, : inv.numel()])
    line("sin " + name.replace(' ', ','), s[:, : inv.numel()])
