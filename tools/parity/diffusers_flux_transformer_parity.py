# surpass's FluxTransformer2DModel against diffusers' arithmetic, without diffusers installed: a random Flux transformer
# is written as a diffusers folder (config.json + diffusion_pytorch_model.safetensors under diffusers' names), run here
# by an fp32 (and float64) PyTorch forward transcribed from diffusers' transformer_flux.py (FluxTransformer2DModel,
# FluxTransformerBlock, FluxSingleTransformerBlock, FluxAttention + FluxAttnProcessor, FluxPosEmbed) / embeddings.py
# (get_1d_rotary_pos_embed use_real + repeat_interleave_real with float64 frequencies, apply_rotary_emb with
# use_real_unbind_dim=-1, CombinedTimestep(Guidance)TextProjEmbeddings, get_timestep_embedding) / normalization.py
# (AdaLayerNormZero, AdaLayerNormZeroSingle, AdaLayerNormContinuous) / attention.py (FeedForward gelu-approximate) —
# and compared with `surpass forward` on the folder (SURPASS=path/to/surpass).
# Configs (first argument):
#   dev     — FLUX.1-dev's conventions: guidance_embeds true (guidance [3.5, 1.25], ×1000 inside the model);
#   schnell — FLUX.1-schnell's: guidance_embeds false, no guidance input.
# All: 3 heads of 128 (D 384) with Flux's axes_dims_rope [16, 56, 56], 2 double + 2 single blocks, in_channels 64
# (out_channels 64), joint_attention_dim 128, pooled_projection_dim 96; packed latents 2×(11·13 = 143)×64 with the
# pipeline's img_ids (0, row, col), S = 61 text tokens with random integer txt_ids in [0, 4)³, timesteps σ = [0.9813, 0.12325].
# BF16=1 stores the weights as bfloat16 (the reference uses the rounded values). ORIGINAL=1 gives surpass the weights in Black
# Forest Labs' single-file layout (flux1-<kind>.safetensors: fused qkv / linear1, norm_out rows (shift, scale)) instead.
# LAYERS=n / SINGLE=n set the block counts.
# Run from an empty folder: python3 diffusers_flux_transformer_parity.py [dev|schnell].
# Exits 1 when max |Δ| > 1e-3 or the relative L2 > 2e-5.
# The transcription (flux_weights, flux_forward) is importable: `from diffusers_flux_transformer_parity import ...`.
import json, math, os, subprocess, sys, time, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402

EPS = 1e-6
F = torch.nn.functional


def flux_weights(heads, hd, layers, single, cin, cout, joint, pool, guidance):
    """Random weights under diffusers' names (torch's global generator), adaLN linears at half gain, qk norms near 1."""
    d = heads * hd
    w = {}
    def lin(p, i, o, gain=1.0): w[p + ".weight"] = torch.randn(o, i) * (gain * i ** -0.5); w[p + ".bias"] = torch.randn(o) * 0.1
    def norm(p): w[p + ".weight"] = 1 + 0.2 * torch.randn(hd)
    lin("x_embedder", cin, d)
    lin("time_text_embed.timestep_embedder.linear_1", 256, d); lin("time_text_embed.timestep_embedder.linear_2", d, d)
    if guidance: lin("time_text_embed.guidance_embedder.linear_1", 256, d); lin("time_text_embed.guidance_embedder.linear_2", d, d)
    lin("time_text_embed.text_embedder.linear_1", pool, d); lin("time_text_embed.text_embedder.linear_2", d, d)
    lin("context_embedder", joint, d)
    for i in range(layers):
        b = f"transformer_blocks.{i}"
        lin(b + ".norm1.linear", d, 6 * d, 0.5); lin(b + ".norm1_context.linear", d, 6 * d, 0.5)
        for n in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0", "to_add_out"): lin(f"{b}.attn.{n}", d, d)
        for n in ("norm_q", "norm_k", "norm_added_q", "norm_added_k"): norm(f"{b}.attn.{n}")
        lin(b + ".ff.net.0.proj", d, 4 * d); lin(b + ".ff.net.2", 4 * d, d)
        lin(b + ".ff_context.net.0.proj", d, 4 * d); lin(b + ".ff_context.net.2", 4 * d, d)
    for i in range(single):
        b = f"single_transformer_blocks.{i}"
        lin(b + ".norm.linear", d, 3 * d, 0.5); lin(b + ".proj_mlp", d, 4 * d); lin(b + ".proj_out", 5 * d, d)
        for n in ("to_q", "to_k", "to_v"): lin(f"{b}.attn.{n}", d, d)
        for n in ("norm_q", "norm_k"): norm(f"{b}.attn.{n}")
    lin("norm_out.linear", d, 2 * d, 0.5); lin("proj_out", d, cout)
    return w


