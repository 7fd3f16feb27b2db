# surpass's Stable Diffusion 3 pipeline (`surpass txt2img` on a StableDiffusion3Pipeline folder) against diffusers'
# StableDiffusion3Pipeline arithmetic, without diffusers or transformers installed. A tiny random SD3-shaped folder is
# written — tokenizer/ and tokenizer_2/ (byte-level CLIP BPE; the second pads with "!" as SD3's CLIP-G tokenizer does),
# text_encoder/ and text_encoder_2/ (CLIPTextModelWithProjection, quick_gelu and gelu), tokenizer_3/ (a WordPiece
# tokenizer.json whose template appends </s>) and text_encoder_3/ (a gated-gelu T5EncoderModel), transformer/ (an
# SD3Transformer2DModel: 2 joint blocks of 2×32 heads, the last context_pre_only; QK=1 adds SD3.5's qk RMSNorm),
# vae/ (16 latent channels, no quant convs, SD3's scaling_factor 1.5305 and shift_factor 0.0609), scheduler/
# (FlowMatchEulerDiscreteScheduler, shift 3) — then the pipeline runs here in fp32 PyTorch op by op: encode_prompt (each
# CLIP's hidden_states[-2] concatenated and F.pad-ed to joint_attention_dim, the T5 states of the prompt padded to
# max_sequence_length with no attention mask after them, pooled = both text_embeds; the negative prompts likewise),
# FlowMatchEulerDiscreteScheduler.set_timesteps / step, the transformer on [x; x] at t = σ·1000, u + g·(c − u), VAE decode
# of latents / scaling + shift — and compared with `surpass txt2img --latents` from the same initial latents.
# Run from an empty folder: python3 diffusers_sd3_parity.py      Exits 1 when the latents' relative L2 > 1e-4.
import json, math, os, re, sys, time, torch
import numpy as np
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_sd import (ClipBpe, W, take, lin, clip_weights, write_clip, clip, linear, timestep_embedding, vae_weights,  # noqa: E402
                     write_vae, vae_decode, run_surpass, compare_images, save_safetensors, T5, t5_tokenize)

torch.manual_seed(0)
STEPS, GUIDE, SEQ = int(os.environ.get("STEPS", "6")), 4.5, 12
PROMPTS = ["a red cat on a mat", "a photo of two blue birds on a mat, a red cat"]
NEG = ["blurry", ""]
PX = 64  # image side: latents 8×8 (×8 VAE), 4×4 patches
QK = os.environ.get("QK") == "1"
# ---------------------------------------------------------------------------------------------- CLIP tokenizer
TOK = ClipBpe(["red", "cat", "mat", "blue", "bird", "birds", "blurry", "on", "two", "a", "photo", "of"])
VOCAB, EOS, PAD2 = TOK.size, TOK.EOS, TOK.PAD2


# ---------------------------------------------------------------------------------------------- weights
TD1, TL1, P1, TD2, TL2, P2, TH = 32, 3, 16, 24, 2, 8, 2
text_w1 = clip_weights(VOCAB, TD1, TL1, 48, P1)
text_w2 = clip_weights(VOCAB, TD2, TL2, 40, P2)
# T5 (d_model = joint_attention_dim)
J = 64
t5 = T5(J)
# SD3Transformer2DModel
HEADS, HD, LAYERS, LAT, P, SAMPLE, G = 2, 32, 2, 16, 2, PX // 8, 16
D, POOL = HEADS * HD, P1 + P2
W["pos_embed.proj.weight"] = torch.randn(D, LAT, P, P) / (LAT * P * P) ** 0.5; W["pos_embed.proj.bias"] = 0.1 * torch.randn(D)
lin("time_text_embed.timestep_embedder.linear_1", 256, D); lin("time_text_embed.timestep_embedder.linear_2", D, D)
lin("time_text_embed.text_embedder.linear_1", POOL, D); lin("time_text_embed.text_embedder.linear_2", D, D)
lin("context_embedder", J, D)
for i in range(LAYERS):
    b = f"transformer_blocks.{i}"
    pre = i == LAYERS - 1
    lin(b + ".norm1.linear", D, 6 * D, gain=0.5); lin(b + ".norm1_context.linear", D, (2 if pre else 6) * D, gain=0.5)
    for n in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0"): lin(f"{b}.attn.{n}", D, D)
    if not pre: lin(b + ".attn.to_add_out", D, D)
    if QK:
        for n in ("norm_q", "norm_k", "norm_added_q", "norm_added_k"): W[f"{b}.attn.{n}.weight"] = 1 + 0.2 * torch.randn(HD)
    lin(b + ".ff.net.0.proj", D, 4 * D); lin(b + ".ff.net.2", 4 * D, D)
    if not pre: lin(b + ".ff_context.net.0.proj", D, 4 * D); lin(b + ".ff_context.net.2", 4 * D, D)
