# surpass's T5 encoder against HF T5EncoderModel's arithmetic, without transformers installed. Random T5 checkpoints are
# written in HF's names and a padded batch (lengths 150 / 40 / 1, padded with pad id 0 and masked) is run here by an fp32
# PyTorch forward transcribed from transformers' modeling_t5 encoder stack: embeddings without scaling; per block
# T5LayerNorm (x * rsqrt(mean(x^2) + eps) * w, no mean, no bias) -> q, k, v (no biases) -> scores = q k^T with NO 1/sqrt(d)
# + position bias (layer 0's relative_attention_bias at _relative_position_bucket(key - query, bidirectional=True,
# num_buckets, max_distance), computed once and reused by every block) + (1 - mask) * float32 min -> softmax -> o ->
# residual; T5LayerNorm -> DenseReluDense (relu: wo(act(wi x)); gated: wo(act(wi_0 x) * wi_1 x)) -> residual;
# final_layer_norm. 32 buckets with max_distance 20 put the 150-token row deep into the log-spaced and the capped buckets.
# Cases: "relu" (a T5EncoderModel file: shared.weight + encoder.*), "gated-gelu" (a full T5ForConditionalGeneration file:
# decoder.*, lm_head and encoder.embed_tokens too; 6 heads of 24, so inner 144 != d_model 96), "gated-silu" (bf16
# weights in sharded safetensors with an index), "gelu-bin" (exact-erf gelu, not gated, a full checkpoint as a
# torch.save pytorch_model.bin). Each is compared with `surpass forward`.
# It also prints torch's bucket boundaries for a few (num_buckets, max_distance), which T5EncoderTest pins.
# Run from an empty folder: python3 hf_t5_parity.py
import json, math, os, subprocess, sys, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402

def bucket(relative_position, num_buckets, max_distance):
    # HF T5Attention._relative_position_bucket with bidirectional=True, in its own words
    num_buckets //= 2
    ret = (relative_position > 0).to(torch.long) * num_buckets
    n = torch.abs(relative_position)
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return ret + torch.where(n < max_exact, n, large)

for nb, md in ((32, 128), (32, 20), (64, 256), (16, 50), (8, 10)):
    r = torch.arange(0, 3001)
    b = bucket(r, nb, md)
    starts = [int(r[i]) for i in range(1, len(r)) if b[i] != b[i - 1]]
    neg = bucket(-r, nb, md)
    assert all(int(b[i]) == int(neg[i]) + nb // 2 for i in range(1, len(r)))  # keys after the query: the upper half
    nstarts = [int(r[i]) for i in range(1, len(r)) if neg[i] != neg[i - 1]]
    print(f"buckets {nb} max_distance {md}: key-after-query bucket changes at distances {starts}; key-before-query at {nstarts}")

def t5ln(x, w, eps):
    var = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))

