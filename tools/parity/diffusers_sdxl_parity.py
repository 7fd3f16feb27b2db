# surpass's Stable Diffusion XL pipeline (`surpass txt2img` on a StableDiffusionXLPipeline folder) against diffusers'
# StableDiffusionXLPipeline arithmetic, without diffusers or transformers installed. A tiny random SDXL-shaped folder is
# written (tokenizer/ and tokenizer_2/ — the same byte-level CLIP BPE, the second padding with "!" as SDXL's does;
# text_encoder/ a CLIPTextModel (quick_gelu); text_encoder_2/ a CLIPTextModelWithProjection (gelu); unet/ a text_time
# UNet2DConditionModel with SDXL's block layout [DownBlock2D, CrossAttnDownBlock2D, CrossAttnDownBlock2D], per-level
# transformer layers and linear projections; vae/ an AutoencoderKL decoder with SDXL's scaling_factor 0.13025; scheduler/
# SDXL's EulerDiscreteScheduler config, leading spacing, steps_offset 1), then the pipeline runs here in fp32 PyTorch op
# by op — encode_prompt: each encoder's hidden_states[-2] (no final norm) concatenated on the features, pooled = the
# projected text_embeds of text_encoder_2, zeros for the negative side (force_zeros_for_empty_prompt, no negative prompt);
# add_time_ids (H, W, 0, 0, H, W); the Euler loop with the UNet on [x; x] and its added conditions, u + g·(c − u); VAE
# decode of latents / scaling_factor — and compared with `surpass txt2img --latents` from the same initial latents.
# STRENGTH=S runs image-to-image instead (StableDiffusionXLImg2ImgPipeline on the base folder, `surpass txt2img
# --init-image`): a random picture through the VAE's encoder, the posterior sampled with surpass's Philox normals (seed 0,
# AutoencoderKL.SAMPLE_STREAM) × scaling_factor, Euler's add_noise x0 + σ[t_start]·ε (Philox, seed 0, INIT_STREAM) with
# t_start = N − int(N·strength), and the loop from there with the picture's time ids.
# Run from an empty folder: python3 diffusers_sdxl_parity.py      Exits 1 when the latents' relative L2 > 1e-4.
import json, os, sys, time, torch
import numpy as np
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_sd import (ClipBpe, take, lin, ln, conv, clip_weights, write_clip, clip, linear, c2d, gn, timestep_embedding,  # noqa: E402
                     resnet_weights, transformer_weights, u_res, u_transformer, vae_weights, write_vae, vae_decode, vae_encode, philox_normals,
                     scaled_linear_alphas, run_surpass, compare_images, save_safetensors, T)

torch.manual_seed(0)
STEPS, GUIDE = int(os.environ.get("STEPS", "6")), 5.0
STRENGTH = float(os.environ["STRENGTH"]) if os.environ.get("STRENGTH") else None
PROMPTS = os.environ.get("PROMPTS", "a red cat on a mat|two blue birds!").split("|")
PX = 64  # image side: latents 8×8 (×8 VAE)
# ---------------------------------------------------------------------------------------------- tokenizer
TOK = ClipBpe(["red", "cat", "mat", "blue", "bird", "birds", "blurry", "on", "two", "a"])
VOCAB, EOS, PAD2 = TOK.size, TOK.EOS, TOK.PAD2

# ---------------------------------------------------------------------------------------------- weights
TD1, TL1, TD2, TL2, PROJ, TH = 64, 3, 32, 2, 24, 2
text_w1 = clip_weights(VOCAB, TD1, TL1, 96, 0)
text_w2 = clip_weights(VOCAB, TD2, TL2, 64, PROJ)

# UNet: SDXL's layout in miniature
BOC, LPB, HEADS, TLS, G, LAT, CROSS, ADD_T = [32, 64, 64], 2, [1, 2, 2], [1, 2, 2], 8, 4, TD1 + TD2, 8
DOWN = ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"]; UP = ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]
TE = 4 * BOC[0]
def resnet(p, i, o): resnet_weights(p, i, o, TE)
def transformer(p, c, tl): transformer_weights(p, c, CROSS, tl, linear_proj=True)
conv("conv_in", LAT, BOC[0], 3); lin("time_embedding.linear_1", BOC[0], TE); lin("time_embedding.linear_2", TE, TE)
lin("add_embedding.linear_1", PROJ + 6 * ADD_T, TE); lin("add_embedding.linear_2", TE, TE)
ch = BOC[0]
for i, t in enumerate(DOWN):
    for j in range(LPB):
        resnet(f"down_blocks.{i}.resnets.{j}", ch, BOC[i]); ch = BOC[i]
        if t.startswith("CrossAttn"): transformer(f"down_blocks.{i}.attentions.{j}", ch, TLS[i])
    if i < len(BOC) - 1: conv(f"down_blocks.{i}.downsamplers.0.conv", ch, ch, 3)
