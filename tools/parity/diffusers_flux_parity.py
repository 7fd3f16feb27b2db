# surpass's FLUX.1 pipeline (`surpass txt2img` on a FluxPipeline folder) against diffusers' FluxPipeline arithmetic,
# without diffusers or transformers installed. A tiny random Flux-shaped folder is written — tokenizer/ (byte-level CLIP
# BPE) and text_encoder/ (a CLIPTextModel, whose pooler_output is the pooled conditioning), tokenizer_2/ (a WordPiece
# tokenizer.json whose template appends </s>) and text_encoder_2/ (a gated-gelu T5EncoderModel), transformer/ (a
# FluxTransformer2DModel: 2 double-stream and 2 single-stream blocks of 2×64 heads, rope axes [16, 24, 24], guidance
# embeddings as FLUX.1-dev; SCHNELL=1: none, as schnell), vae/ (16 latent channels, no quant convs, Flux's scaling 0.3611 and
# shift 0.1159), scheduler/ (FlowMatchEulerDiscreteScheduler: dev's dynamic shifting; SCHNELL=1: schnell's shift 1) — then
# the pipeline runs here in fp32 PyTorch op by op, transcribed from diffusers' pipeline_flux.py and transformer_flux.py:
# encode_prompt (CLIP pooler_output of the prompt padded to 77, T5 states of the prompt padded to max_sequence_length with
# no attention mask, text ids zeros), _pack_latents and _prepare_latent_image_ids, sigmas = np.linspace(1, 1/N, N) and
# set_timesteps(sigmas, mu = calculate_shift(tokens)) in numpy as diffusers computes them, per step the transformer on the
# packed latents at timestep / 1000 (×1000 inside, guidance × 1000), TRUECFG=S: true CFG with negative prompts,
# x + (σ' − σ)·v, _unpack_latents and the VAE decode of latents / scaling + shift — and compared with
# `surpass txt2img --latents` from the same initial latents. STRENGTH=S runs image-to-image instead (FluxImg2ImgPipeline,
# `surpass txt2img --init-image`): a random picture encoded by the VAE's encoder, the posterior sampled with surpass's Philox
# normals (seed 0, AutoencoderKL.SAMPLE_STREAM), (sample − shift)·scaling, scale_noise to σ[t_start] with Philox noise (seed 0,
# INIT_STREAM), t_start = int(N − N·strength), packed, and the loop from there.
# Run from an empty folder: python3 diffusers_flux_parity.py      Exits 1 when the latents' relative L2 > 1e-4.
import json, math, os, sys, time, torch
import numpy as np
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_sd import (ClipBpe, W, take, lin, clip_weights, write_clip, clip, linear, timestep_embedding, vae_weights,  # noqa: E402
                     write_vae, vae_decode, vae_encode, philox_normals, run_surpass, compare_images, save_safetensors, T5, t5_tokenize)

torch.manual_seed(0)
STEPS, GUIDE, SEQ = int(os.environ.get("STEPS", "5")), 3.5, 12
SCHNELL = os.environ.get("SCHNELL") == "1"
TRUE_CFG = float(os.environ.get("TRUECFG", "1"))
STRENGTH = float(os.environ["STRENGTH"]) if os.environ.get("STRENGTH") else None
PROMPTS = ["a red cat on a mat", "a photo of two blue birds on a mat, a red cat"]
NEG = ["blurry", ""]
PH, PW = 64, 96  # picture: latents 8×12 (×8 VAE), packed 4×6 = 24 tokens
TOK = ClipBpe(["red", "cat", "mat", "blue", "bird", "birds", "blurry", "on", "two", "a", "photo", "of"])

