# surpass's Stable Diffusion pipeline (`surpass txt2img`) against diffusers' StableDiffusionPipeline arithmetic, without
# diffusers or transformers installed. A tiny random SD 1.x-shaped pipeline folder is written (model_index.json; tokenizer/
# vocab.json + merges.txt of a byte-level CLIP BPE; text_encoder/ a CLIPTextModel (quick_gelu, causal); unet/ a
# UNet2DConditionModel with CrossAttnDownBlock2D, DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D, CrossAttnUpBlock2D
# and SD 1.x's head-count quirk (attention_head_dim = heads); vae/ an AutoencoderKL decoder; scheduler/ SD 1.5's PNDM
# config), then the pipeline runs here in fp32 PyTorch op by op — CLIPTokenizer's BPE with "</w>", padding to 77 with
# <|endoftext|>; the text encoder; [negative; prompt] embeddings; for each scheduler step the UNet on [x; x], guidance
# u + g·(c − u); PNDMScheduler.step_plms (skip_prk_steps) or DPMSolverMultistepScheduler (2M, linspace); vae.decode of
# latents / scaling_factor — and compared with `surpass txt2img --latents` started from the same initial latents.
# SCHED=dpmpp2m|euler|ddim|euler-a|unipc|ddpm|heun runs that scheduler instead of the folder's PNDM (as from_config would set it
# up): EulerAncestralDiscreteScheduler and DDPMScheduler draw their step noise as surpass does (Philox normals, seed 0, stream
# = the step's index for Euler-a, the timestep for DDPM); UniPCMultistepScheduler is its default bh2 order 2; Heun runs its
# 2N − 1 evaluations (image-to-image from evaluation 2·t_start). SCHED=dpmpp2m-sde writes algorithm_type "sde-dpmsolver++" into
# the folder's config and runs `--scheduler dpmpp2m` (the SDE update, Philox noise on stream = the step's index).
# STRENGTH=S runs image-to-image instead (StableDiffusionImg2ImgPipeline, `surpass txt2img --init-image`): the VAE gets a
# random Encoder + quant_conv, a random 64×64 8-bit picture is preprocessed (x/255·2−1) and encoded here, the latent
# distribution sampled with surpass's Philox normals (seed 0, AutoencoderKL.SAMPLE_STREAM; transcribed in tiny_sd.py) and scaled,
# get_timesteps' t_start = STEPS − int(STEPS·S), the scheduler's add_noise at timesteps[t_start] with Philox noise (seed 0,
# StableDiffusion.INIT_STREAM), and the loop over timesteps[t_start:] (PNDM's counter from 0, Euler / DPM from step t_start).
# Run from an empty folder: python3 diffusers_sd_parity.py      Exits 1 when the latents' relative L2 > 1e-4.
import json, math, os, sys, time, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_sd import (ClipBpe, take, lin, ln, conv, clip_weights, write_clip, clip, linear, c2d, gn, timestep_embedding,  # noqa: E402
                     resnet_weights, transformer_weights, u_res, u_transformer, vae_weights, write_vae, vae_decode, vae_encode,
                     scaled_linear_alphas, philox_normals, run_surpass, compare_images, save_safetensors, T)

torch.manual_seed(0)
SCHED = os.environ.get("SCHED", "pndm")
STEPS, GUIDE = int(os.environ.get("STEPS", "8")), 6.0
STRENGTH = float(os.environ["STRENGTH"]) if os.environ.get("STRENGTH") else None
PROMPTS = ["a red cat on a mat", "two blue birds!"]
NEGATIVE = ["blurry", ""]

# ---------------------------------------------------------------------------------------------- tokenizer
TOK = ClipBpe(["red", "cat", "mat", "blue", "bird", "birds", "blurry", "on", "two", "a"])
VOCAB = TOK.size

# ---------------------------------------------------------------------------------------------- weights
# text encoder
TD, TH, TL, TI = 64, 2, 2, 96
text_w = clip_weights(VOCAB, TD, TL, TI)