lin("norm_out.linear", D, 2 * D, gain=0.5); lin("proj_out", D, P * P * LAT)
tr_w = take()
# VAE: the decoder, 16 latent channels, no post_quant_conv
vae_w = vae_weights(LAT, quant_convs=False)
SCALING, SHIFT = 1.5305, 0.0609

# ---------------------------------------------------------------------------------------------- the folder
DIR = "sd3"
for d in ("tokenizer", "tokenizer_2", "tokenizer_3", "text_encoder", "text_encoder_2", "text_encoder_3", "transformer", "vae", "scheduler"):
    os.makedirs(f"{DIR}/{d}", exist_ok=True)
json.dump({"_class_name": "StableDiffusion3Pipeline", "_diffusers_version": "0.29.0.dev0",
           "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
           "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "text_encoder_3": ["transformers", "T5EncoderModel"],
           "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
           "tokenizer_3": ["transformers", "T5TokenizerFast"], "transformer": ["diffusers", "SD3Transformer2DModel"],
           "vae": ["diffusers", "AutoencoderKL"]}, open(f"{DIR}/model_index.json", "w"))
for tk, pad in (("tokenizer", "<|endoftext|>"), ("tokenizer_2", "!")): TOK.write(f"{DIR}/{tk}", pad)
for te, td, tl, ti, act, w, proj in (("text_encoder", TD1, TL1, 48, "quick_gelu", text_w1, P1), ("text_encoder_2", TD2, TL2, 40, "gelu", text_w2, P2)):
    write_clip(f"{DIR}/{te}", w, "CLIPTextModelWithProjection", VOCAB, td, tl, ti, TH, act, proj)
t5.write(f"{DIR}/tokenizer_3", f"{DIR}/text_encoder_3")
json.dump({"_class_name": "SD3Transformer2DModel", "_diffusers_version": "0.29.0.dev0", "sample_size": SAMPLE, "patch_size": P,
           "in_channels": LAT, "num_layers": LAYERS, "attention_head_dim": HD, "num_attention_heads": HEADS, "joint_attention_dim": J,
           "caption_projection_dim": D, "pooled_projection_dim": POOL, "out_channels": LAT, "pos_embed_max_size": G,
           **({"qk_norm": "rms_norm"} if QK else {})}, open(f"{DIR}/transformer/config.json", "w"))
save_safetensors(tr_w, f"{DIR}/transformer/diffusion_pytorch_model.safetensors")  # no pos_embed.pos_embed: recomputed, as diffusers' buffer
write_vae(f"{DIR}/vae", vae_w, LAT, PX, force_upcast=True, scaling_factor=SCALING, shift_factor=SHIFT, use_quant_conv=False,
          use_post_quant_conv=False)
json.dump({"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.29.0.dev0", "num_train_timesteps": 1000, "shift": 3.0},
          open(f"{DIR}/scheduler/scheduler_config.json", "w"))

