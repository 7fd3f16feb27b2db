# surpass's PixArt-α / PixArt-Σ (PixArtTransformer2DModel alone through `surpass forward`, and the whole pipeline through
# `surpass txt2img --latents`) against diffusers' arithmetic, without diffusers or transformers installed.
#
# Part 1, the transformer alone: tiny random PixArtTransformer2DModel folders in diffusers' key names (pos_embed.proj,
# adaln_single.emb.{timestep,resolution,aspect_ratio}_embedder, adaln_single.linear, caption_projection.linear_{1,2},
# transformer_blocks.i.{scale_shift_table, attn1, attn2, ff.net.0.proj, ff.net.2}, scale_shift_table, proj_out) run here
# in fp32 (and float64) PyTorch, transcribed from pixart_transformer_2d.py / attention.py (BasicTransformerBlock,
# norm_type "ada_norm_single") / embeddings.py (PatchEmbed with base_size and interpolation_scale,
# get_2d_sincos_pos_embed, PixArtAlphaCombinedTimestepSizeEmbeddings, PixArtAlphaTextProjection): the encoder mask
# becomes a (1 - mask) * -10000 bias on the cross-attention scores. Cases: α-1024-like use_additional_conditions
# (resolution + aspect ratio) on a non-square latent (the position grid recomputed), Σ-like interpolation_scale 0.5,
# and bf16 weights in two shards with diffusion_pytorch_model.safetensors.index.json.
#
# Part 2, the pipeline: a tiny PixArtAlphaPipeline (transformer sample_size 128, so the pipeline passes the resolution
# conditions, run at 64×64 px: the position grid interpolated from base 64) and a PixArtSigmaPipeline (max length 300)
# with a T5 tokenizer.json (Unigram, Metaspace, the </s> template), a gated-gelu T5EncoderModel, an AutoencoderKL decoder
# and the Hub's DPMSolverMultistepScheduler config; encode_prompt (lower().strip(), pad to max_length, attention mask,
# negative prompts), guidance 4.5 on [negative; prompt], the learned-sigma chunk, DPM-Solver++(2M) — compared with
# `surpass txt2img --latents` from the same initial latents (with --no-resolution-binning: the size as given).
# Part 3, resolution binning (use_resolution_binning=True, the pipelines' default): a PixArtAlphaPipeline with transformer
# sample_size 32 asked for 300×100 px samples at ASPECT_RATIO_256_BIN's closest bin (classify_height_width_bin), and the
# decoded pictures are resized back (resize_and_crop_tensor: F.interpolate bilinear to cover, center crop) — the final
# latents and the PNG pictures compared with `surpass txt2img` without the flag.
# Run from an empty folder: python3 diffusers_pixart_parity.py     Exits 1 when a relL2 is over its bound.
import json, math, os, subprocess, sys, time
import numpy as np
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402

SURPASS = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
ok = True