# UNet: block_out_channels (32, 64), 1 layer per block, heads 2 (head dims 16 and 32), 8 groups
BOC, LPB, HEADS, G, LAT, CROSS = [32, 64], 1, 2, 8, 4, TD
TE = BOC[0] * 4
def resnet(p, i, o): resnet_weights(p, i, o, TE)
def transformer(p, c): transformer_weights(p, c, CROSS)
lin("time_embedding.linear_1", BOC[0], TE); lin("time_embedding.linear_2", TE, TE)
conv("conv_in", LAT, BOC[0], 3)
# down: 0 CrossAttnDownBlock2D (32) + downsampler, 1 DownBlock2D (64)
resnet("down_blocks.0.resnets.0", 32, 32); transformer("down_blocks.0.attentions.0", 32); conv("down_blocks.0.downsamplers.0.conv", 32, 32, 3)
resnet("down_blocks.1.resnets.0", 32, 64)
# mid at 64
resnet("mid_block.resnets.0", 64, 64); transformer("mid_block.attentions.0", 64); resnet("mid_block.resnets.1", 64, 64)
# up: 0 UpBlock2D (64, skips 64, 32) + upsampler, 1 CrossAttnUpBlock2D (32, skips 32, 32)
resnet("up_blocks.0.resnets.0", 64 + 64, 64); resnet("up_blocks.0.resnets.1", 64 + 32, 64); conv("up_blocks.0.upsamplers.0.conv", 64, 64, 3)
resnet("up_blocks.1.resnets.0", 64 + 32, 32); transformer("up_blocks.1.attentions.0", 32)
resnet("up_blocks.1.resnets.1", 32 + 32, 32); transformer("up_blocks.1.attentions.1", 32)
ln("conv_norm_out", BOC[0]); conv("conv_out", BOC[0], LAT, 3)
unet_w = take()

# VAE: the decoder, and for image-to-image the encoder; both quant convs
vae_w = vae_weights(LAT, encoder=STRENGTH is not None)
SCALING = 0.18215

# ---------------------------------------------------------------------------------------------- the folder
os.makedirs("sd", exist_ok=True)
for d in ("tokenizer", "text_encoder", "unet", "vae", "scheduler"): os.makedirs(f"sd/{d}", exist_ok=True)
json.dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.8.0", "scheduler": ["diffusers", "PNDMScheduler"],
           "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
           "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}, open("sd/model_index.json", "w"))
TOK.write("sd/tokenizer")
write_clip("sd/text_encoder", text_w, "CLIPTextModel", VOCAB, TD, TL, TI, TH, "quick_gelu", 32)
json.dump({"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": HEADS, "block_out_channels": BOC,
           "center_input_sample": False, "cross_attention_dim": CROSS, "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
           "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": LAT, "layers_per_block": LPB,
           "mid_block_scale_factor": 1, "norm_eps": 1e-5, "norm_num_groups": G, "out_channels": LAT, "sample_size": 8,
           "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"]}, open("sd/unet/config.json", "w"))
save_safetensors(unet_w, "sd/unet/diffusion_pytorch_model.safetensors")
write_vae("sd/vae", vae_w, LAT, 64)
json.dump({"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
           "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
           "trained_betas": None, "clip_sample": False,
           **({"algorithm_type": "sde-dpmsolver++"} if SCHED == "dpmpp2m-sde" else {})}, open("sd/scheduler/scheduler_config.json", "w"))

# ---------------------------------------------------------------------------------------------- the pipeline, op by op
def text_encoder(ids): return clip(ids, text_w, TD, TL, TH, True)[1]