def run_case(name, proj, heads, dtype, full, shards):
    torch.manual_seed(sum(map(ord, name)))  # a fixed seed per case
    E, DKV, FF, NL, V, NB, MD, EPS = 96, 24, 200, 3, 300, 32, 20, 1e-6
    H = heads; INNER = H * DKV
    gated = proj.startswith("gated-")
    w = {"shared.weight": torch.randn(V, E)}
    rel = 2.0 * torch.randn(NB, H)
    for l in range(NL):
        p = f"encoder.block.{l}.layer."
        for n in ("q", "k", "v"): w[p + f"0.SelfAttention.{n}.weight"] = torch.randn(INNER, E) / E ** 0.5 * (0.4 if n == "q" else 1.0)
        w[p + "0.SelfAttention.o.weight"] = torch.randn(E, INNER) / INNER ** 0.5
        if l == 0: w[p + "0.SelfAttention.relative_attention_bias.weight"] = rel
        w[p + "0.layer_norm.weight"] = 1 + 0.2 * torch.randn(E)
        if gated:
            w[p + "1.DenseReluDense.wi_0.weight"] = torch.randn(FF, E) / E ** 0.5
            w[p + "1.DenseReluDense.wi_1.weight"] = torch.randn(FF, E) / E ** 0.5
        else:
            w[p + "1.DenseReluDense.wi.weight"] = torch.randn(FF, E) / E ** 0.5
        w[p + "1.DenseReluDense.wo.weight"] = torch.randn(E, FF) / FF ** 0.5
        w[p + "1.layer_norm.weight"] = 1 + 0.2 * torch.randn(E)
    w["encoder.final_layer_norm.weight"] = 1 + 0.2 * torch.randn(E)
    if dtype == torch.bfloat16:
        w = {k: v.to(torch.bfloat16).float() for k, v in w.items()}  # the reference runs on the rounded values
    rel = w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    stored = dict(w)
    if full:  # what T5ForConditionalGeneration saves: the decoder, its cross-attention, lm_head (the encoder must ignore them)
        stored["encoder.embed_tokens.weight"] = w["shared.weight"]
        stored["decoder.embed_tokens.weight"] = w["shared.weight"]
        stored["lm_head.weight"] = torch.randn(V, E)
        for l in range(NL):
            p = f"decoder.block.{l}.layer."
            for n in ("q", "k", "v", "o"): stored[p + f"0.SelfAttention.{n}.weight"] = torch.randn(INNER, E) if n != "o" else torch.randn(E, INNER)
            for n in ("q", "k", "v", "o"): stored[p + f"1.EncDecAttention.{n}.weight"] = torch.randn(INNER, E) if n != "o" else torch.randn(E, INNER)
            if l == 0: stored[p + "0.SelfAttention.relative_attention_bias.weight"] = torch.randn(NB, H)
            for i in range(3): stored[p + f"{i}.layer_norm.weight"] = torch.randn(E)
            stored[p + "2.DenseReluDense.wo.weight"] = torch.randn(E, FF)
        stored["decoder.final_layer_norm.weight"] = torch.randn(E)
    d = os.path.join(name, "ckpt")
    os.makedirs(d, exist_ok=True)
    out_t = {k: v.to(dtype) for k, v in stored.items()}
    if shards == 0:  # a PyTorch pickle, as sentence-t5 / GTR-T5 ship theirs
        torch.save(out_t, os.path.join(d, "pytorch_model.bin"))
    elif shards > 1:
        keys = list(out_t); per = (len(keys) + shards - 1) // shards; wm = {}
        for s in range(shards):
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {k: out_t[k] for k in keys[s * per:(s + 1) * per]}
            save_safetensors(part, os.path.join(d, fn)); wm.update({k: fn for k in part})
        json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
    else:
        save_safetensors(out_t, os.path.join(d, "model.safetensors"))
    arch = "T5ForConditionalGeneration" if full else "T5EncoderModel"
    json.dump({"model_type": "t5", "architectures": [arch], "d_model": E, "d_kv": DKV, "d_ff": FF, "num_heads": H, "num_layers": NL,
               "num_decoder_layers": NL, "vocab_size": V, "relative_attention_num_buckets": NB, "relative_attention_max_distance": MD,
               "layer_norm_epsilon": EPS, "feed_forward_proj": proj, "pad_token_id": 0, "eos_token_id": 1, "is_encoder_decoder": True},
              open(os.path.join(d, "config.json"), "w"))
    lengths = [150, 40, 1]
    B, T = len(lengths), max(lengths)
    ids = torch.randint(2, V, (B, T)); mask = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(lengths): mask[b, :n] = 1; ids[b, n:] = 0
    inputs = os.path.join(name, "inputs.safetensors")
    save_safetensors({"input_ids": ids, "attention_mask": mask}, inputs)
    # --- HF T5Stack (encoder), eval mode
    act = {"relu": F.relu, "gelu_new": lambda t: F.gelu(t, approximate="tanh"), "gelu": F.gelu, "silu": F.silu}[
        "gelu_new" if proj == "gated-gelu" else proj.split("-")[-1]]
    x = w["shared.weight"][ids]
    rp = torch.arange(T)[None, :] - torch.arange(T)[:, None]          # memory_position - context_position
    bias = rel[bucket(rp, NB, MD)].permute(2, 0, 1).unsqueeze(0)       # [1, H, T, T]
    ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    position_bias = bias + ext
    for l in range(NL):
        p = f"encoder.block.{l}.layer."
        n = t5ln(x, w[p + "0.layer_norm.weight"], EPS)
        q, k, v = (F.linear(n, w[p + f"0.SelfAttention.{c}.weight"]).view(B, T, H, DKV).transpose(1, 2) for c in ("q", "k", "v"))
        scores = torch.matmul(q, k.transpose(3, 2))
        scores += position_bias
        attn = torch.softmax(scores.float(), dim=-1).type_as(scores)
        ctx = torch.matmul(attn, v).transpose(1, 2).reshape(B, T, INNER)
        x = x + F.linear(ctx, w[p + "0.SelfAttention.o.weight"])
        n = t5ln(x, w[p + "1.layer_norm.weight"], EPS)
        if gated:
            hdn = act(F.linear(n, w[p + "1.DenseReluDense.wi_0.weight"])) * F.linear(n, w[p + "1.DenseReluDense.wi_1.weight"])
        else:
            hdn = act(F.linear(n, w[p + "1.DenseReluDense.wi.weight"]))
        x = x + F.linear(hdn, w[p + "1.DenseReluDense.wo.weight"])
    x = t5ln(x, w["encoder.final_layer_norm.weight"], EPS)
    # --- surpass
    surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
    outp = os.path.join(name, "out.safetensors")
    r = subprocess.run([surpass, "forward", "--model", d, "--inputs", inputs, "--out", outp], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr); return False
    got = load_safetensors(outp)["last_hidden_state"]
    real = mask.bool()
    err = (got - x)[real].abs().max().item(); rel_real = ((got - x)[real].norm() / x[real].norm()).item()
    err_all = (got - x).abs().max().item(); rel_all = ((got - x).norm() / x.norm()).item()
    print(f"T5 {name} ({proj}, d_model {E}, {H} heads of {DKV}, d_ff {FF}, {NL} layers, {NB} buckets / max_distance {MD}, "
          f"{'full seq2seq file' if full else 'encoder-only file'}, {str(dtype).split('.')[-1]}, {'pytorch_model.bin' if shards == 0 else str(shards) + ' safetensors file(s)'}), lengths {lengths}: "
          f"real tokens max|d| {err:.3g}, relL2 {rel_real:.3g}; every row (padded too) max|d| {err_all:.3g}, relL2 {rel_all:.3g}")
    return rel_real < 1e-5 and rel_all < 1e-5

ok = [run_case("relu", "relu", 4, torch.float32, False, 1),
      run_case("gated-gelu", "gated-gelu", 6, torch.float32, True, 1),
      run_case("gated-silu", "gated-silu", 4, torch.bfloat16, False, 2),
      run_case("gelu-bin", "gelu", 4, torch.float32, True, 0)]
sys.exit(0 if all(ok) else 1)