# ---------------------------------------------------------------------------------------------- weights
TD, TL, TH = 32, 2, 2
text_w = clip_weights(TOK.size, TD, TL, 48)
J = 64
t5 = T5(J)
HEADS, HD, DOUBLE, SINGLE, LAT, AXES = 2, 64, 2, 2, 16, [16, 24, 24]
D, IN = HEADS * HD, 4 * LAT
lin("x_embedder", IN, D); lin("context_embedder", J, D)
lin("time_text_embed.timestep_embedder.linear_1", 256, D); lin("time_text_embed.timestep_embedder.linear_2", D, D)
if not SCHNELL:
    lin("time_text_embed.guidance_embedder.linear_1", 256, D); lin("time_text_embed.guidance_embedder.linear_2", D, D)
lin("time_text_embed.text_embedder.linear_1", TD, D); lin("time_text_embed.text_embedder.linear_2", D, D)
for i in range(DOUBLE):
    b = f"transformer_blocks.{i}"
    lin(b + ".norm1.linear", D, 6 * D, gain=0.5); lin(b + ".norm1_context.linear", D, 6 * D, gain=0.5)
    for n in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"): lin(f"{b}.attn.{n}", D, D)
    for n in ("norm_q", "norm_k", "norm_added_q", "norm_added_k"): W[f"{b}.attn.{n}.weight"] = 1 + 0.2 * torch.randn(HD)
    lin(b + ".ff.net.0.proj", D, 4 * D); lin(b + ".ff.net.2", 4 * D, D)
    lin(b + ".ff_context.net.0.proj", D, 4 * D); lin(b + ".ff_context.net.2", 4 * D, D)
for i in range(SINGLE):
    b = f"single_transformer_blocks.{i}"
    lin(b + ".norm.linear", D, 3 * D, gain=0.5); lin(b + ".proj_mlp", D, 4 * D); lin(b + ".proj_out", 5 * D, D)
    for n in ("to_q", "to_k", "to_v"): lin(f"{b}.attn.{n}", D, D)
    for n in ("norm_q", "norm_k"): W[f"{b}.attn.{n}.weight"] = 1 + 0.2 * torch.randn(HD)
lin("norm_out.linear", D, 2 * D, gain=0.5); lin("proj_out", D, IN)
tr_w = take()
vae_w = vae_weights(LAT, quant_convs=False, encoder=STRENGTH is not None)
SCALING, SHIFT = 0.3611, 0.1159