def unet(x, t, ctx):
    w = unet_w
    def res(h, p): return u_res(h, w, p, temb, G)
    def tr(h, p): return u_transformer(h, w, p, ctx, HEADS, G)
    temb = linear(F.silu(linear(timestep_embedding(t, BOC[0]), w, "time_embedding.linear_1")), w, "time_embedding.linear_2")
    h = c2d(x, w, "conv_in")
    skips = [h]
    h = tr(res(h, "down_blocks.0.resnets.0"), "down_blocks.0.attentions.0"); skips.append(h)
    h = c2d(h, w, "down_blocks.0.downsamplers.0.conv", 1, 2); skips.append(h)
    h = res(h, "down_blocks.1.resnets.0"); skips.append(h)
    h = res(h, "mid_block.resnets.0"); h = tr(h, "mid_block.attentions.0"); h = res(h, "mid_block.resnets.1")
    for j in range(2): h = res(torch.cat([h, skips.pop()], 1), f"up_blocks.0.resnets.{j}")
    h = c2d(F.interpolate(h, scale_factor=2.0, mode="nearest"), w, "up_blocks.0.upsamplers.0.conv")
    for j in range(2):
        h = res(torch.cat([h, skips.pop()], 1), f"up_blocks.1.resnets.{j}")
        h = tr(h, f"up_blocks.1.attentions.{j}")
    return c2d(F.silu(gn(h, w, "conv_norm_out", 1e-5, G)), w, "conv_out")

# schedulers (float64 tables, as diffusers' numpy set_timesteps; the arithmetic in fp32 tensors as diffusers')
ac, sig_all = scaled_linear_alphas()