def flux_forward(w, cfg, x, ctx, pooled, timestep, img_ids, txt_ids, guidance=None, exact_exp=False):
    """FluxTransformer2DModel.forward(...).sample, op by op, in the dtype of x (fp32 as diffusers; float64 for the floor:
    then the rotary tables stay float64 instead of diffusers' .float()). exact_exp: the sinusoid frequencies exp(·) rounded
    from float64 instead of torch's fp32 exp (1 ulp apart in 15 of 128; at guidance · 1000 = 3500 a 1-ulp frequency moves
    the phase by ~2e-4 rad, so the guidance embedding is where fp32 implementations part)."""
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    dt = x.dtype
    def lnr(h, p): return F.linear(h, w[p + ".weight"], w.get(p + ".bias"))
    def ln(h): return F.layer_norm(h, (h.shape[-1],), None, None, EPS)
    def rms(h, p):  # torch.nn.RMSNorm(dim_head, eps=1e-6)
        return h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + EPS) * w[p + ".weight"]
    def ff(h, p): return lnr(F.gelu(lnr(h, p + ".net.0.proj"), approximate="tanh"), p + ".net.2")
    def tproj(t):  # Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0): get_timestep_embedding
        half = 128
        exponent = -math.log(10000) * torch.arange(0, half, dtype=torch.float32) / (half - 0)
        freqs = torch.exp(exponent.double()).float() if exact_exp else torch.exp(exponent)
        e = t[:, None].float() * freqs[None, :]
        e = torch.cat([torch.sin(e), torch.cos(e)], dim=-1)
        return torch.cat([e[:, half:], e[:, :half]], dim=-1)
    def temb_mlp(tp, p): return lnr(F.silu(lnr(tp.to(dt), p + ".linear_1")), p + ".linear_2")
    def pos_embed(ids):  # FluxPosEmbed(theta=10000, axes_dim)
        pos = ids.float()
        cos_out, sin_out = [], []
        for i, dim in enumerate(cfg["axes_dims_rope"]):  # get_1d_rotary_pos_embed(use_real, repeat_interleave_real, float64)
            freqs = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
            freqs = torch.outer(pos[:, i].double(), freqs)
            c, s = freqs.cos().repeat_interleave(2, dim=1), freqs.sin().repeat_interleave(2, dim=1)
            cos_out.append(c.float() if dt == torch.float32 else c); sin_out.append(s.float() if dt == torch.float32 else s)
        return torch.cat(cos_out, dim=-1), torch.cat(sin_out, dim=-1)
    def rope(xq, cs):  # apply_rotary_emb(x, (cos, sin), sequence_dim=1), use_real_unbind_dim=-1
        cos, sin = cs[0][None, :, None, :], cs[1][None, :, None, :]
        x_real, x_imag = xq.reshape(*xq.shape[:-1], -1, 2).unbind(-1)
        x_rot = torch.stack([-x_imag, x_real], dim=-1).flatten(3)
        return (xq * cos + x_rot * sin).to(xq.dtype)
    def sdpa(q, k, v):  # [B, S, H, D] → dispatch_attention_fn (SDPA, non-causal, scale 1/√D) → [B, S, H·D]
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        o = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v
        return o.transpose(1, 2).flatten(2, 3)
    def unflat(t): return t.unflatten(-1, (-1, hd))
    def double_block(i, hs, enc, temb, cs):  # FluxTransformerBlock.forward
        b = f"transformer_blocks.{i}"; p = b + ".attn"
        sh, sc, g, shm, scm, gm = lnr(F.silu(temb), b + ".norm1.linear").chunk(6, dim=1)
        csh, csc, cg, cshm, cscm, cgm = lnr(F.silu(temb), b + ".norm1_context.linear").chunk(6, dim=1)
        nh = ln(hs) * (1 + sc[:, None]) + sh[:, None]
        ne = ln(enc) * (1 + csc[:, None]) + csh[:, None]
        q, k, v = rms(unflat(lnr(nh, p + ".to_q")), p + ".norm_q"), rms(unflat(lnr(nh, p + ".to_k")), p + ".norm_k"), unflat(lnr(nh, p + ".to_v"))
        eq, ek = rms(unflat(lnr(ne, p + ".add_q_proj")), p + ".norm_added_q"), rms(unflat(lnr(ne, p + ".add_k_proj")), p + ".norm_added_k")
        ev = unflat(lnr(ne, p + ".add_v_proj"))
        q, k, v = torch.cat([eq, q], dim=1), torch.cat([ek, k], dim=1), torch.cat([ev, v], dim=1)
        o = sdpa(rope(q, cs), rope(k, cs), v)
        eo, o = o.split_with_sizes([enc.shape[1], o.shape[1] - enc.shape[1]], dim=1)
        hs = hs + g.unsqueeze(1) * lnr(o, p + ".to_out.0")
        hs = hs + gm.unsqueeze(1) * ff(ln(hs) * (1 + scm[:, None]) + shm[:, None], b + ".ff")
        enc = enc + cg.unsqueeze(1) * lnr(eo, p + ".to_add_out")
        enc = enc + cgm.unsqueeze(1) * ff(ln(enc) * (1 + cscm[:, None]) + cshm[:, None], b + ".ff_context")
        return enc, hs
    def single_block(i, hs, enc, temb, cs):  # FluxSingleTransformerBlock.forward
        b = f"single_transformer_blocks.{i}"; p = b + ".attn"
        s = enc.shape[1]
        h = torch.cat([enc, hs], dim=1)
        sh, sc, g = lnr(F.silu(temb), b + ".norm.linear").chunk(3, dim=1)
        nh = ln(h) * (1 + sc[:, None]) + sh[:, None]
        mlp = F.gelu(lnr(nh, b + ".proj_mlp"), approximate="tanh")
        q, k, v = rms(unflat(lnr(nh, p + ".to_q")), p + ".norm_q"), rms(unflat(lnr(nh, p + ".to_k")), p + ".norm_k"), unflat(lnr(nh, p + ".to_v"))
        a = sdpa(rope(q, cs), rope(k, cs), v)
        h = h + g.unsqueeze(1) * lnr(torch.cat([a, mlp], dim=2), b + ".proj_out")
        return h[:, :s], h[:, s:]
    hs = lnr(x, "x_embedder")
    timestep = timestep.to(dt) * 1000
    temb = temb_mlp(tproj(timestep), "time_text_embed.timestep_embedder")
    if guidance is not None:
        temb = temb + temb_mlp(tproj(guidance.to(dt) * 1000), "time_text_embed.guidance_embedder")
    temb = temb + lnr(F.silu(lnr(pooled, "time_text_embed.text_embedder.linear_1")), "time_text_embed.text_embedder.linear_2")
    enc = lnr(ctx, "context_embedder")
    cs = pos_embed(torch.cat((txt_ids, img_ids), dim=0))
    for i in range(cfg["num_layers"]): enc, hs = double_block(i, hs, enc, temb, cs)
    for i in range(cfg["num_single_layers"]): enc, hs = single_block(i, hs, enc, temb, cs)
    scale, shift = torch.chunk(lnr(F.silu(temb), "norm_out.linear"), 2, dim=1)  # AdaLayerNormContinuous: scale, shift
    return lnr(ln(hs) * (1 + scale)[:, None, :] + shift[:, None, :], "proj_out")