# ---------------------------------------------------------------------------------------------- the transformer
def make_transformer(seed, heads, hd, layers, caption, sample, patch, extra, interp=None, cin=4, cout=8):
    g = torch.Generator().manual_seed(seed)
    D = heads * hd
    w = {}
    def lin(p, i, o, scale=1.0):
        w[p + ".weight"] = torch.randn(o, i, generator=g) / i ** 0.5 * scale
        w[p + ".bias"] = 0.1 * torch.randn(o, generator=g)
    w["pos_embed.proj.weight"] = torch.randn(D, cin, patch, patch, generator=g) / (cin * patch * patch) ** 0.5
    w["pos_embed.proj.bias"] = 0.1 * torch.randn(D, generator=g)
    lin("adaln_single.emb.timestep_embedder.linear_1", 256, D); lin("adaln_single.emb.timestep_embedder.linear_2", D, D)
    if extra:
        for n in ("resolution_embedder", "aspect_ratio_embedder"):
            lin(f"adaln_single.emb.{n}.linear_1", 256, D // 3); lin(f"adaln_single.emb.{n}.linear_2", D // 3, D // 3)
    lin("adaln_single.linear", D, 6 * D, 0.5)
    lin("caption_projection.linear_1", caption, D); lin("caption_projection.linear_2", D, D)
    for i in range(layers):
        b = f"transformer_blocks.{i}."
        w[b + "scale_shift_table"] = torch.randn(6, D, generator=g) / D ** 0.5
        for a in ("attn1", "attn2"):
            for n in ("to_q", "to_k", "to_v", "to_out.0"): lin(f"{b}{a}.{n}", D, D)
        lin(b + "ff.net.0.proj", D, 4 * D); lin(b + "ff.net.2", 4 * D, D)
    w["scale_shift_table"] = torch.randn(2, D, generator=g) / D ** 0.5
    lin("proj_out", D, patch * patch * cout)
    cfg = {"_class_name": "PixArtTransformer2DModel", "_diffusers_version": "0.30.0", "activation_fn": "gelu-approximate",
           "attention_bias": True, "attention_head_dim": hd, "attention_type": "default", "caption_channels": caption,
           "cross_attention_dim": D, "double_self_attention": False, "dropout": 0.0, "in_channels": cin,
           "norm_elementwise_affine": False, "norm_eps": 1e-6, "norm_num_groups": 32, "norm_type": "ada_norm_single",
           "num_attention_heads": heads, "num_embeds_ada_norm": 1000, "num_layers": layers, "num_vector_embeds": None,
           "only_cross_attention": False, "out_channels": cout, "patch_size": patch, "sample_size": sample,
           "upcast_attention": False, "use_additional_conditions": extra, "use_linear_projection": False}
    if interp is not None: cfg["interpolation_scale"] = interp
    return w, cfg

def timestep_proj(t, dt):  # Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0), fp32 as diffusers
    half = 128
    ex = -math.log(10000) * torch.arange(0, half, dtype=torch.float32) / half
    e = t[:, None].float() * torch.exp(ex)[None, :]
    return torch.cat([torch.cos(e), torch.sin(e)], -1).to(dt)

def pos_embed(D, gh, gw, base, interp):  # get_2d_sincos_pos_embed(output_type="pt")
    grid_h = torch.arange(gh, dtype=torch.float32) / (gh / base) / interp
    grid_w = torch.arange(gw, dtype=torch.float32) / (gw / base) / interp
    grid = torch.stack(torch.meshgrid(grid_w, grid_h, indexing="xy"), 0).reshape(2, 1, gw, gh)
    def one(E, pos):
        om = torch.arange(E // 2, dtype=torch.float64) / (E / 2.0)
        om = 1.0 / 10000 ** om
        out = torch.outer(pos.reshape(-1).double(), om)
        return torch.cat([torch.sin(out), torch.cos(out)], 1)
    return torch.cat([one(D // 2, grid[0]), one(D // 2, grid[1])], 1).float()

def transformer(w, cfg, x, t, ctx, mask, res=None, ar=None, dt=torch.float32):
    w = {k: v.to(dt) for k, v in w.items()}
    x, ctx = x.to(dt), ctx.to(dt)
    H_, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]; D = H_ * hd
    p, sample = cfg["patch_size"], cfg["sample_size"]
    interp = cfg.get("interpolation_scale") or max(sample // 64, 1)
    L = lambda h, n: F.linear(h, w[n + ".weight"], w[n + ".bias"])
    B, C, Hh, Ww = x.shape
    gh, gw = Hh // p, Ww // p
    bias = ((1 - mask.to(dt)) * -10000.0).unsqueeze(1)                         # [B, 1, S]
    h = F.conv2d(x, w["pos_embed.proj.weight"], w["pos_embed.proj.bias"], stride=p).flatten(2).transpose(1, 2)
    h = (h + pos_embed(D, gh, gw, sample // p, interp).to(dt)[None]).to(dt)
    e = L(F.silu(L(timestep_proj(t, dt), "adaln_single.emb.timestep_embedder.linear_1")), "adaln_single.emb.timestep_embedder.linear_2")
    if cfg["use_additional_conditions"]:
        r = L(F.silu(L(timestep_proj(res.flatten(), dt), "adaln_single.emb.resolution_embedder.linear_1")), "adaln_single.emb.resolution_embedder.linear_2").reshape(B, -1)
        a = L(F.silu(L(timestep_proj(ar.flatten(), dt), "adaln_single.emb.aspect_ratio_embedder.linear_1")), "adaln_single.emb.aspect_ratio_embedder.linear_2").reshape(B, -1)
        e = e + torch.cat([r, a], 1)
    m = L(F.silu(e), "adaln_single.linear")
    c = L(F.gelu(L(ctx, "caption_projection.linear_1"), approximate="tanh"), "caption_projection.linear_2")
    def attn(q_in, kv_in, pre, bias_=None):
        q, k, v = L(q_in, pre + ".to_q"), L(kv_in, pre + ".to_k"), L(kv_in, pre + ".to_v")
        q, k, v = (z.view(B, -1, H_, hd).transpose(1, 2) for z in (q, k, v))
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)
        if bias_ is not None: s = s + bias_[:, None]
        o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, -1, D)
        return L(o, pre + ".to_out.0")
    ln = lambda z: F.layer_norm(z, (D,), eps=cfg["norm_eps"])
    for i in range(cfg["num_layers"]):
        b = f"transformer_blocks.{i}."
        sm, cm, gm, sf, cf, gf = (w[b + "scale_shift_table"][None] + m.reshape(B, 6, -1)).chunk(6, dim=1)
        n = ln(h) * (1 + cm) + sm
        h = gm * attn(n, n, b + "attn1") + h
        h = attn(h, c, b + "attn2", bias) + h
        n = ln(h) * (1 + cf) + sf
        h = gf * L(F.gelu(L(n, b + "ff.net.0.proj"), approximate="tanh"), b + "ff.net.2") + h
    sh, sc = (w["scale_shift_table"][None] + e[:, None]).chunk(2, dim=1)
    h = F.layer_norm(h, (D,), eps=1e-6) * (1 + sc) + sh
    h = L(h, "proj_out")
    oc = cfg["out_channels"]
    h = h.reshape(-1, gh, gw, p, p, oc)
    return torch.einsum("nhwpqc->nchpwq", h).reshape(-1, oc, gh * p, gw * p)

def write_transformer(d, w, cfg, dtype=torch.float32, shards=1):
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    out = {k: v.to(dtype) for k, v in w.items()}
    if shards == 1:
        save_safetensors(out, os.path.join(d, "diffusion_pytorch_model.safetensors")); return
    keys = sorted(out); per = (len(keys) + shards - 1) // shards; wm = {}
    for s in range(shards):
        fn = f"diffusion_pytorch_model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: out[k] for k in keys[s * per:(s + 1) * per]}
        save_safetensors(part, os.path.join(d, fn)); wm.update({k: fn for k in part})
    json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(d, "diffusion_pytorch_model.safetensors.index.json"), "w"))

def transformer_case(name, seed, heads, hd, layers, caption, sample, extra, hw, interp=None, dtype=torch.float32, shards=1):
    global ok
    w, cfg = make_transformer(seed, heads, hd, layers, caption, sample, 2, extra, interp)
    if dtype == torch.bfloat16: w = {k: v.to(torch.bfloat16).float() for k, v in w.items()}
    d = os.path.join(name, "transformer")
    write_transformer(d, w, cfg, dtype, shards)
    g = torch.Generator().manual_seed(seed + 1)
    B, S = 3, 11
    x = torch.randn(B, 4, hw[0], hw[1], generator=g)
    t = torch.tensor([999.0, 421.0, 3.0])
    ctx = torch.randn(B, S, caption, generator=g)
    mask = torch.zeros(B, S, dtype=torch.int64)
    for b, n in enumerate((S, 5, 1)): mask[b, :n] = 1
    ctx[1, 5:] *= 30  # padded states with large values: they must not matter
    inputs = {"x": x, "t": t, "encoder_hidden_states": ctx, "encoder_attention_mask": mask}
    res = ar = None
    if extra:
        res = torch.tensor([[1024.0, 768.0], [512.0, 512.0], [768.0, 1024.0]]); ar = res[:, :1] / res[:, 1:]
        inputs["resolution"], inputs["aspect_ratio"] = res, ar
    save_safetensors(inputs, os.path.join(name, "inputs.safetensors"))
    with torch.no_grad():
        ref = transformer(w, cfg, x, t, ctx, mask, res, ar)
        ref64 = transformer(w, cfg, x.double(), t.double(), ctx.double(), mask, None if res is None else res.double(),
                            None if ar is None else ar.double(), torch.float64)
    r = subprocess.run([SURPASS, "forward", "--model", name, "--inputs", os.path.join(name, "inputs.safetensors"),
                        "--out", os.path.join(name, "out.safetensors")], capture_output=True, text=True)
    if r.returncode: print(r.stdout, r.stderr); ok = False; return
    got = load_safetensors(os.path.join(name, "out.safetensors"))["output"]
    rel = ((got - ref).norm() / ref.norm()).item(); rel64 = ((got.double() - ref64).norm() / ref64.norm()).item()
    ref_vs_64 = ((ref.double() - ref64).norm() / ref64.norm()).item()
    print(f"transformer {name} ({heads}×{hd}, {layers} layers, sample_size {sample}, latents {hw[0]}×{hw[1]}, "
          f"additional conditions {extra}, interpolation {interp}, {str(dtype).split('.')[-1]} weights in {shards} file(s)): "
          f"vs torch fp32 max|d| {(got - ref).abs().max():.3e} relL2 {rel:.3e}; vs float64 relL2 {rel64:.3e} (torch fp32 vs float64 {ref_vs_64:.3e})")
    if not rel < 1e-5: ok = False

transformer_case("alpha1024", 1, 3, 32, 2, 40, 8, True, (8, 12))
transformer_case("sigma", 2, 2, 32, 3, 24, 16, False, (12, 8), interp=0.5)
transformer_case("bf16-shards", 3, 1, 64, 2, 16, 8, False, (8, 8), dtype=torch.bfloat16, shards=2)

# ---------------------------------------------------------------------------------------------- the pipeline
SPACE = "\u2581"
WORDS = ["a", "red", "cat", "on", "mat", "two", "blue", "birds", "blurry", "low", "quality", "photo", "of", "the", "sea"]
VOCAB = [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]
VOCAB += [[SPACE + wd, -1.0 - 0.01 * i] for i, wd in enumerate(WORDS)]
VOCAB += [[ch, -8.0] for ch in sorted(set("".join(WORDS)) | {SPACE})]
TOK = {p: i for i, (p, _) in enumerate(VOCAB)}
V = len(VOCAB) + 5

def t5_tokenize(text, max_len):  # T5's fast tokenizer on these prompts: every word is one ▁word piece; then </s>, pad 0
    ids = [TOK[SPACE + wd] for wd in text.lower().strip().split()]
    ids = ids[:max_len - 1] + [TOK["</s>"]]
    return ids + [0] * (max_len - len(ids)), [1] * len(ids) + [0] * (max_len - len(ids))

E, DKV, FF, NL, TH = 32, 16, 64, 2, 2
def make_t5(seed):
    g = torch.Generator().manual_seed(seed)
    w = {"shared.weight": torch.randn(V, E, generator=g)}
    for l in range(NL):
        p = f"encoder.block.{l}.layer."
        for n in ("q", "k", "v"): w[p + f"0.SelfAttention.{n}.weight"] = torch.randn(TH * DKV, E, generator=g) / E ** 0.5 * (0.4 if n == "q" else 1)
        w[p + "0.SelfAttention.o.weight"] = torch.randn(E, TH * DKV, generator=g) / (TH * DKV) ** 0.5
        if l == 0: w[p + "0.SelfAttention.relative_attention_bias.weight"] = 2.0 * torch.randn(32, TH, generator=g)
        w[p + "0.layer_norm.weight"] = 1 + 0.2 * torch.randn(E, generator=g)
        w[p + "1.DenseReluDense.wi_0.weight"] = torch.randn(FF, E, generator=g) / E ** 0.5
        w[p + "1.DenseReluDense.wi_1.weight"] = torch.randn(FF, E, generator=g) / E ** 0.5
        w[p + "1.DenseReluDense.wo.weight"] = torch.randn(E, FF, generator=g) / FF ** 0.5
        w[p + "1.layer_norm.weight"] = 1 + 0.2 * torch.randn(E, generator=g)
    w["encoder.final_layer_norm.weight"] = 1 + 0.2 * torch.randn(E, generator=g)
    return w

def bucket(rp, nb=32, md=128):
    nb //= 2
    ret = (rp > 0).to(torch.long) * nb
    n = torch.abs(rp); me = nb // 2
    large = me + (torch.log(n.float() / me) / math.log(md / me) * (nb - me)).to(torch.long)
    large = torch.min(large, torch.full_like(large, nb - 1))
    return ret + torch.where(n < me, n, large)

def t5(w, ids, mask):
    B, T = ids.shape
    t5ln = lambda x, g: g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))
    x = w["shared.weight"][ids]
    rel = w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    rp = torch.arange(T)[None, :] - torch.arange(T)[:, None]
    pb = rel[bucket(rp)].permute(2, 0, 1).unsqueeze(0) + (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for l in range(NL):
        p = f"encoder.block.{l}.layer."
        n = t5ln(x, w[p + "0.layer_norm.weight"])
        q, k, v = (F.linear(n, w[p + f"0.SelfAttention.{c}.weight"]).view(B, T, TH, DKV).transpose(1, 2) for c in ("q", "k", "v"))
        a = torch.softmax(q @ k.transpose(3, 2) + pb, -1)
        x = x + F.linear((a @ v).transpose(1, 2).reshape(B, T, TH * DKV), w[p + "0.SelfAttention.o.weight"])
        n = t5ln(x, w[p + "1.layer_norm.weight"])
        hdn = F.gelu(F.linear(n, w[p + "1.DenseReluDense.wi_0.weight"]), approximate="tanh") * F.linear(n, w[p + "1.DenseReluDense.wi_1.weight"])
        x = x + F.linear(hdn, w[p + "1.DenseReluDense.wo.weight"])
    return t5ln(x, w["encoder.final_layer_norm.weight"])

def make_vae(seed):  # the AutoencoderKL decoder of diffusers_sd_parity.py: 4 levels (×8), 16/16/32/32 channels
    g = torch.Generator().manual_seed(seed)
    w = {}
    def ln(p, c): w[p + ".weight"] = 1 + 0.2 * torch.randn(c, generator=g); w[p + ".bias"] = 0.2 * torch.randn(c, generator=g)
    def conv(p, i, o, k): w[p + ".weight"] = torch.randn(o, i, k, k, generator=g) / (i * k * k) ** 0.5; w[p + ".bias"] = 0.1 * torch.randn(o, generator=g)
    def lin(p, i, o): w[p + ".weight"] = torch.randn(o, i, generator=g) / i ** 0.5; w[p + ".bias"] = 0.1 * torch.randn(o, generator=g)
    def vres(p, i, o):
        ln(p + ".norm1", i); conv(p + ".conv1", i, o, 3); ln(p + ".norm2", o); conv(p + ".conv2", o, o, 3)
        if i != o: conv(p + ".conv_shortcut", i, o, 1)
    boc = [16, 16, 32, 32]; top = boc[-1]
    conv("post_quant_conv", 4, 4, 1); conv("decoder.conv_in", 4, top, 3)
    vres("decoder.mid_block.resnets.0", top, top); vres("decoder.mid_block.resnets.1", top, top)
    ln("decoder.mid_block.attentions.0.group_norm", top)
    for n in ("to_q", "to_k", "to_v", "to_out.0"): lin("decoder.mid_block.attentions.0." + n, top, top)
    prev = top
    for i, ch in enumerate(reversed(boc)):
        for j in range(2): vres(f"decoder.up_blocks.{i}.resnets.{j}", prev if j == 0 else ch, ch)
        if i < 3: conv(f"decoder.up_blocks.{i}.upsamplers.0.conv", ch, ch, 3)
        prev = ch
    ln("decoder.conv_norm_out", boc[0]); conv("decoder.conv_out", boc[0], 3, 3)
    return w, {"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": boc, "down_block_types": ["DownEncoderBlock2D"] * 4,
               "in_channels": 3, "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 8, "out_channels": 3,
               "sample_size": 64, "up_block_types": ["UpDecoderBlock2D"] * 4, "scaling_factor": 0.13025}

SCHED = {"_class_name": "DPMSolverMultistepScheduler", "_diffusers_version": "0.22.0.dev0", "algorithm_type": "dpmsolver++",
         "beta_end": 0.02, "beta_schedule": "linear", "beta_start": 0.0001, "dynamic_thresholding_ratio": 0.995,
         "euler_at_final": False, "lambda_min_clipped": float("-inf"), "lower_order_final": True, "num_train_timesteps": 1000,
         "prediction_type": "epsilon", "sample_max_value": 1.0, "solver_order": 2, "solver_type": "midpoint", "steps_offset": 0,
         "thresholding": False, "timestep_spacing": "linspace", "trained_betas": None, "use_karras_sigmas": False,
         "use_lu_lambdas": False, "variance_type": None}

# ASPECT_RATIO_256_BIN of pipeline_pixart_alpha.py (data): ratio key -> [height, width]
BIN_256 = {"0.25": [128, 512], "0.28": [128, 464], "0.32": [144, 448], "0.33": [144, 432], "0.35": [144, 416], "0.4": [160, 400],
           "0.42": [160, 384], "0.48": [176, 368], "0.5": [176, 352], "0.52": [176, 336], "0.57": [192, 336], "0.6": [192, 320],
           "0.68": [208, 304], "0.72": [208, 288], "0.78": [224, 288], "0.82": [224, 272], "0.88": [240, 272], "0.94": [240, 256],
           "1.0": [256, 256], "1.07": [256, 240], "1.13": [272, 240], "1.21": [272, 224], "1.29": [288, 224], "1.38": [288, 208],
           "1.46": [304, 208], "1.67": [320, 192], "1.75": [336, 192], "2.0": [352, 176], "2.09": [368, 176], "2.4": [384, 160],
           "2.5": [400, 160], "3.0": [432, 144], "4.0": [512, 128]}

def classify_height_width_bin(height, width, ratios):  # PixArtImageProcessor's
    ar = float(height / width)
    closest = min(ratios.keys(), key=lambda r: abs(float(r) - ar))
    return int(ratios[closest][0]), int(ratios[closest][1])

def resize_and_crop(samples, new_width, new_height):  # PixArtImageProcessor.resize_and_crop_tensor
    oh, ow = samples.shape[2], samples.shape[3]
    if oh != new_height or ow != new_width:
        ratio = max(new_height / oh, new_width / ow)
        rw, rh = int(ow * ratio), int(oh * ratio)
        samples = F.interpolate(samples, size=(rh, rw), mode="bilinear", align_corners=False)
        sx, sy = (rw - new_width) // 2, (rh - new_height) // 2
        samples = samples[:, :, sy:sy + new_height, sx:sx + new_width]
    return samples

def vae_decode(w, z):  # AutoencoderKL.decode of make_vae's decoder (diffusers_sd_parity.py's transcription)
    c2d = lambda x, p, pad=1: F.conv2d(x, w[p + ".weight"], w[p + ".bias"], padding=pad)
    gn = lambda x, p: F.group_norm(x, 8, w[p + ".weight"], w[p + ".bias"], eps=1e-6)
    lin = lambda x, p: F.linear(x, w[p + ".weight"], w[p + ".bias"])
    def res(x, p):
        y = c2d(F.silu(gn(x, p + ".norm1")), p + ".conv1")
        y = c2d(F.silu(gn(y, p + ".norm2")), p + ".conv2")
        if p + ".conv_shortcut.weight" in w: x = c2d(x, p + ".conv_shortcut", 0)
        return x + y
    A = "decoder.mid_block.attentions.0"
    x = res(c2d(c2d(z, "post_quant_conv", 0), "decoder.conv_in"), "decoder.mid_block.resnets.0")
    B, C, H, Wd = x.shape
    h = gn(x, A + ".group_norm").view(B, C, H * Wd).transpose(1, 2)
    q, k, v = (lin(h, f"{A}.{n}") for n in ("to_q", "to_k", "to_v"))
    x = lin(torch.softmax(q @ k.transpose(-1, -2) * C ** -0.5, -1) @ v, A + ".to_out.0").transpose(1, 2).reshape(B, C, H, Wd) + x
    x = res(x, "decoder.mid_block.resnets.1")
    for i in range(4):
        for j in range(2): x = res(x, f"decoder.up_blocks.{i}.resnets.{j}")
        if i < 3: x = c2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), f"decoder.up_blocks.{i}.upsamplers.0.conv")
    return c2d(F.silu(gn(x, "decoder.conv_norm_out")), "decoder.conv_out")