def run(x, cond, begin=0, scale0=True):  # begin: image-to-image's t_start (x already noised, not scaled by σ0)
    ratio = T // STEPS
    if SCHED == "pndm":
        asc = [i * ratio + 1 for i in range(STEPS)]
        ts = (asc[:-1] + asc[-2:-1] + asc[-1:])[::-1][begin:]
        ets, cur = [], None
        for counter, t in enumerate(ts):
            e = guided(x, float(t), cond)
            prev = t - ratio
            if counter != 1:
                ets = ets[-3:]; ets.append(e)
            else:
                prev, t = t, t + ratio
            sample = x
            if len(ets) == 1 and counter == 0: m = e; cur = x
            elif len(ets) == 1 and counter == 1: m = (e + ets[-1]) / 2; sample = cur
            elif len(ets) == 2: m = (3 * ets[-1] - ets[-2]) / 2
            elif len(ets) == 3: m = (23 * ets[-1] - 16 * ets[-2] + 5 * ets[-3]) / 12
            else: m = (55 * ets[-1] - 59 * ets[-2] + 37 * ets[-3] - 9 * ets[-4]) / 24
            a = ac[t].item(); ap = ac[prev].item() if prev >= 0 else ac[0].item()
            x = (ap / a) ** 0.5 * sample - (ap - a) * m / (a * (1 - ap) ** 0.5 + (a * (1 - a) * ap) ** 0.5)
        return x
    if SCHED == "ddim":
        for i in range(begin, STEPS):
            t = (STEPS - 1 - i) * ratio + 1
            e = guided(x, float(t), cond)
            a = ac[t].item(); prev = t - ratio; ap = ac[prev].item() if prev >= 0 else ac[0].item()
            x0 = (x - (1 - a) ** 0.5 * e) / a ** 0.5
            x = ap ** 0.5 * x0 + (1 - ap) ** 0.5 * e
        return x
    if SCHED == "euler-a":  # EulerAncestralDiscreteScheduler.step, noise = surpass's Philox (seed 0, stream i)
        import numpy as np
        ts = np.linspace(0, T - 1, STEPS, dtype=np.float32)[::-1].copy()
        s = np.interp(ts, np.arange(T), sig_all.numpy()).tolist() + [0.0]
        if scale0: x = x * s[0]
        for i in range(begin, STEPS):
            e = guided(x / (s[i] ** 2 + 1) ** 0.5, float(ts[i]), cond)
            x0 = x - s[i] * e
            up = (s[i + 1] ** 2 * (s[i] ** 2 - s[i + 1] ** 2) / s[i] ** 2) ** 0.5
            down = (s[i + 1] ** 2 - up ** 2) ** 0.5
            x = x + (x - x0) / s[i] * (down - s[i])
            x = x + philox_normals(0, i, x.shape) * up
        return x
    if SCHED == "heun":  # HeunDiscreteScheduler: repeated timesteps / sigmas, state_in_first_order by dt
        import numpy as np
        t1 = np.linspace(0, T - 1, STEPS, dtype=np.float32)[::-1].copy()
        s1 = np.interp(t1, np.arange(T), sig_all.numpy()).tolist() + [0.0]
        sg = s1[:1] + [v for v in s1[1:-1] for _ in range(2)] + s1[-1:]
        ts = [t1[0]] + [v for v in t1[1:] for _ in range(2)]
        if scale0: x = x * sg[0]
        dt = prev_d = saved = None
        for k in range(2 * begin, len(ts)):
            e = guided(x / (sg[k] ** 2 + 1) ** 0.5, float(ts[k]), cond)
            if dt is None:
                sigma, nxt = sg[k], sg[k + 1]
                x0 = x - sigma * e
                d = (x - x0) / sigma; dt = nxt - sigma; prev_d, saved = d, x
                x = x + d * dt
            else:
                nxt = sg[k]
                x0 = x - nxt * e
                d = ((x - x0) / nxt + prev_d) / 2
                x = saved + d * dt
                dt = prev_d = saved = None
        return x
    if SCHED == "ddpm":  # DDPMScheduler, leading (steps_offset 1), fixed_small, clip_sample false (the folder's config)
        ts = [(STEPS - 1 - i) * ratio + 1 for i in range(STEPS)]
        for i in range(begin, STEPS):
            t = ts[i]; prev = ts[i + 1] if i + 1 < STEPS else -1
            e = guided(x, float(t), cond)
            a = ac[t].item(); ap = ac[prev].item() if prev >= 0 else 1.0
            ca = a / ap; cb = 1 - ca
            x0 = (x - (1 - a) ** 0.5 * e) / a ** 0.5
            x = (ap ** 0.5 * cb / (1 - a)) * x0 + (ca ** 0.5 * (1 - ap) / (1 - a)) * x
            if t > 0: x = x + max((1 - ap) / (1 - a) * cb, 1e-20) ** 0.5 * philox_normals(0, t, x.shape)
        return x
    if SCHED == "unipc":  # UniPCMultistepScheduler defaults: bh2, order 2, predict_x0, lower_order_final
        import numpy as np
        ts = np.linspace(0, T - 1, STEPS + 1).round()[::-1][:-1].astype(np.int64)
        s = np.interp(ts, np.arange(T), sig_all.numpy()).tolist() + [0.0]
        als = lambda v: (1 / (v * v + 1) ** 0.5, v / (v * v + 1) ** 0.5)
        lam = lambda v: (math.log(als(v)[0]) - math.log(als(v)[1])) if v > 0 else math.inf
        outs, last, lower, this_order = [None, None], None, 0, 0
        def uni(i_s0, i_t, xs, order, this=None):  # multistep_uni_p_bh_update / multistep_uni_c_bh_update, order <= 2
            m0 = outs[-1]; at, st = als(s[i_t]); a0, s0 = als(s[i_s0])
            h = lam(s[i_t]) - lam(s[i_s0]); hh = -h; hphi1 = math.expm1(hh); bh = math.expm1(hh)
            d1 = None
            if order == 2:
                si = i_t - 2 if this is not None else i_s0 - 1
                rk = (lam(s[si]) - lam(s[i_s0])) / h
                d1 = (outs[-2] - m0) / rk
            xt = st / s0 * xs - at * hphi1 * m0
            if this is None: return xt - at * bh * (0.5 * d1) if d1 is not None else xt
            if order == 1: rc = [0.5]
            else:  # solve R rho = b, R = [[1, 1], [rk, 1]], b_j = h phi_(j+1) (j+1)! / B
                b1 = (hphi1 / hh - 1) / bh; b2 = ((hphi1 / hh - 1) / hh - 0.5) * 2 / bh
                rc = list(np.linalg.solve(np.array([[1.0, 1.0], [rk, 1.0]]), np.array([b1, b2])))
            res = (rc[0] * d1 if d1 is not None else 0) + rc[-1] * (this - m0)
            return xt - at * bh * res
        for i in range(begin, STEPS):
            e = guided(x, float(ts[i]), cond)
            al, sv = als(s[i]); conv = (x - sv * e) / al
            if i > begin and last is not None: x = uni(i - 1, i, last, this_order, conv)
            outs = [outs[1], conv]
            this_order = min(min(2, STEPS - i), lower + 1)
            last = x
            x = uni(i, i + 1, x, this_order)
            lower = min(lower + 1, 2)
        return x
    if SCHED == "euler":
        import numpy as np
        ts = np.linspace(0, T - 1, STEPS, dtype=np.float32)[::-1].copy()
        s = np.interp(ts, np.arange(T), sig_all.numpy()).tolist() + [0.0]
        if scale0: x = x * s[0]
        for i in range(begin, STEPS):
            e = guided(x / (s[i] ** 2 + 1) ** 0.5, float(ts[i]), cond)
            x0 = x - s[i] * e
            x = x + (x - x0) / s[i] * (s[i + 1] - s[i])
        return x
    # dpmpp2m (ODE, or SDE for dpmpp2m-sde), linspace timesteps, final sigma 0, lower order at the first and last steps
    import numpy as np
    sde = SCHED == "dpmpp2m-sde"
    ts = np.linspace(0, T - 1, STEPS + 1).round()[::-1][:-1].astype(np.int64)
    s = np.interp(ts, np.arange(T), sig_all.numpy()).tolist() + [0.0]
    prev_x0 = None
    for i in range(begin, STEPS):
        e = guided(x, float(ts[i]), cond)
        al, sv = 1 / (s[i] ** 2 + 1) ** 0.5, s[i] / (s[i] ** 2 + 1) ** 0.5
        x0 = (x - sv * e) / al
        if s[i + 1] == 0: x = x0
        else:
            aln, svn = 1 / (s[i + 1] ** 2 + 1) ** 0.5, s[i + 1] / (s[i + 1] ** 2 + 1) ** 0.5
            lam, lamn = math.log(al) - math.log(sv), math.log(aln) - math.log(svn)
            h = lamn - lam
            if sde:  # sde-dpmsolver++ midpoint: D0 = x0, D1 = (x0 − x0_prev)/r0 on second-order steps
                k2 = aln * (1 - math.exp(-2.0 * h))
                d1 = 0 if i == begin or i == STEPS - 1 else (x0 - prev_x0) / ((lam - (math.log(1 / (s[i - 1] ** 2 + 1) ** 0.5)
                                                                                 - math.log(s[i - 1] / (s[i - 1] ** 2 + 1) ** 0.5))) / h)
                x = (svn / sv * math.exp(-h)) * x + k2 * x0 + 0.5 * k2 * d1 + svn * math.sqrt(1 - math.exp(-2 * h)) * philox_normals(0, i, x.shape)
            elif i == begin or i == STEPS - 1: x = (svn / sv) * x - aln * (math.exp(-h) - 1) * x0
            else:
                sp = s[i - 1]; lamp = math.log(1 / (sp ** 2 + 1) ** 0.5) - math.log(sp / (sp ** 2 + 1) ** 0.5)
                d1 = (x0 - prev_x0) / ((lam - lamp) / h)
                x = (svn / sv) * x - aln * (math.exp(-h) - 1) * x0 - 0.5 * aln * (math.exp(-h) - 1) * d1
        prev_x0 = x0
    return x

