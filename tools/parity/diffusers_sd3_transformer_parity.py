# surpass's SD3Transformer2DModel against diffusers' arithmetic, without diffusers installed: a random MMDiT is written as
# a diffusers folder (config.json + diffusion_pytorch_model.safetensors under diffusers' names), run here by an fp32 (and
# float64) PyTorch forward transcribed from diffusers' transformer_sd3.py / attention.py (JointTransformerBlock,
# FeedForward gelu-approximate) / attention_processor.py (Attention with added_kv_proj_dim, context_pre_only, qk_norm
# rms_norm; JointAttnProcessor2_0) / normalization.py (AdaLayerNormZero, SD35AdaLayerNormZeroX, AdaLayerNormContinuous,
# RMSNorm) / embeddings.py (PatchEmbed with pos_embed_max_size and cropped_pos_embed, get_2d_sincos_pos_embed,
# CombinedTimestepTextProjEmbeddings) — and compared with `surpass forward` on the folder (SURPASS=path/to/surpass).
# Configs (first argument):
#   sd3    — SD3-medium's conventions: no qk_norm, no dual attention, 3 blocks (the last context_pre_only);
#   sd35l  — SD3.5-large's: qk_norm "rms_norm" on both streams;
#   sd35m  — SD3.5-medium's: qk_norm "rms_norm", dual_attention_layers [0, 1] of 3 (SD35AdaLayerNormZeroX + attn2).
# All: 2 heads of 64 (D 128), in/out channels 16, patch 2, sample_size 32 (base_size 16), pos_embed_max_size 24,
# joint_attention_dim 96, pooled_projection_dim 80; latents 2×16×24×40 (a 12×20 crop of the 24×24 table), S = 77 + 29
# text tokens, timesteps [981.3, 123.25]. NOPOS=1 leaves pos_embed.pos_embed out of the file (surpass then recomputes
# the table, as a non-persistent buffer would be). BF16=1 stores the weights as bfloat16 (the reference uses the
# rounded values). BIG=1: SD3-medium's widths with 2 blocks on 2×16×64×64 latents, S = 333 (a timing). SKIP=1,2 passes skip_layers [1, 2] (SD3.5's skip-layer guidance) to both.
# Run from an empty folder: python3 diffusers_sd3_transformer_parity.py [sd3|sd35l|sd35m].
# Exits 1 when max |Δ| > 1e-3 or the relative L2 > 2e-5.
import json, math, os, subprocess, sys, time, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
KIND = sys.argv[1] if len(sys.argv) > 1 else "sd3"
if KIND not in ("sd3", "sd35l", "sd35m"): sys.exit("usage: diffusers_sd3_transformer_parity.py [sd3|sd35l|sd35m]")
HEADS, HD, LAYERS, IN, OUT, P, SAMPLE, G, J, POOL = 2, 64, 3, 16, 16, 2, 32, 24, 96, 80
QK = "rms_norm" if KIND in ("sd35l", "sd35m") else None
DUAL = [0, 1] if KIND == "sd35m" else []
B, H, W, S = 2, 24, 40, 77 + 29
if os.environ.get("BIG") == "1":  # SD3-medium's widths (24 heads of 64, joint 4096, pooled 2048, table 192², base 64), 2 blocks, 512 px
    HEADS, LAYERS, SAMPLE, G, J, POOL = 24, 2, 128, 192, 4096, 2048
    B, H, W, S = 2, 64, 64, 333
D = HEADS * HD
EPS = 1e-6
w = {}
def rnd(*shape, s=1.0): return s * torch.randn(*shape)
def lin(p, cin, cout, gain=1.0): w[p + ".weight"] = rnd(cout, cin, s=gain * cin ** -0.5); w[p + ".bias"] = rnd(cout, s=0.1)