# ---------------------------------------------------------------------------------------------- the folder
DIR = "flux"
for d in ("scheduler", "transformer"): os.makedirs(f"{DIR}/{d}", exist_ok=True)
json.dump({"_class_name": "FluxPipeline", "_diffusers_version": "0.30.0.dev0", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
           "text_encoder": ["transformers", "CLIPTextModel"], "text_encoder_2": ["transformers", "T5EncoderModel"],
           "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "T5TokenizerFast"],
           "transformer": ["diffusers", "FluxTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]}, open(f"{DIR}/model_index.json", "w"))
TOK.write(f"{DIR}/tokenizer", "<|endoftext|>")
write_clip(f"{DIR}/text_encoder", text_w, "CLIPTextModel", TOK.size, TD, TL, 48, TH, "quick_gelu", 16)  # (projection_dim unused: no text_projection)
t5.write(f"{DIR}/tokenizer_2", f"{DIR}/text_encoder_2")
json.dump({"_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.30.0.dev0", "attention_head_dim": HD, "axes_dims_rope": AXES,
           "guidance_embeds": not SCHNELL, "in_channels": IN, "joint_attention_dim": J, "num_attention_heads": HEADS, "num_layers": DOUBLE,
           "num_single_layers": SINGLE, "patch_size": 1, "pooled_projection_dim": TD}, open(f"{DIR}/transformer/config.json", "w"))
save_safetensors(tr_w, f"{DIR}/transformer/diffusion_pytorch_model.safetensors")
write_vae(f"{DIR}/vae", vae_w, LAT, PH, force_upcast=True, scaling_factor=SCALING, shift_factor=SHIFT, use_quant_conv=False,
          use_post_quant_conv=False)
SCHED = {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0.dev0", "base_image_seq_len": 256, "base_shift": 0.5,
         "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 1.0 if SCHNELL else 3.0,
         "use_dynamic_shifting": not SCHNELL}
json.dump(SCHED, open(f"{DIR}/scheduler/scheduler_config.json", "w"))

# ---------------------------------------------------------------------------------------------- the pipeline, op by op
def encode_prompt(prompts):
    ids = torch.tensor([TOK.tokenize(p, TOK.EOS) for p in prompts])
    _, last = clip(ids, text_w, TD, TL, TH, True)
    pooled = last[torch.arange(len(prompts)), ids.argmax(-1)]  # pooler_output (eos_token_id 2: the argmax rule)
    return t5(torch.tensor([t5_tokenize(p, SEQ) for p in prompts])), pooled

def rope(ids):  # FluxPosEmbed: per axis get_1d_rotary_pos_embed(use_real, repeat_interleave_real, float64 freqs) → (cos, sin) [S, HD]
    cos, sin = [], []
    for i, dim in enumerate(AXES):
        freqs = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        f = torch.outer(ids[:, i].float().double(), freqs)
        cos.append(f.cos().repeat_interleave(2, dim=1).float()); sin.append(f.sin().repeat_interleave(2, dim=1).float())
    return torch.cat(cos, -1), torch.cat(sin, -1)
def apply_rope(x, cs):  # apply_rotary_emb(use_real_unbind_dim=-1) on [B, S, H, HD]
    cos, sin = cs[0][None, :, None, :], cs[1][None, :, None, :]
    xr, xi = x.reshape(*x.shape[:-1], -1, 2).unbind(-1)
    rot = torch.stack([-xi, xr], dim=-1).flatten(3)
    return x * cos + rot * sin
def rms(h, w): return h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6) * w
def lnn(h): return F.layer_norm(h, (h.shape[-1],), None, None, 1e-6)
def ff(h, p): return linear(F.gelu(linear(h, tr_w, p + ".net.0.proj"), approximate="tanh"), tr_w, p + ".net.2")
def heads(t): return t.unflatten(-1, (-1, HD))
def attend(q, k, v, cs):  # [B, S, H, HD]: rope on q and k, softmax(q·kᵀ/√HD)·v
    q, k = apply_rope(q, cs), apply_rope(k, cs)
    o = torch.softmax(q.transpose(1, 2) @ k.transpose(1, 2).transpose(-1, -2) / math.sqrt(HD), -1) @ v.transpose(1, 2)
    return o.transpose(1, 2).flatten(2)
def emb(t, p): return linear(F.silu(linear(timestep_embedding(t, 256), tr_w, p + ".linear_1")), tr_w, p + ".linear_2")
def transformer(x, ts, ctx, pooled, img_ids, txt_ids, guidance):
    w = tr_w
    h = linear(x, w, "x_embedder")
    temb = emb(ts.float() * 1000, "time_text_embed.timestep_embedder")
    if guidance is not None: temb = temb + emb(guidance.float() * 1000, "time_text_embed.guidance_embedder")
    temb = temb + linear(F.silu(linear(pooled, w, "time_text_embed.text_embedder.linear_1")), w, "time_text_embed.text_embedder.linear_2")
    enc = linear(ctx, w, "context_embedder")
    cs = rope(torch.cat([txt_ids, img_ids]))
    S = enc.shape[1]
    for i in range(DOUBLE):
        b = f"transformer_blocks.{i}"
        sh, sc, g, shm, scm, gm = linear(F.silu(temb), w, b + ".norm1.linear").chunk(6, dim=1)
        csh, csc, cg, cshm, cscm, cgm = linear(F.silu(temb), w, b + ".norm1_context.linear").chunk(6, dim=1)
        nh, ne = lnn(h) * (1 + sc[:, None]) + sh[:, None], lnn(enc) * (1 + csc[:, None]) + csh[:, None]
        a = b + ".attn"
        q, k, v = heads(linear(nh, w, a + ".to_q")), heads(linear(nh, w, a + ".to_k")), heads(linear(nh, w, a + ".to_v"))
        q, k = rms(q, w[a + ".norm_q.weight"]), rms(k, w[a + ".norm_k.weight"])
        eq, ek, ev = heads(linear(ne, w, a + ".add_q_proj")), heads(linear(ne, w, a + ".add_k_proj")), heads(linear(ne, w, a + ".add_v_proj"))
        eq, ek = rms(eq, w[a + ".norm_added_q.weight"]), rms(ek, w[a + ".norm_added_k.weight"])
        o = attend(torch.cat([eq, q], 1), torch.cat([ek, k], 1), torch.cat([ev, v], 1), cs)
        oe, oh = o[:, :S], o[:, S:]
        h = h + g[:, None] * linear(oh, w, a + ".to_out.0")
        h = h + gm[:, None] * ff(lnn(h) * (1 + scm[:, None]) + shm[:, None], b + ".ff")
        enc = enc + cg[:, None] * linear(oe, w, a + ".to_add_out")
        enc = enc + cgm[:, None] * ff(lnn(enc) * (1 + cscm[:, None]) + cshm[:, None], b + ".ff_context")
    for i in range(SINGLE):
        b = f"single_transformer_blocks.{i}"
        hs = torch.cat([enc, h], 1)
        sh, sc, g = linear(F.silu(temb), w, b + ".norm.linear").chunk(3, dim=1)
        n = lnn(hs) * (1 + sc[:, None]) + sh[:, None]
        mlp = F.gelu(linear(n, w, b + ".proj_mlp"), approximate="tanh")
        a = b + ".attn"
        q, k, v = heads(linear(n, w, a + ".to_q")), heads(linear(n, w, a + ".to_k")), heads(linear(n, w, a + ".to_v"))
        q, k = rms(q, w[a + ".norm_q.weight"]), rms(k, w[a + ".norm_k.weight"])
        hs = hs + g[:, None] * linear(torch.cat([attend(q, k, v, cs), mlp], 2), w, b + ".proj_out")
        enc, h = hs[:, :S], hs[:, S:]
    scale, shift = linear(F.silu(temb), w, "norm_out.linear").chunk(2, dim=1)  # AdaLayerNormContinuous: scale first
    return linear(lnn(h) * (1 + scale)[:, None] + shift[:, None], w, "proj_out")

def pack(x):  # _pack_latents
    B, C, H, Wd = x.shape
    return x.view(B, C, H // 2, 2, Wd // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(B, (H // 2) * (Wd // 2), C * 4)
def unpack(x, H, Wd):  # _unpack_latents on latent sides H, Wd
    B, _, C = x.shape
    return x.view(B, H // 2, Wd // 2, C // 4, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(B, C // 4, H, Wd)
def image_ids(h, w):  # _prepare_latent_image_ids
    ids = torch.zeros(h, w, 3)
    ids[..., 1] = ids[..., 1] + torch.arange(h)[:, None]; ids[..., 2] = ids[..., 2] + torch.arange(w)[None, :]
    return ids.reshape(h * w, 3)

# set_timesteps(sigmas=np.linspace(1, 1/N, N), mu=calculate_shift(tokens)) as diffusers' numpy / torch compute it
LH, LW = PH // 8, PW // 8
TOKENS = (LH // 2) * (LW // 2)
m = (SCHED["max_shift"] - SCHED["base_shift"]) / (SCHED["max_image_seq_len"] - SCHED["base_image_seq_len"])
MU = TOKENS * m + (SCHED["base_shift"] - m * SCHED["base_image_seq_len"])
sig = np.array(np.linspace(1.0, 1 / STEPS, STEPS)).astype(np.float32)
if SCHED["use_dynamic_shifting"]: sig = math.exp(MU) / (math.exp(MU) + (1 / sig - 1) ** 1.0)
else: sig = SCHED["shift"] * sig / (1 + (SCHED["shift"] - 1) * sig)
SIG = torch.cat([torch.from_numpy(sig).to(torch.float32), torch.zeros(1)])
TS = SIG[:-1] * 1000

with torch.no_grad():
    t0 = time.time()
    B = len(PROMPTS)
    ctx, pooled = encode_prompt(PROMPTS)
    cfg = TRUE_CFG > 1
    if cfg: nctx, npooled = encode_prompt(NEG)
    x0 = torch.randn(B, LAT, LH, LW)
    save_safetensors({"latents": x0.contiguous()}, "init.safetensors")
    begin = 0
    if STRENGTH is not None:
        from PIL import Image
        pic = (torch.rand(PH, PW, 3) * 256).clamp(0, 255).to(torch.uint8)
        Image.fromarray(pic.numpy()).save("init.png")
        img = (pic.permute(2, 0, 1)[None].float() / 255.0) * 2 - 1  # VaeImageProcessor.preprocess
        mom = vae_encode(img, vae_w)
        mean, logvar = mom[:, :LAT], mom[:, LAT:].clamp(-30.0, 20.0)
        sample = mean + torch.exp(0.5 * logvar) * philox_normals(0, 1 << 41, mean.shape)  # seed 0, SAMPLE_STREAM
        image_latents = torch.cat([(sample - SHIFT) * SCALING] * B)  # _encode_vae_image, one picture for every prompt
        begin = int(max(STEPS - min(STEPS * STRENGTH, STEPS), 0))  # get_timesteps
        noise = philox_normals(0, 1 << 40, image_latents.shape)  # seed 0, INIT_STREAM
        x0 = SIG[begin] * noise + (1.0 - SIG[begin]) * image_latents  # scale_noise
    x = pack(x0)
    img_ids, txt_ids = image_ids(LH // 2, LW // 2), torch.zeros(SEQ, 3)
    guidance = None if SCHNELL else torch.full([B], GUIDE, dtype=torch.float32)
    for i in range(begin, STEPS):
        ts = TS[i].expand(B) / 1000
        v = transformer(x, ts, ctx, pooled, img_ids, txt_ids, guidance)
        if cfg:
            u = transformer(x, ts, nctx, npooled, img_ids, txt_ids, guidance)
            v = u + TRUE_CFG * (v - u)
        x = x + (SIG[i + 1] - SIG[i]) * v
    ref_lat = unpack(x, LH, LW)
    ref_img = vae_decode(ref_lat / SCALING + SHIFT, vae_w)
    t_ref = time.time() - t0

cmd = ["txt2img", "--model", DIR, "--steps", str(STEPS), "--guidance", str(GUIDE), "--width", str(PW),
       "--height", str(PH), "--max-sequence-length", str(SEQ), "--out", "out"]
cmd += ["--init-image", "init.png", "--strength", str(STRENGTH)] if STRENGTH is not None else ["--latents", "init.safetensors"]
if cfg: cmd += ["--true-cfg-scale", str(TRUE_CFG)]
for p, n in zip(PROMPTS, NEG): cmd += ["--prompt", p] + (["--negative-prompt", n] if cfg else [])
got, t_run = run_surpass(cmd)
rel = ((got - ref_lat).norm() / ref_lat.norm()).item()
print(f"flux-{'schnell' if SCHNELL else 'dev'}{f' img2img strength {STRENGTH} (from step {begin})' if STRENGTH is not None else ''}, {STEPS} steps, {'no guidance embedding' if SCHNELL else f'guidance {GUIDE}'}"
      f"{f', true CFG {TRUE_CFG} with negatives' if cfg else ''}, {B} prompts, {TOKENS} image tokens (mu {MU:.4f}), T5 {SEQ} tokens: "
      f"final latents max |diff| {(got - ref_lat).abs().max():.3e}, relative L2 {rel:.3e}; reference {t_ref:.1f} s, `surpass txt2img` {t_run:.1f} s")
compare_images(ref_img, B)
if not rel <= 1e-4: print("FAIL"); sys.exit(1)