def pipeline_case(kind, seed, sample, extra, steps=6, guide=4.5, size=(64, 64), binning=False):
    global ok
    cls, max_len = {"alpha": ("PixArtAlphaPipeline", 120), "sigma": ("PixArtSigmaPipeline", 300)}[kind]
    root = f"pipe-{kind}-{sample}"
    for d in ("tokenizer", "text_encoder", "transformer", "vae", "scheduler"): os.makedirs(os.path.join(root, d), exist_ok=True)
    json.dump({"_class_name": cls, "_diffusers_version": "0.30.0", "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
               "text_encoder": ["transformers", "T5EncoderModel"], "tokenizer": ["transformers", "T5Tokenizer"],
               "transformer": ["diffusers", "PixArtTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]},
              open(os.path.join(root, "model_index.json"), "w"))
    added = lambda i, c: {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    json.dump({"version": "1.0", "truncation": None, "padding": None,
               "added_tokens": [added(0, "<pad>"), added(1, "</s>"), added(2, "<unk>")], "normalizer": None,
               "pre_tokenizer": {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "always", "split": True},
               "post_processor": {"type": "TemplateProcessing",
                                  "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                                  "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                           {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                                  "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
               "decoder": {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "always", "split": True},
               "model": {"type": "Unigram", "unk_id": 2, "vocab": VOCAB, "byte_fallback": False}},
              open(os.path.join(root, "tokenizer", "tokenizer.json"), "w"), ensure_ascii=False)
    tw = make_t5(seed)
    json.dump({"architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": E, "d_kv": DKV, "d_ff": FF, "num_heads": TH,
               "num_layers": NL, "vocab_size": V, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
               "layer_norm_epsilon": 1e-6, "feed_forward_proj": "gated-gelu", "pad_token_id": 0, "eos_token_id": 1, "is_encoder_decoder": True},
              open(os.path.join(root, "text_encoder", "config.json"), "w"))
    save_safetensors(tw, os.path.join(root, "text_encoder", "model.safetensors"))
    w, cfg = make_transformer(seed + 1, 3, 32, 2, E, sample, 2, extra)
    write_transformer(os.path.join(root, "transformer"), w, cfg)
    vw, vcfg = make_vae(seed + 2)
    json.dump(vcfg, open(os.path.join(root, "vae", "config.json"), "w"))
    save_safetensors(vw, os.path.join(root, "vae", "diffusion_pytorch_model.safetensors"))
    json.dump(SCHED, open(os.path.join(root, "scheduler", "scheduler_config.json"), "w"))

    prompts = ["A Red cat on a mat ", "two blue birds of the sea"]
    negative = ["blurry low quality", ""]
    W0, H0 = size
    H, W = classify_height_width_bin(H0, W0, BIN_256) if binning else (H0, W0)  # sample_size 32 here when binning
    with torch.no_grad():
        tok = [t5_tokenize(p, max_len) for p in negative + prompts]
        ids = torch.tensor([a for a, _ in tok]); mask = torch.tensor([m for _, m in tok])
        ctx = t5(tw, ids, mask)
        B = len(prompts)
        res = torch.tensor([[float(H), float(W)]]).repeat(2 * B, 1) if extra else None
        ar = torch.tensor([[float(H / W)]]).repeat(2 * B, 1) if extra else None
        lat0 = torch.randn(B, 4, H // 8, W // 8, generator=torch.Generator().manual_seed(seed + 3))
        save_safetensors({"latents": lat0}, f"{root}-init.safetensors")
        # DPMSolverMultistepScheduler: linear betas (fp32 as diffusers), linspace timesteps, 2M with lower order first / last
        T = 1000
        betas = torch.linspace(0.0001, 0.02, T, dtype=torch.float32)
        ac = torch.cumprod(1.0 - betas, 0)
        sig_all = np.array(((1 - ac) / ac) ** 0.5)
        ts = np.linspace(0, T - 1, steps + 1).round()[::-1][:-1].astype(np.int64)
        s = np.interp(ts, np.arange(T), sig_all).tolist() + [0.0]
        x, prev_x0 = lat0, None
        for i in range(steps):
            out = transformer(w, cfg, torch.cat([x, x]), torch.full((2 * B,), float(ts[i])), ctx, mask, res, ar)
            u, c = out.chunk(2)
            e = (u + guide * (c - u)).chunk(2, dim=1)[0]
            al, sv = 1 / (s[i] ** 2 + 1) ** 0.5, s[i] / (s[i] ** 2 + 1) ** 0.5
            x0 = (x - sv * e) / al
            if s[i + 1] == 0: x = x0
            else:
                aln, svn = 1 / (s[i + 1] ** 2 + 1) ** 0.5, s[i + 1] / (s[i + 1] ** 2 + 1) ** 0.5
                lam, lamn = math.log(al) - math.log(sv), math.log(aln) - math.log(svn)
                h = lamn - lam
                if i == 0 or i == steps - 1: x = (svn / sv) * x - aln * (math.exp(-h) - 1) * x0
                else:
                    sp = s[i - 1]; lamp = math.log(1 / (sp ** 2 + 1) ** 0.5) - math.log(sp / (sp ** 2 + 1) ** 0.5)
                    d1 = (x0 - prev_x0) / ((lam - lamp) / h)
                    x = (svn / sv) * x - aln * (math.exp(-h) - 1) * x0 - 0.5 * aln * (math.exp(-h) - 1) * d1
            prev_x0 = x0
    cmd = [SURPASS, "txt2img", "--model", root, "--steps", str(steps), "--guidance", str(guide), "--width", str(W0), "--height", str(H0),
           "--latents", f"{root}-init.safetensors", "--out", f"{root}-out"] + ([] if binning else ["--no-resolution-binning"])
    for p in prompts: cmd += ["--prompt", p]
    for p in negative: cmd += ["--negative-prompt", p]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: print(r.stdout, r.stderr); ok = False; return
    got = load_safetensors(f"{root}-out/latents.safetensors")["latents"]
    if tuple(got.shape) != tuple(x.shape): print(f"latents {tuple(got.shape)}, expected {tuple(x.shape)}"); ok = False; return
    rel = ((got - x).norm() / x.norm()).item()
    print(f"pipeline {cls} (transformer sample_size {sample}, resolution conditions {extra}, max_sequence_length {max_len}) at {W}×{H}, "
          f"DPM-Solver++(2M) {steps} steps, guidance {guide}, {B} prompts with negatives: final latents max|d| {(got - x).abs().max():.3e} "
          f"relL2 {rel:.3e} (`surpass txt2img` {time.time() - t0:.1f} s)")
    if not rel < 1e-4: ok = False
    if binning:  # decode, resize back, postprocess to uint8 ((x / 2 + 0.5).clamp(0, 1) · 255, rounded) against the PNGs
        from PIL import Image
        with torch.no_grad():
            img = resize_and_crop(vae_decode(vw, x / vcfg["scaling_factor"]), W0, H0)
        want = ((img / 2 + 0.5).clamp(0, 1) * 255).round().permute(0, 2, 3, 1)
        pics = torch.stack([torch.tensor(np.array(Image.open(f"{root}-out/image-{k}.png").convert("RGB")), dtype=torch.float32) for k in range(B)])
        if tuple(pics.shape) != tuple(want.shape): print(f"pictures {tuple(pics.shape)}, expected {tuple(want.shape)}"); ok = False; return
        d = (pics - want).abs()
        rel = ((pics - want).norm() / want.norm()).item()
        print(f"  resolution binning: asked {W0}×{H0}, sampled at the bin {W}×{H}, pictures resized back: uint8 max|d| {d.max():.0f}, "
              f"{(d > 0).float().mean() * 100:.2f}% of values off by 1+, relL2 {rel:.3e}")
        if not (d.max() <= 2 and rel < 1e-2): ok = False

pipeline_case("alpha", 10, 128, True)
pipeline_case("sigma", 20, 8, False)
pipeline_case("alpha", 30, 32, False, steps=4, size=(300, 100), binning=True)
if not ok: print("FAIL"); sys.exit(1)