# ---------------------------------------------------------------------------------------------- the pipeline, op by op
def encode_prompt(prompts):
    ids1 = torch.tensor([TOK.tokenize(p, EOS) for p in prompts]); ids2 = torch.tensor([TOK.tokenize(p, PAD2) for p in prompts])
    hs1, last1 = clip(ids1, text_w1, TD1, TL1, TH, True)
    hs2, last2 = clip(ids2, text_w2, TD2, TL2, TH, False)
    r = torch.arange(len(prompts))
    pooled = torch.cat([F.linear(last1[r, ids1.argmax(-1)], text_w1["text_projection.weight"]),  # eos_token_id 2: the argmax rule
                        F.linear(last2[r, ids2.argmax(-1)], text_w2["text_projection.weight"])], -1)
    clip_states = F.pad(torch.cat([hs1[-2], hs2[-2]], dim=-1), (0, J - TD1 - TD2))
    t5_states = t5(torch.tensor([t5_tokenize(p, SEQ) for p in prompts]))
    return torch.cat([clip_states, t5_states], dim=-2), pooled

def sincos_1d(e, pos):
    omega = 1.0 / 10000 ** (torch.arange(e // 2, dtype=torch.float64) / (e / 2.0))
    out = torch.outer(pos.reshape(-1), omega)
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)
def pos_table(dim, grid, base):  # get_2d_sincos_pos_embed(dim, grid, base_size=base, interpolation_scale=1)
    gh = torch.arange(grid, dtype=torch.float32) / (grid / base)
    gw = torch.arange(grid, dtype=torch.float32) / (grid / base)
    g = torch.stack(torch.meshgrid(gw, gh, indexing="xy"), dim=0).reshape([2, 1, grid, grid])
    return torch.cat([sincos_1d(dim // 2, g[0]), sincos_1d(dim // 2, g[1])], dim=1).float()
POS = pos_table(D, G, SAMPLE // P)
def rms(h, w):
    return h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6) * w
def lnn(h): return F.layer_norm(h, (h.shape[-1],), None, None, 1e-6)
def ff(h, p): return linear(F.gelu(linear(h, tr_w, p + ".net.0.proj"), approximate="tanh"), tr_w, p + ".net.2")
def joint_attn(hs, enc, p, pre):  # JointAttnProcessor2_0: [image, text] tokens
    w = tr_w; Bn, L, _ = hs.shape
    def heads(t): return t.view(Bn, -1, HEADS, HD).transpose(1, 2)
    q, k, v = heads(linear(hs, w, p + ".to_q")), heads(linear(hs, w, p + ".to_k")), heads(linear(hs, w, p + ".to_v"))
    cq, ck, cv = heads(linear(enc, w, p + ".add_q_proj")), heads(linear(enc, w, p + ".add_k_proj")), heads(linear(enc, w, p + ".add_v_proj"))
    if QK:
        q, k = rms(q, w[p + ".norm_q.weight"]), rms(k, w[p + ".norm_k.weight"])
        cq, ck = rms(cq, w[p + ".norm_added_q.weight"]), rms(ck, w[p + ".norm_added_k.weight"])
    q, k, v = torch.cat([q, cq], 2), torch.cat([k, ck], 2), torch.cat([v, cv], 2)
    o = (torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HD), -1) @ v).transpose(1, 2).reshape(Bn, -1, D)
    o, oc = o[:, :L], o[:, L:]
    return linear(o, w, p + ".to_out.0"), (None if pre else linear(oc, w, p + ".to_add_out"))
def transformer(x, ts, ctx, pooled):
    w = tr_w; Bn, _, Hh, Ww = x.shape
    h = F.conv2d(x, w["pos_embed.proj.weight"], w["pos_embed.proj.bias"], stride=P).flatten(2).transpose(1, 2)
    hp, wp = Hh // P, Ww // P; top, left = (G - hp) // 2, (G - wp) // 2  # PatchEmbed.cropped_pos_embed
    h = h + POS.reshape(1, G, G, -1)[:, top:top + hp, left:left + wp, :].reshape(1, -1, D)
    tp = timestep_embedding(ts, 256)  # Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)
    temb = linear(F.silu(linear(tp, w, "time_text_embed.timestep_embedder.linear_1")), w, "time_text_embed.timestep_embedder.linear_2")
    temb = temb + linear(F.silu(linear(pooled, w, "time_text_embed.text_embedder.linear_1")), w, "time_text_embed.text_embedder.linear_2")
    enc = linear(ctx, w, "context_embedder")
    for i in range(LAYERS):
        b = f"transformer_blocks.{i}"; pre = i == LAYERS - 1
        sh, sc, g, shm, scm, gm = linear(F.silu(temb), w, b + ".norm1.linear").chunk(6, dim=1)
        cemb = linear(F.silu(temb), w, b + ".norm1_context.linear")
        if pre:
            cscale, cshift = cemb.chunk(2, dim=1); nenc = lnn(enc) * (1 + cscale[:, None]) + cshift[:, None]
        else:
            csh, csc, cg, cshm, cscm, cgm = cemb.chunk(6, dim=1); nenc = lnn(enc) * (1 + csc[:, None]) + csh[:, None]
        a, ca = joint_attn(lnn(h) * (1 + sc[:, None]) + sh[:, None], nenc, b + ".attn", pre)
        h = h + g[:, None] * a
        h = h + gm[:, None] * ff(lnn(h) * (1 + scm[:, None]) + shm[:, None], b + ".ff")
        if not pre:
            enc = enc + cg[:, None] * ca
            enc = enc + cgm[:, None] * ff(lnn(enc) * (1 + cscm[:, None]) + cshm[:, None], b + ".ff_context")
    scale, shift = linear(F.silu(temb), w, "norm_out.linear").chunk(2, dim=1)
    h = linear(lnn(h) * (1 + scale[:, None]) + shift[:, None], w, "proj_out").reshape(Bn, hp, wp, P, P, LAT)
    return torch.einsum("nhwpqc->nchpwq", h).reshape(Bn, LAT, Hh, Ww)

# FlowMatchEulerDiscreteScheduler(shift=3): __init__'s float32 sigmas shifted, set_timesteps' linspace shifted again
T, SH = 1000, 3.0
s_init = torch.from_numpy(np.linspace(1, T, T, dtype=np.float32)[::-1].copy()) / T
s_init = SH * s_init / (1 + (SH - 1) * s_init)
ts_np = np.linspace(s_init[0].item() * T, s_init[-1].item() * T, STEPS)
sig_np = ts_np / T
SIG = torch.cat([torch.from_numpy(SH * sig_np / (1 + (SH - 1) * sig_np)).float(), torch.zeros(1)])
TS = SIG[:-1] * T

with torch.no_grad():
    t0 = time.time()
    cond, pooled = encode_prompt(PROMPTS)
    ucond, upooled = encode_prompt(NEG)
    ctx, text = torch.cat([ucond, cond]), torch.cat([upooled, pooled])
    x = torch.randn(len(PROMPTS), LAT, PX // 8, PX // 8)
    save_safetensors({"latents": x.contiguous()}, "init.safetensors")
    for i in range(STEPS):
        out = transformer(torch.cat([x, x]), TS[i].expand(2 * len(PROMPTS)), ctx, text)
        u, c = out.chunk(2)
        x = x + (SIG[i + 1] - SIG[i]) * (u + GUIDE * (c - u))
    ref_lat = x
    ref_img = vae_decode(ref_lat / SCALING + SHIFT, vae_w)
    t_ref = time.time() - t0

cmd = ["txt2img", "--model", DIR, "--latents", "init.safetensors", "--steps", str(STEPS), "--guidance", str(GUIDE),
       "--max-sequence-length", str(SEQ), "--out", "out"]
for p, n in zip(PROMPTS, NEG): cmd += ["--prompt", p, "--negative-prompt", n]
got, t_run = run_surpass(cmd)
rel = ((got - ref_lat).norm() / ref_lat.norm()).item()
print(f"sd3{' (qk rms_norm)' if QK else ''} flow-euler shift 3, {STEPS} steps, guidance {GUIDE}, {len(PROMPTS)} prompts with negatives, "
      f"T5 {SEQ} tokens: final latents max |diff| {(got - ref_lat).abs().max():.3e}, relative L2 {rel:.3e}; "
      f"reference {t_ref:.1f} s, `surpass txt2img` {t_run:.1f} s")
compare_images(ref_img, len(PROMPTS))
if not rel <= 1e-4: print("FAIL"); sys.exit(1)