resnet("mid_block.resnets.0", ch, ch); transformer("mid_block.attentions.0", ch, TLS[-1]); resnet("mid_block.resnets.1", ch, ch)
rev = list(reversed(BOC)); prev = rev[0]
for i, t in enumerate(UP):
    out, inp = rev[i], rev[min(i + 1, len(BOC) - 1)]
    for j in range(LPB + 1):
        resnet(f"up_blocks.{i}.resnets.{j}", (prev if j == 0 else out) + (inp if j == LPB else out), out)
        if t.startswith("CrossAttn"): transformer(f"up_blocks.{i}.attentions.{j}", out, TLS[len(BOC) - 1 - i])
    if i < len(BOC) - 1: conv(f"up_blocks.{i}.upsamplers.0.conv", out, out, 3)
    prev = out
ln("conv_norm_out", BOC[0]); conv("conv_out", BOC[0], LAT, 3)
unet_w = take()

# VAE: the decoder, with post_quant_conv
vae_w = vae_weights(LAT, encoder=STRENGTH is not None)
SCALING = 0.13025

# ---------------------------------------------------------------------------------------------- the folder
D = "sdxl"
for d in ("tokenizer", "tokenizer_2", "text_encoder", "text_encoder_2", "unet", "vae", "scheduler"): os.makedirs(f"{D}/{d}", exist_ok=True)
json.dump({"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.19.0.dev0", "force_zeros_for_empty_prompt": True,
           "scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
           "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "tokenizer": ["transformers", "CLIPTokenizer"],
           "tokenizer_2": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
           "vae": ["diffusers", "AutoencoderKL"]}, open(f"{D}/model_index.json", "w"))
for tk, pad in (("tokenizer", "<|endoftext|>"), ("tokenizer_2", "!")): TOK.write(f"{D}/{tk}", pad)
for te, arch, td, tl, ti, act, w in (("text_encoder", "CLIPTextModel", TD1, TL1, 96, "quick_gelu", text_w1),
                                     ("text_encoder_2", "CLIPTextModelWithProjection", TD2, TL2, 64, "gelu", text_w2)):
    write_clip(f"{D}/{te}", w, arch, VOCAB, td, tl, ti, TH, act, PROJ)
json.dump({"_class_name": "UNet2DConditionModel", "act_fn": "silu", "addition_embed_type": "text_time", "addition_time_embed_dim": ADD_T,
           "attention_head_dim": HEADS, "block_out_channels": BOC, "center_input_sample": False, "cross_attention_dim": CROSS,
           "down_block_types": DOWN, "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": LAT,
           "layers_per_block": LPB, "mid_block_scale_factor": 1, "norm_eps": 1e-5, "norm_num_groups": G, "out_channels": LAT,
           "projection_class_embeddings_input_dim": PROJ + 6 * ADD_T, "sample_size": PX // 8, "transformer_layers_per_block": TLS,
           "up_block_types": UP, "use_linear_projection": True}, open(f"{D}/unet/config.json", "w"))
save_safetensors(unet_w, f"{D}/unet/diffusion_pytorch_model.safetensors")
write_vae(f"{D}/vae", vae_w, LAT, PX, force_upcast=True, scaling_factor=SCALING)
json.dump({"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
           "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0,
           "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": None,
           "use_karras_sigmas": False}, open(f"{D}/scheduler/scheduler_config.json", "w"))

# ---------------------------------------------------------------------------------------------- the pipeline, op by op
def encode_prompt(prompts):
    ids1 = torch.tensor([TOK.tokenize(p, EOS) for p in prompts]); ids2 = torch.tensor([TOK.tokenize(p, PAD2) for p in prompts])
    hs1, _ = clip(ids1, text_w1, TD1, TL1, TH, True)
    hs2, last2 = clip(ids2, text_w2, TD2, TL2, TH, False)
    pooled = last2[torch.arange(len(prompts)), ids2.argmax(-1)]  # eos_token_id 2 in the config: transformers' argmax rule
    text_embeds = F.linear(pooled, text_w2["text_projection.weight"])
    return torch.cat([hs1[-2], hs2[-2]], dim=-1), text_embeds