def to_original(w, d, layers, single):
    """diffusers' names back to Black Forest Labs' single-file layout (the inverse of diffusers'
    convert_flux_transformer_checkpoint_to_diffusers): fused qkv / linear1, norm_out's rows in (shift, scale) order."""
    o = {}
    def ren(a, b):
        for leaf in (".weight", ".bias"): o[b + leaf] = w[a + leaf]
    def fuse(names, b):
        for leaf in (".weight", ".bias"): o[b + leaf] = torch.cat([w[n + leaf] for n in names], dim=0)
    ren("x_embedder", "img_in"); ren("context_embedder", "txt_in")
    ren("time_text_embed.timestep_embedder.linear_1", "time_in.in_layer"); ren("time_text_embed.timestep_embedder.linear_2", "time_in.out_layer")
    if "time_text_embed.guidance_embedder.linear_1.weight" in w:
        ren("time_text_embed.guidance_embedder.linear_1", "guidance_in.in_layer"); ren("time_text_embed.guidance_embedder.linear_2", "guidance_in.out_layer")
    ren("time_text_embed.text_embedder.linear_1", "vector_in.in_layer"); ren("time_text_embed.text_embedder.linear_2", "vector_in.out_layer")
    for i in range(layers):
        b, t = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        ren(b + "norm1.linear", t + "img_mod.lin"); ren(b + "norm1_context.linear", t + "txt_mod.lin")
        fuse([b + "attn.to_q", b + "attn.to_k", b + "attn.to_v"], t + "img_attn.qkv")
        fuse([b + "attn.add_q_proj", b + "attn.add_k_proj", b + "attn.add_v_proj"], t + "txt_attn.qkv")
        for a, c in (("norm_q", "img_attn.norm.query_norm"), ("norm_k", "img_attn.norm.key_norm"), ("norm_added_q", "txt_attn.norm.query_norm"),
                     ("norm_added_k", "txt_attn.norm.key_norm")): o[t + c + ".scale"] = w[b + "attn." + a + ".weight"]
        ren(b + "attn.to_out.0", t + "img_attn.proj"); ren(b + "attn.to_add_out", t + "txt_attn.proj")
        ren(b + "ff.net.0.proj", t + "img_mlp.0"); ren(b + "ff.net.2", t + "img_mlp.2")
        ren(b + "ff_context.net.0.proj", t + "txt_mlp.0"); ren(b + "ff_context.net.2", t + "txt_mlp.2")
    for i in range(single):
        b, t = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        ren(b + "norm.linear", t + "modulation.lin"); ren(b + "proj_out", t + "linear2")
        fuse([b + "attn.to_q", b + "attn.to_k", b + "attn.to_v", b + "proj_mlp"], t + "linear1")
        o[t + "norm.query_norm.scale"] = w[b + "attn.norm_q.weight"]; o[t + "norm.key_norm.scale"] = w[b + "attn.norm_k.weight"]
    ren("proj_out", "final_layer.linear")
    for leaf in (".weight", ".bias"):
        scale, shift = w["norm_out.linear" + leaf].chunk(2, dim=0)
        o["final_layer.adaLN_modulation.1" + leaf] = torch.cat([shift, scale], dim=0)
    return o