# get_2d_sincos_pos_embed(D, G, base_size=SAMPLE // P, interpolation_scale=1, output_type="pt"), then .float()
def sincos_1d(e, pos):
    omega = torch.arange(e // 2, dtype=torch.float64)
    omega /= e / 2.0
    omega = 1.0 / 10000 ** omega
    out = torch.outer(pos.reshape(-1), omega)
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)
def pos_table(dim, grid, base):
    gh = torch.arange(grid, dtype=torch.float32) / (grid / base) / 1.0
    gw = torch.arange(grid, dtype=torch.float32) / (grid / base) / 1.0
    g = torch.stack(torch.meshgrid(gw, gh, indexing="xy"), dim=0).reshape([2, 1, grid, grid])
    return torch.cat([sincos_1d(dim // 2, g[0]), sincos_1d(dim // 2, g[1])], dim=1).float().unsqueeze(0)

w["pos_embed.proj.weight"] = rnd(D, IN, P, P, s=(IN * P * P) ** -0.5); w["pos_embed.proj.bias"] = rnd(D, s=0.1)
POS = pos_table(D, G, SAMPLE // P)
lin("time_text_embed.timestep_embedder.linear_1", 256, D); lin("time_text_embed.timestep_embedder.linear_2", D, D)
lin("time_text_embed.text_embedder.linear_1", POOL, D); lin("time_text_embed.text_embedder.linear_2", D, D)
lin("context_embedder", J, D)
for i in range(LAYERS):
    b = f"transformer_blocks.{i}"
    pre, dual = i == LAYERS - 1, i in DUAL
    lin(b + ".norm1.linear", D, (9 if dual else 6) * D, 0.5)
    lin(b + ".norm1_context.linear", D, (2 if pre else 6) * D, 0.5)
    for n in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj", "to_out.0"): lin(f"{b}.attn.{n}", D, D)
    if not pre: lin(b + ".attn.to_add_out", D, D)
    if QK:
        for n in ("norm_q", "norm_k", "norm_added_q", "norm_added_k"): w[f"{b}.attn.{n}.weight"] = 1 + rnd(HD, s=0.2)
    if dual:
        for n in ("to_q", "to_k", "to_v", "to_out.0"): lin(f"{b}.attn2.{n}", D, D)
        if QK:
            for n in ("norm_q", "norm_k"): w[f"{b}.attn2.{n}.weight"] = 1 + rnd(HD, s=0.2)
    lin(b + ".ff.net.0.proj", D, 4 * D); lin(b + ".ff.net.2", 4 * D, D)
    if not pre: lin(b + ".ff_context.net.0.proj", D, 4 * D); lin(b + ".ff_context.net.2", 4 * D, D)
lin("norm_out.linear", D, 2 * D, 0.5); lin("proj_out", D, P * P * OUT)
if os.environ.get("BF16") == "1": w = {k: v.bfloat16().float() for k, v in w.items()}
os.makedirs("transformer", exist_ok=True)
stored = dict(w)
if os.environ.get("NOPOS") != "1": stored["pos_embed.pos_embed"] = POS
save_safetensors({k: (v.bfloat16() if os.environ.get("BF16") == "1" and k != "pos_embed.pos_embed" else v) for k, v in stored.items()},
                 "transformer/diffusion_pytorch_model.safetensors")
cfg = {"_class_name": "SD3Transformer2DModel", "_diffusers_version": "0.31.0", "sample_size": SAMPLE, "patch_size": P,
       "in_channels": IN, "num_layers": LAYERS, "attention_head_dim": HD, "num_attention_heads": HEADS, "joint_attention_dim": J,
       "caption_projection_dim": D, "pooled_projection_dim": POOL, "out_channels": OUT, "pos_embed_max_size": G,
       "dual_attention_layers": DUAL, "qk_norm": QK}
json.dump(cfg, open("transformer/config.json", "w"), indent=2)
x = torch.randn(B, IN, H, W); ts = torch.tensor([981.3, 123.25]); ctx = torch.randn(B, S, J); pooled = torch.randn(B, POOL)
SKIP = [int(i) for i in os.environ["SKIP"].split(",")] if os.environ.get("SKIP") else []
inputs = {"hidden_states": x, "timestep": ts, "encoder_hidden_states": ctx, "pooled_projections": pooled}
if SKIP: inputs["skip_layers"] = torch.tensor(SKIP, dtype=torch.int64)
save_safetensors(inputs, "inputs.safetensors")

# --- diffusers' forward, op by op
def lnr(h, p): return torch.nn.functional.linear(h, w[p + ".weight"], w[p + ".bias"])
def ln(h): return torch.nn.functional.layer_norm(h, (h.shape[-1],), None, None, EPS)
def rms(h, p):  # normalization.RMSNorm (fp32 variance)
    var = h.to(torch.float32).pow(2).mean(-1, keepdim=True) if h.dtype == torch.float32 else h.pow(2).mean(-1, keepdim=True)
    return h * torch.rsqrt(var + EPS) * w[p + ".weight"]
def timestep_embedding(t, dim=256, flip=True, shift=0, max_period=10000):  # get_timestep_embedding
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / (half - shift)
    e = t[:, None].float() * torch.exp(exponent)[None, :]
    e = torch.cat([torch.sin(e), torch.cos(e)], dim=-1)
    if flip: e = torch.cat([e[:, half:], e[:, :half]], dim=-1)
    return e
def ff(h, p): return lnr(torch.nn.functional.gelu(lnr(h, p + ".net.0.proj"), approximate="tanh"), p + ".net.2")
def sdpa(q, k, v):  # F.scaled_dot_product_attention, non-causal, scale 1/sqrt(head_dim)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v
def joint_attn(hs, enc, p, pre):  # JointAttnProcessor2_0
    Bn, L, _ = hs.shape
    def heads(t): return t.view(Bn, -1, HEADS, HD).transpose(1, 2)
    q, k, v = heads(lnr(hs, p + ".to_q")), heads(lnr(hs, p + ".to_k")), heads(lnr(hs, p + ".to_v"))
    if QK: q, k = rms(q, p + ".norm_q"), rms(k, p + ".norm_k")
    if enc is not None:
        cq, ck, cv = heads(lnr(enc, p + ".add_q_proj")), heads(lnr(enc, p + ".add_k_proj")), heads(lnr(enc, p + ".add_v_proj"))
        if QK: cq, ck = rms(cq, p + ".norm_added_q"), rms(ck, p + ".norm_added_k")
        q, k, v = torch.cat([q, cq], dim=2), torch.cat([k, ck], dim=2), torch.cat([v, cv], dim=2)
    o = sdpa(q, k, v).transpose(1, 2).reshape(Bn, -1, HEADS * HD)
    if enc is None: return lnr(o, p + ".to_out.0")
    o, oc = o[:, :L], o[:, L:]
    if not pre: oc = lnr(oc, p + ".to_add_out")
    return lnr(o, p + ".to_out.0"), oc
def block(i, hs, enc, temb):  # JointTransformerBlock.forward
    b = f"transformer_blocks.{i}"
    pre, dual = i == LAYERS - 1, i in DUAL
    emb = lnr(torch.nn.functional.silu(temb), b + ".norm1.linear")
    if dual:  # SD35AdaLayerNormZeroX
        sh, sc, g, shm, scm, gm, sh2, sc2, g2 = emb.chunk(9, dim=1)
        nh = ln(hs); norm_hs = nh * (1 + sc[:, None]) + sh[:, None]; norm_hs2 = nh * (1 + sc2[:, None]) + sh2[:, None]
    else:  # AdaLayerNormZero
        sh, sc, g, shm, scm, gm = emb.chunk(6, dim=1)
        norm_hs = ln(hs) * (1 + sc[:, None]) + sh[:, None]
    cemb = lnr(torch.nn.functional.silu(temb), b + ".norm1_context.linear")
    if pre:  # AdaLayerNormContinuous: scale, shift
        cscale, cshift = torch.chunk(cemb, 2, dim=1)
        norm_enc = ln(enc) * (1 + cscale)[:, None, :] + cshift[:, None, :]
    else:
        csh, csc, cg, cshm, cscm, cgm = cemb.chunk(6, dim=1)
        norm_enc = ln(enc) * (1 + csc[:, None]) + csh[:, None]
    a, ca = joint_attn(norm_hs, norm_enc, b + ".attn", pre)
    hs = hs + g.unsqueeze(1) * a
    if dual: hs = hs + g2.unsqueeze(1) * joint_attn(norm_hs2, None, b + ".attn2", pre)
    hs = hs + gm.unsqueeze(1) * ff(ln(hs) * (1 + scm[:, None]) + shm[:, None], b + ".ff")
    if pre: return None, hs
    enc = enc + cg.unsqueeze(1) * ca
    enc = enc + cgm.unsqueeze(1) * ff(ln(enc) * (1 + cscm[:, None]) + cshm[:, None], b + ".ff_context")
    return enc, hs
def transformer(x, ts, ctx, pooled, pos):
    Bn, _, Hh, Ww = x.shape
    h = torch.nn.functional.conv2d(x, w["pos_embed.proj.weight"], w["pos_embed.proj.bias"], stride=P).flatten(2).transpose(1, 2)
    hp, wp = Hh // P, Ww // P; top, left = (G - hp) // 2, (G - wp) // 2  # PatchEmbed.cropped_pos_embed
    h = h + pos.reshape(1, G, G, -1)[:, top:top + hp, left:left + wp, :].reshape(1, -1, D)
    tp = timestep_embedding(ts).to(pooled.dtype)
    temb = lnr(torch.nn.functional.silu(lnr(tp, "time_text_embed.timestep_embedder.linear_1")), "time_text_embed.timestep_embedder.linear_2")
    temb = temb + lnr(torch.nn.functional.silu(lnr(pooled, "time_text_embed.text_embedder.linear_1")), "time_text_embed.text_embedder.linear_2")
    enc = lnr(ctx, "context_embedder")
    for i in range(LAYERS):
        if i not in SKIP: enc, h = block(i, h, enc, temb)  # skip_layers: the block is not run
    scale, shift = torch.chunk(lnr(torch.nn.functional.silu(temb), "norm_out.linear"), 2, dim=1)
    h = lnr(ln(h) * (1 + scale)[:, None, :] + shift[:, None, :], "proj_out")
    h = h.reshape(Bn, hp, wp, P, P, OUT)
    return torch.einsum("nhwpqc->nchpwq", h).reshape(Bn, OUT, hp * P, wp * P)
with torch.no_grad():
    t0 = time.time()
    ref = transformer(x, ts, ctx, pooled, POS)
    t_ref = time.time() - t0
    w32 = w
    w = {k: v.double() for k, v in w32.items()}  # the same forward in float64: how far fp32 itself is from exact
    ref64 = transformer(x.double(), ts, ctx.double(), pooled.double(), POS.double())
    w = w32
    floor = ((ref.double() - ref64).norm() / ref64.norm()).item()
# --- surpass
surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
t0 = time.time()
r = subprocess.run([surpass, "forward", "--model", "transformer", "--inputs", "inputs.safetensors", "--out", "out.safetensors"],
                   capture_output=True, text=True)
t_run = time.time() - t0
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
print(r.stderr.strip()[-600:])
got = load_safetensors("out.safetensors")["sample"]
if got.shape != ref.shape: print(f"FAIL: shape {tuple(got.shape)}, expected {tuple(ref.shape)}"); sys.exit(1)
d = (got - ref).abs()
rel = ((got - ref).norm() / ref.norm()).item()
rel64 = ((got.double() - ref64).norm() / ref64.norm()).item()
print(f"{KIND}{' NOPOS' if os.environ.get('NOPOS') == '1' else ''}{' BF16' if os.environ.get('BF16') == '1' else ''}{f' skip {SKIP}' if SKIP else ''}: "
      f"qk_norm {QK}, dual {DUAL}, {LAYERS} blocks of {HEADS}x{HD}{' (DUAL ' + str(DUAL) + ')' if DUAL else ''}, latents {B}x{IN}x{H}x{W}, S {S}: "
      f"max |diff| {d.max():.3e}, relative L2 {rel:.3e} (to the fp64 forward: {rel64:.3e}; PyTorch fp32's own: {floor:.3e}), "
      f"|ref| max {ref.abs().max():.2f}; PyTorch fp32 forward {t_ref:.1f} s, `surpass forward` (JVM start, load, forward) {t_run:.1f} s")
if not (d.max() <= 1e-3 and rel <= 2e-5): print("FAIL"); sys.exit(1)