def guided(x, t, cond):
    out = unet(torch.cat([x, x]), torch.full((2 * x.shape[0],), t), cond)
    u, c = out.chunk(2)
    return u + GUIDE * (c - u)

with torch.no_grad():
    t0 = time.time()
    ids = torch.tensor([TOK.tokenize(p) for p in PROMPTS])
    nids = torch.tensor([TOK.tokenize(p) for p in NEGATIVE])
    cond = torch.cat([text_encoder(nids), text_encoder(ids)])
    lat0 = torch.randn(len(PROMPTS), LAT, 8, 8)
    # surpass takes the latents as they are; Euler's (Euler-a's, Heun's) initial ×σ0 happens in run() here, so hand surpass the scaled ones
    if SCHED in ("euler", "euler-a", "heun"):
        import numpy as np
        s0 = float(np.interp(np.float32(T - 1), np.arange(T), sig_all.numpy()))
        given = lat0 * s0
    else:
        given = lat0
    save_safetensors({"latents": given.contiguous()}, "init.safetensors")
    if STRENGTH is not None:
        import numpy as np
        from PIL import Image
        pic = (torch.rand(64, 64, 3) * 256).clamp(0, 255).to(torch.uint8)
        Image.fromarray(pic.numpy()).save("init.png")
        img = (pic.permute(2, 0, 1)[None].float() / 255.0) * 2 - 1  # VaeImageProcessor.preprocess
        mom = vae_encode(img, vae_w)
        mean, logvar = mom[:, :LAT], mom[:, LAT:].clamp(-30.0, 20.0)
        sample = mean + torch.exp(0.5 * logvar) * philox_normals(0, 1 << 41, mean.shape)  # seed 0, SAMPLE_STREAM
        x0 = torch.cat([sample * SCALING] * len(PROMPTS))  # one picture for every prompt
        eps = philox_normals(0, 1 << 40, x0.shape)  # seed 0, INIT_STREAM
        init_t = min(int(STEPS * STRENGTH), STEPS); begin = max(STEPS - init_t, 0)
        ratio = T // STEPS
        if SCHED == "ddpm":
            t = (STEPS - 1 - begin) * ratio + 1
            lat_start = ac[t].item() ** 0.5 * x0 + (1 - ac[t].item()) ** 0.5 * eps
        elif SCHED in ("pndm", "ddim"):  # DDPM-style add_noise at timesteps[t_start]
            t = ((list(range(STEPS))[:-1] + [STEPS - 2, STEPS - 1])[::-1][begin] if SCHED == "pndm" else STEPS - 1 - begin) * ratio + 1
            lat_start = ac[t].item() ** 0.5 * x0 + (1 - ac[t].item()) ** 0.5 * eps
        elif SCHED in ("euler", "euler-a", "heun"):  # Heun's sigmas[2·t_start] = σ of step t_start
            tsn = np.linspace(0, T - 1, STEPS, dtype=np.float32)[::-1].copy()
            sg = float(np.interp(tsn[begin], np.arange(T), sig_all.numpy()))
            lat_start = x0 + sg * eps
        else:
            tsn = np.linspace(0, T - 1, STEPS + 1).round()[::-1][:-1].astype(np.int64)
            sg = float(np.interp(tsn[begin], np.arange(T), sig_all.numpy())); al = 1 / (sg * sg + 1) ** 0.5
            lat_start = al * x0 + sg * al * eps
        ref_lat = run(lat_start, cond, begin, False)
    else:
        ref_lat = run(lat0, cond)
    ref_img = vae_decode(ref_lat / SCALING, vae_w)
    t_ref = time.time() - t0

cmd = ["txt2img", "--model", "sd", "--steps", str(STEPS), "--guidance", str(GUIDE), "--width", "64", "--height", "64", "--out", "out"]
cmd += ["--init-image", "init.png", "--strength", str(STRENGTH)] if STRENGTH is not None else ["--latents", "init.safetensors"]
for p in PROMPTS: cmd += ["--prompt", p]
for p in NEGATIVE: cmd += ["--negative-prompt", p]
if SCHED != "pndm": cmd += ["--scheduler", "dpmpp2m" if SCHED == "dpmpp2m-sde" else SCHED]
got, t_run = run_surpass(cmd)
rel = ((got - ref_lat).norm() / ref_lat.norm()).item()
print(f"{SCHED}, {STEPS} steps{f', img2img strength {STRENGTH}' if STRENGTH is not None else ''}, guidance {GUIDE}, {len(PROMPTS)} prompts (with negatives): final latents max |diff| "
      f"{(got - ref_lat).abs().max():.3e}, relative L2 {rel:.3e}; reference {t_ref:.1f} s, `surpass txt2img` {t_run:.1f} s")
compare_images(ref_img)  # the decoded pictures, as numpy_to_pil makes them
if not rel <= 1e-4: print("FAIL"); sys.exit(1)