def image_ids(h, w):  # FluxPipeline._prepare_latent_image_ids
    ids = torch.zeros(h, w, 3)
    ids[..., 1] = ids[..., 1] + torch.arange(h)[:, None]
    ids[..., 2] = ids[..., 2] + torch.arange(w)[None, :]
    return ids.reshape(h * w, 3)


def main():
    torch.manual_seed(0)
    kind = sys.argv[1] if len(sys.argv) > 1 else "dev"
    if kind not in ("dev", "schnell"): sys.exit("usage: diffusers_flux_transformer_parity.py [dev|schnell]")
    guid = kind == "dev"
    heads, hd, layers, single, cin, joint, pool = 3, 128, 2, 2, 64, 128, 96
    B, GH, GW, S = 2, 11, 13, 61
    layers, single = int(os.environ.get("LAYERS", layers)), int(os.environ.get("SINGLE", single))
    cfg = {"_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.30.0.dev0", "patch_size": 1, "in_channels": cin,
           "out_channels": None, "num_layers": layers, "num_single_layers": single, "attention_head_dim": hd, "num_attention_heads": heads,
           "joint_attention_dim": joint, "pooled_projection_dim": pool, "guidance_embeds": guid, "axes_dims_rope": [16, 56, 56]}
    w = flux_weights(heads, hd, layers, single, cin, cin, joint, pool, guid)
    bf16 = os.environ.get("BF16") == "1"
    if bf16: w = {k: v.bfloat16().float() for k, v in w.items()}
    os.makedirs("transformer", exist_ok=True)
    save_safetensors({k: (v.bfloat16() if bf16 else v) for k, v in w.items()}, "transformer/diffusion_pytorch_model.safetensors")
    json.dump(cfg, open("transformer/config.json", "w"), indent=2)
    original = os.environ.get("ORIGINAL") == "1"
    model = "transformer"
    if original:  # BFL's single file instead of the diffusers folder
        model = f"flux1-{kind}.safetensors"
        save_safetensors({k: (v.bfloat16() if bf16 else v) for k, v in to_original(w, heads * hd, layers, single).items()}, model)
    T = GH * GW
    x = torch.randn(B, T, cin); ctx = torch.randn(B, S, joint); pooled = torch.randn(B, pool)
    ts = torch.tensor([0.9813, 0.12325][:B]); g = torch.tensor([3.5, 1.25][:B]) if guid else None
    img, txt = image_ids(GH, GW), torch.randint(0, 4, (S, 3)).float()
    inputs = {"hidden_states": x, "encoder_hidden_states": ctx, "pooled_projections": pooled, "timestep": ts, "img_ids": img, "txt_ids": txt}
    if guid: inputs["guidance"] = g
    save_safetensors(inputs, "inputs.safetensors")
    with torch.no_grad():
        t0 = time.time()
        ref = flux_forward(w, cfg, x, ctx, pooled, ts, img, txt, g)
        t_ref = time.time() - t0
        w64 = {k: v.double() for k, v in w.items()}  # the same forward in float64: how far fp32 itself is from exact
        ref64 = flux_forward(w64, cfg, x.double(), ctx.double(), pooled.double(), ts.double(), img, txt, None if g is None else g.double())
        floor = ((ref.double() - ref64).norm() / ref64.norm()).item()
        ref_cr = flux_forward(w, cfg, x, ctx, pooled, ts, img, txt, g, exact_exp=True)
    surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
    t0 = time.time()
    r = subprocess.run([surpass, "forward", "--model", model, "--inputs", "inputs.safetensors", "--out", "out.safetensors"],
                       capture_output=True, text=True)
    t_run = time.time() - t0
    if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
    print(r.stderr.strip()[-600:])
    got = load_safetensors("out.safetensors")["sample"]
    if got.shape != ref.shape: print(f"FAIL: shape {tuple(got.shape)}, expected {tuple(ref.shape)}"); sys.exit(1)
    d = (got - ref).abs()
    rel = ((got - ref).norm() / ref.norm()).item()
    rel64 = ((got.double() - ref64).norm() / ref64.norm()).item()
    rel_cr = ((got - ref_cr).norm() / ref_cr.norm()).item()
    rel_tc = ((ref - ref_cr).norm() / ref_cr.norm()).item()
    print(f"{kind}{' BF16' if bf16 else ''}{' ORIGINAL (' + model + ')' if original else ''}: guidance_embeds {guid}, {layers} double + {single} single blocks of "
          f"{heads}x{hd}, latents {B}x{T}x{cin}, S {S}: max |diff| {d.max():.3e}, relative L2 {rel:.3e} (to the fp64 forward: {rel64:.3e}; "
          f"PyTorch fp32's own: {floor:.3e}; to the fp32 forward with correctly rounded sinusoid frequencies: {rel_cr:.3e}, which is "
          f"{rel_tc:.3e} from the plain fp32 one), |ref| max {ref.abs().max():.2f}; PyTorch fp32 forward {t_ref:.1f} s, "
          f"`surpass forward` (JVM start, load, forward) {t_run:.1f} s")
    if not (d.max() <= 1e-3 and rel <= 2e-5): print("FAIL"); sys.exit(1)


if __name__ == "__main__":
    main()