def unet(x, t, ctx, text_embeds, time_ids):
    w = unet_w
    def res(h, p): return u_res(h, w, p, temb, G)
    def tr(h, p, lvl): return u_transformer(h, w, p, ctx, HEADS[lvl], G, TLS[lvl], linear_proj=True)
    temb = linear(F.silu(linear(timestep_embedding(t, BOC[0]), w, "time_embedding.linear_1")), w, "time_embedding.linear_2")
    add = torch.cat([text_embeds, timestep_embedding(time_ids.flatten(), ADD_T).reshape(x.shape[0], -1)], -1)  # get_aug_embed, text_time
    temb = temb + linear(F.silu(linear(add, w, "add_embedding.linear_1")), w, "add_embedding.linear_2")
    h = c2d(x, w, "conv_in"); skips = [h]
    for i, tp in enumerate(DOWN):
        for j in range(LPB):
            h = res(h, f"down_blocks.{i}.resnets.{j}")
            if tp.startswith("CrossAttn"): h = tr(h, f"down_blocks.{i}.attentions.{j}", i)
            skips.append(h)
        if i < len(BOC) - 1: h = c2d(h, w, f"down_blocks.{i}.downsamplers.0.conv", 1, 2); skips.append(h)
    h = res(h, "mid_block.resnets.0"); h = tr(h, "mid_block.attentions.0", -1); h = res(h, "mid_block.resnets.1")
    for i, tp in enumerate(UP):
        lvl = len(BOC) - 1 - i
        for j in range(LPB + 1):
            h = res(torch.cat([h, skips.pop()], 1), f"up_blocks.{i}.resnets.{j}")
            if tp.startswith("CrossAttn"): h = tr(h, f"up_blocks.{i}.attentions.{j}", lvl)
        if i < len(BOC) - 1: h = c2d(F.interpolate(h, scale_factor=2.0, mode="nearest"), w, f"up_blocks.{i}.upsamplers.0.conv")
    return c2d(F.silu(gn(h, w, "conv_norm_out", 1e-5, G)), w, "conv_out")

# EulerDiscreteScheduler, leading spacing + steps_offset 1 (float64 tables as diffusers' numpy; arithmetic in fp32 tensors)
ac, sig_all = scaled_linear_alphas()
ratio = T // STEPS
TS = (np.arange(0, STEPS) * ratio).round()[::-1].copy().astype(np.float32) + 1
SIG = np.interp(TS, np.arange(T), sig_all.numpy()).tolist() + [0.0]
INIT_SIGMA = (SIG[0] ** 2 + 1) ** 0.5  # leading: init_noise_sigma = sqrt(σ_max² + 1)

with torch.no_grad():
    t0 = time.time()
    cond, pooled = encode_prompt(PROMPTS)
    ctx = torch.cat([torch.zeros_like(cond), cond]); text = torch.cat([torch.zeros_like(pooled), pooled])  # force_zeros_for_empty_prompt
    ids = torch.tensor([[PX, PX, 0, 0, PX, PX]] * (2 * len(PROMPTS)), dtype=torch.float32)
    lat0 = torch.randn(len(PROMPTS), LAT, PX // 8, PX // 8)
    x = lat0 * INIT_SIGMA
    save_safetensors({"latents": x.contiguous()}, "init.safetensors")
    begin = 0
    if STRENGTH is not None:
        from PIL import Image
        pic = (torch.rand(PX, PX, 3) * 256).clamp(0, 255).to(torch.uint8)
        Image.fromarray(pic.numpy()).save("init.png")
        img = (pic.permute(2, 0, 1)[None].float() / 255.0) * 2 - 1  # VaeImageProcessor.preprocess
        mom = vae_encode(img, vae_w)
        mean, logvar = mom[:, :LAT], mom[:, LAT:].clamp(-30.0, 20.0)
        x0 = torch.cat([(mean + torch.exp(0.5 * logvar) * philox_normals(0, 1 << 41, mean.shape)) * SCALING] * len(PROMPTS))
        begin = max(STEPS - min(int(STEPS * STRENGTH), STEPS), 0)  # get_timesteps
        x = x0 + SIG[begin] * philox_normals(0, 1 << 40, x0.shape)  # EulerDiscreteScheduler.add_noise at timesteps[t_start]
    for i in range(begin, STEPS):
        s = SIG[i]
        out = unet(torch.cat([x, x]) / (s ** 2 + 1) ** 0.5, torch.full((2 * len(PROMPTS),), float(TS[i])), ctx, text, ids)
        u, c = out.chunk(2); e = u + GUIDE * (c - u)
        x0 = x - s * e
        x = x + (x - x0) / s * (SIG[i + 1] - s)
    ref_lat = x
    ref_img = vae_decode(ref_lat / SCALING, vae_w)
    t_ref = time.time() - t0

cmd = ["txt2img", "--model", D, "--steps", str(STEPS), "--guidance", str(GUIDE), "--out", "out"]
cmd += ["--init-image", "init.png", "--strength", str(STRENGTH)] if STRENGTH is not None else ["--latents", "init.safetensors"]
for p in PROMPTS: cmd += ["--prompt", p]
got, t_run = run_surpass(cmd)
rel = ((got - ref_lat).norm() / ref_lat.norm()).item()
print(f"sdxl euler (leading){f', img2img strength {STRENGTH} (from step {begin})' if STRENGTH is not None else ''}, {STEPS} steps, guidance {GUIDE}, {len(PROMPTS)} prompts (zeros negative): final latents max |diff| "
      f"{(got - ref_lat).abs().max():.3e}, relative L2 {rel:.3e}; reference {t_ref:.1f} s, `surpass txt2img` {t_run:.1f} s")
compare_images(ref_img)
if not rel <= 1e-4: print("FAIL"); sys.exit(1)
