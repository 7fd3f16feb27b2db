# surpass's T5ForConditionalGeneration against HF's arithmetic, without transformers installed. Random full T5 checkpoints
# (encoder, decoder, lm_head) are written in HF's names and run here by a PyTorch transcription of transformers'
# modeling_t5 (T5Stack encoder and decoder, T5ForConditionalGeneration.forward) and of generation/utils.py's greedy loop:
#   encoder: as tools/parity/hf_t5_parity.py (shared embedding, layer 0's bidirectional relative bias, padded keys masked)
#   decoder: shared[decoder_input_ids] (no scaling); per block T5LayerNorm -> causal self-attention (no 1/sqrt(d); decoder
#   block 0's relative_attention_bias at _relative_position_bucket(key - query, bidirectional=False), shared by every
#   block, + the causal mask) -> residual; T5LayerNorm -> EncDecAttention (q from the decoder, k/v from the encoder output,
#   no position bias, the encoder's padding mask) -> residual; T5LayerNorm -> DenseReluDense -> residual; final_layer_norm;
#   tie_word_embeddings: h * d_model**-0.5 @ shared^T, else h @ lm_head^T.
#   greedy: decoder_input_ids = [[decoder_start_token_id]]; each step argmax of the last logits; a finished row is fed
#   pad_token_id; stop when every row has produced eos or after max_new_tokens.
# Cases: "t5-relu-tied" (original T5: relu, tied head), "flan-gated-gelu" (flan-t5 / t5-v1_1: gated-gelu, untied lm_head,
# 6 heads of 24 so inner 144 != d_model 96, 2 decoder blocks under 3 encoder blocks), "gated-silu-bf16" (bf16 weights
# in sharded safetensors with an index, tied). Each: teacher-forced logits of a ragged batch (inputs 37 / 12 / 1 tokens,
# padded with 0 and masked; 40 decoder positions) through `surpass forward`, against the fp32 transcription and against the
# float64 one (the fp32 floor); then greedy ids of the same batch through `surpass generate --ids`, once with the
# checkpoint's eos and once stopping at a token the first row emits early (so rows finish at different steps), and with
# repetition_penalty 1.3 (RepetitionPenaltyLogitsProcessor over the decoder ids, the start token included), and with
# no_repeat_ngram_size 2 + min_new_tokens 8 (NoRepeatNGramLogitsProcessor, MinNewTokensLengthLogitsProcessor); then beam
# search ids (generation/utils.py's vectorised _beam_search) with 3 beams and HF's defaults, 4 beams / length_penalty 0.6 /
# early_stopping True, 2 beams / length_penalty 2 / early_stopping "never", and 3 beams with repetition_penalty 1.3
# (applied to the log-probabilities, per beam, as _beam_search does), and t5-small's summarization settings (4 beams,
# length_penalty 2, early_stopping True, no_repeat_ngram_size 3, min_new_tokens 10), all with that stop id.
# Run from an empty folder: python3 hf_t5_generate_parity.py
import json, math, os, re, subprocess, sys, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402

SURPASS = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))


def bucket(relative_position, bidirectional, num_buckets, max_distance):
    # HF T5Attention._relative_position_bucket, in its own words
    ret = 0
    if bidirectional:
        num_buckets //= 2
        ret += (relative_position > 0).to(torch.long) * num_buckets
        n = torch.abs(relative_position)
    else:
        n = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return ret + torch.where(n < max_exact, n, large)


def t5ln(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


class Model:
    def __init__(self, w, cfg, dtype):
        self.w = {k: v.to(dtype) for k, v in w.items()}
        self.c = cfg
        self.dtype = dtype
        p = cfg["feed_forward_proj"]
        self.gated = p.startswith("gated-")
        self.act = {"relu": F.relu, "gelu_new": lambda t: F.gelu(t, approximate="tanh"), "gelu": F.gelu, "silu": F.silu}[
            "gelu_new" if p == "gated-gelu" else p.split("-")[-1]]

    def attn(self, x, kv, p, bias, B, H, DKV):
        w = self.w
        q = F.linear(x, w[p + "q.weight"]).view(B, -1, H, DKV).transpose(1, 2)
        k = F.linear(kv, w[p + "k.weight"]).view(B, -1, H, DKV).transpose(1, 2)
        v = F.linear(kv, w[p + "v.weight"]).view(B, -1, H, DKV).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(3, 2)) + bias
        a = torch.softmax(scores.float(), dim=-1).type_as(scores)
        ctx = torch.matmul(a, v).transpose(1, 2).reshape(B, -1, H * DKV)
        return F.linear(ctx, w[p + "o.weight"])

    def ff(self, n, p):
        w = self.w
        if self.gated:
            h = self.act(F.linear(n, w[p + "wi_0.weight"])) * F.linear(n, w[p + "wi_1.weight"])
        else:
            h = self.act(F.linear(n, w[p + "wi.weight"]))
        return F.linear(h, w[p + "wo.weight"])

    def encode(self, ids, mask):
        c, w = self.c, self.w
        B, S = ids.shape
        H, DKV, EPS = c["num_heads"], c["d_kv"], c["layer_norm_epsilon"]
        x = w["shared.weight"][ids]
        rp = torch.arange(S)[None, :] - torch.arange(S)[:, None]
        rel = w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
        minv = torch.finfo(self.dtype).min
        bias = rel[bucket(rp, True, c["relative_attention_num_buckets"], c["relative_attention_max_distance"])].permute(2, 0, 1).unsqueeze(0)
        bias = bias + (1.0 - mask[:, None, None, :].to(self.dtype)) * minv
        for l in range(c["num_layers"]):
            p = f"encoder.block.{l}.layer."
            x = x + self.attn(t5ln(x, w[p + "0.layer_norm.weight"], EPS), t5ln(x, w[p + "0.layer_norm.weight"], EPS), p + "0.SelfAttention.", bias, B, H, DKV)
            x = x + self.ff(t5ln(x, w[p + "1.layer_norm.weight"], EPS), p + "1.DenseReluDense.")
        return t5ln(x, w["encoder.final_layer_norm.weight"], EPS)

    def logits(self, enc, mask, dec_ids):
        c, w = self.c, self.w
        B, T = dec_ids.shape
        H, DKV, EPS, E = c["num_heads"], c["d_kv"], c["layer_norm_epsilon"], c["d_model"]
        minv = torch.finfo(self.dtype).min
        y = w["shared.weight"][dec_ids]
        rp = torch.arange(T)[None, :] - torch.arange(T)[:, None]
        rel = w["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
        sbias = rel[bucket(rp, False, c["relative_attention_num_buckets"], c["relative_attention_max_distance"])].permute(2, 0, 1).unsqueeze(0)
        causal = (torch.arange(T)[None, :] <= torch.arange(T)[:, None]).to(self.dtype)
        sbias = sbias + (1.0 - causal)[None, None] * minv
        cbias = torch.zeros(1, H, T, enc.shape[1], dtype=self.dtype) + (1.0 - mask[:, None, None, :].to(self.dtype)) * minv
        for l in range(c["num_decoder_layers"]):
            p = f"decoder.block.{l}.layer."
            n = t5ln(y, w[p + "0.layer_norm.weight"], EPS)
            y = y + self.attn(n, n, p + "0.SelfAttention.", sbias, B, H, DKV)
            y = y + self.attn(t5ln(y, w[p + "1.layer_norm.weight"], EPS), enc, p + "1.EncDecAttention.", cbias, B, H, DKV)
            y = y + self.ff(t5ln(y, w[p + "2.layer_norm.weight"], EPS), p + "2.DenseReluDense.")
        y = t5ln(y, w["decoder.final_layer_norm.weight"], EPS)
        if c["tie_word_embeddings"]:
            return F.linear(y * (E ** -0.5), w["shared.weight"])
        return F.linear(y, w["lm_head.weight"])

    def greedy(self, ids, mask, max_new, eos, rep=1.0, ngram=0, min_new=0):
        enc = self.encode(ids, mask)
        B = ids.shape[0]
        dec = torch.full((B, 1), self.c["decoder_start_token_id"], dtype=torch.long)
        unfinished = torch.ones(B, dtype=torch.long)
        for _ in range(max_new):
            nxt = torch.argmax(process(dec, self.logits(enc, mask, dec)[:, -1, :], rep, ngram, min_new, eos), dim=-1)
            nxt = nxt * unfinished + self.c["pad_token_id"] * (1 - unfinished)
            dec = torch.cat([dec, nxt[:, None]], dim=-1)
            unfinished = unfinished & (nxt != eos).long()
            if unfinished.max() == 0:
                break
        out = []
        for b in range(B):
            row = dec[b, 1:].tolist()
            out.append(row[:row.index(eos) + 1] if eos in row else row)
        return out


    def beam(self, ids, mask, max_new, eos, nb, lp, early, rep=1.0, ngram=0, min_new=0):
        # generation/utils.py _beam_search (the vectorised one), greedy, one returned sequence, eos a single id
        c = self.c
        B, V, dpl = ids.shape[0], c["vocab_size"], 1
        enc = self.encode(ids, mask).repeat_interleave(nb, 0)
        m = mask.repeat_interleave(nb, 0)
        max_length = dpl + max_new
        running = torch.full((B, nb, max_length), c["pad_token_id"], dtype=torch.long)
        running[:, :, 0] = c["decoder_start_token_id"]
        sequences = running.clone()
        running_scores = torch.zeros(B, nb); running_scores[:, 1:] = -1e9
        beam_scores = torch.full((B, nb), -1e9)
        finished = torch.zeros(B, nb, dtype=torch.bool)
        unsat = torch.ones(B, 1, dtype=torch.bool)
        keep = max(2, 1 + 1) * nb
        top_mask = torch.cat([torch.ones(nb, dtype=torch.bool), torch.zeros(keep - nb, dtype=torch.bool)])
        gather = lambda t, i: torch.take_along_dim(t, i.view(i.shape + (1,) * (t.dim() - 2)), dim=1)
        cur_len = dpl
        while cur_len < max_length:
            logits = self.logits(enc, m, running[:, :, :cur_len].reshape(B * nb, cur_len))[:, -1, :].float()
            scores = process(running[:, :, :cur_len].reshape(B * nb, cur_len), F.log_softmax(logits, dim=-1), rep, ngram, min_new, eos)
            lp_all = (scores.view(B, nb, V) + running_scores[:, :, None]).reshape(B, nb * V)
            topk_lp, topk_idx = torch.topk(lp_all, keep)
            topk_seq = gather(running, topk_idx // V).clone()
            topk_seq[:, :, cur_len] = topk_idx % V
            hits = (topk_seq[:, :, cur_len] == eos) | (cur_len + 1 >= max_length)
            trl = topk_lp + hits.to(torch.float32) * -1.0e9
            nxt = torch.topk(trl, k=nb)[1]
            running, running_scores = gather(topk_seq, nxt), gather(trl, nxt)
            did = hits & top_mask[None, :]
            sc = topk_lp / ((cur_len + 1 - dpl) ** lp)
            sc = sc + (torch.all(finished, dim=-1, keepdim=True) & (early is True)).to(torch.float32) * -1.0e9
            sc = sc + (~unsat).to(torch.float32) * -1.0e9
            sc = sc + (~did) * -1.0e9
            idx = torch.topk(torch.cat((beam_scores, sc), 1), k=nb)[1]
            sequences = gather(torch.cat((sequences, topk_seq), 1), idx)
            beam_scores = gather(torch.cat((beam_scores, sc), 1), idx)
            finished = gather(torch.cat((finished, did), 1), idx)
            cur_len += 1
            hyp = (max_length - dpl) if (early == "never" and lp > 0.0) else (cur_len - dpl)
            best = running_scores[:, :1] / (hyp ** lp)
            worst = torch.where(finished, torch.min(beam_scores, dim=1, keepdim=True)[0].expand(-1, nb), torch.full_like(beam_scores, -1.0e9))
            unsat = unsat & torch.any(best > worst, dim=-1, keepdim=True)
            if not (bool(torch.any(unsat)) and not (bool(torch.all(finished)) and early is True) and not bool(torch.all(hits))):
                break
        out = []
        for b in range(B):
            row = sequences[b, 0, 1:].tolist()
            out.append(row[:row.index(eos) + 1] if eos in row else row)
        return out


def process(input_ids, scores, penalty, ngram, min_new, eos):
    # RepetitionPenaltyLogitsProcessor, NoRepeatNGramLogitsProcessor, MinNewTokensLengthLogitsProcessor (prompt length 1: the
    # decoder start token), in the order generation/utils.py builds them
    if penalty != 1.0:
        score = torch.gather(scores, 1, input_ids)
        score = torch.where(score < 0, score * penalty, score / penalty)
        scores = scores.scatter(1, input_ids, score)
    cur_len = input_ids.shape[-1]
    if ngram > 0 and cur_len + 1 >= ngram:
        scores = scores.clone()
        for h in range(input_ids.shape[0]):
            toks = input_ids[h].tolist(); grams = {}
            for g in zip(*[toks[i:] for i in range(ngram)]): grams[tuple(g[:-1])] = grams.get(tuple(g[:-1]), []) + [g[-1]]
            banned = grams.get(tuple(toks[cur_len + 1 - ngram:cur_len]), [])
            scores[h, banned] = -float("inf")
    if min_new > 0 and cur_len - 1 < min_new:
        scores = scores.clone(); scores[:, eos] = -float("inf")
    return scores


def rel_l2(a, b):
    return ((a - b).double().norm() / b.double().norm()).item()


def run_case(name, proj, heads, n_dec, tied, dtype, shards):
    torch.manual_seed(sum(map(ord, name)))
    E, DKV, FF, NL, V, NB, MD, EPS = 96, 24, 200, 3, 300, 32, 20, 1e-6
    H = heads; INNER = H * DKV
    gated = proj.startswith("gated-")
    w = {"shared.weight": torch.randn(V, E)}

    def block(prefix, attn_names):
        for i, an in enumerate(attn_names):
            for n in ("q", "k", "v"): w[prefix + f"{i}.{an}.{n}.weight"] = torch.randn(INNER, E) / E ** 0.5 * (0.4 if n == "q" else 1.0)
            w[prefix + f"{i}.{an}.o.weight"] = 3 * torch.randn(E, INNER) / INNER ** 0.5  # large enough to move off the input token
            w[prefix + f"{i}.layer_norm.weight"] = 1 + 0.2 * torch.randn(E)
        f = len(attn_names)
        if gated:
            w[prefix + f"{f}.DenseReluDense.wi_0.weight"] = torch.randn(FF, E) / E ** 0.5
            w[prefix + f"{f}.DenseReluDense.wi_1.weight"] = torch.randn(FF, E) / E ** 0.5
        else:
            w[prefix + f"{f}.DenseReluDense.wi.weight"] = torch.randn(FF, E) / E ** 0.5
        w[prefix + f"{f}.DenseReluDense.wo.weight"] = 3 * torch.randn(E, FF) / FF ** 0.5
        w[prefix + f"{f}.layer_norm.weight"] = 1 + 0.2 * torch.randn(E)

    for l in range(NL):
        block(f"encoder.block.{l}.layer.", ["SelfAttention"])
    for l in range(n_dec):
        block(f"decoder.block.{l}.layer.", ["SelfAttention", "EncDecAttention"])
    w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = 2.0 * torch.randn(NB, H)
    w["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = 2.0 * torch.randn(NB, H)
    w["encoder.final_layer_norm.weight"] = 1 + 0.2 * torch.randn(E)
    w["decoder.final_layer_norm.weight"] = 1 + 0.2 * torch.randn(E)
    if not tied:
        w["lm_head.weight"] = torch.randn(V, E) / E ** 0.5 * 4
    if dtype == torch.bfloat16:
        w = {k: v.to(torch.bfloat16).float() for k, v in w.items()}  # the reference runs on the rounded values
    stored = dict(w)
    stored["encoder.embed_tokens.weight"] = w["shared.weight"]  # what T5ForConditionalGeneration saves
    stored["decoder.embed_tokens.weight"] = w["shared.weight"]
    if tied:
        stored["lm_head.weight"] = w["shared.weight"]
    d = os.path.join(name, "ckpt")
    os.makedirs(d, exist_ok=True)
    out_t = {k: v.to(dtype) for k, v in stored.items()}
    if shards > 1:
        keys = list(out_t); per = (len(keys) + shards - 1) // shards; wm = {}
        for s in range(shards):
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {k: out_t[k] for k in keys[s * per:(s + 1) * per]}
            save_safetensors(part, os.path.join(d, fn)); wm.update({k: fn for k in part})
        json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
    else:
        save_safetensors(out_t, os.path.join(d, "model.safetensors"))
    cfg = {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"], "d_model": E, "d_kv": DKV, "d_ff": FF, "num_heads": H,
           "num_layers": NL, "num_decoder_layers": n_dec, "vocab_size": V, "relative_attention_num_buckets": NB,
           "relative_attention_max_distance": MD, "layer_norm_epsilon": EPS, "feed_forward_proj": proj, "pad_token_id": 0,
           "eos_token_id": 1, "decoder_start_token_id": 0, "is_encoder_decoder": True, "tie_word_embeddings": tied}
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))

    lengths = [37, 12, 1]
    B, S, T = len(lengths), max(lengths), 40
    ids = torch.randint(2, V, (B, S)); mask = torch.zeros(B, S, dtype=torch.int64)
    for b, n in enumerate(lengths): mask[b, :n] = 1; ids[b, n:] = 0
    dec = torch.randint(0, V, (B, T)); dec[:, 0] = 0
    inputs = os.path.join(name, "inputs.safetensors")
    save_safetensors({"input_ids": ids, "attention_mask": mask, "decoder_input_ids": dec}, inputs)
    m32, m64 = Model(w, cfg, torch.float32), Model(w, cfg, torch.float64)
    want32 = m32.logits(m32.encode(ids, mask), mask, dec)
    want64 = m64.logits(m64.encode(ids, mask), mask, dec)
    outp = os.path.join(name, "out.safetensors")
    r = subprocess.run([SURPASS, "forward", "--model", d, "--inputs", inputs, "--out", outp], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr); return False
    got = load_safetensors(outp)["logits"]
    ok = got.shape == want32.shape
    e32, r32, r64, floor = (got - want32).abs().max().item(), rel_l2(got, want32), rel_l2(got, want64), rel_l2(want32, want64)
    print(f"T5 {name} ({proj}, {'tied' if tied else 'untied'} head, d_model {E}, {H} heads of {DKV}, d_ff {FF}, {NL}+{n_dec} layers, "
          f"{str(dtype).split('.')[-1]}, {shards} safetensors file(s)), inputs {lengths}, {T} decoder positions: logits vs fp32 torch "
          f"max|d| {e32:.3g} relL2 {r32:.3g}; vs float64 relL2 {r64:.3g} (fp32 torch vs float64: {floor:.3g})")
    ok &= r32 < 1e-5 and r64 < 3 * floor + 1e-6

    # greedy generation: the checkpoint's eos, then a stop id the first row emits at its 5th step
    max_new = 24
    rows = [ids[b, :n].tolist() for b, n in enumerate(lengths)]
    free = m32.greedy(ids, mask, max_new, 1)
    # a stop id the first row emits first at step >= 3 (or its last token), so that rows end at different steps
    stop = next((t for i, t in enumerate(free[0]) if i >= 3 and t not in free[0][:i]), free[0][-1])
    for eos, pen, ng, mn in ((1, 1.0, 0, 0), (stop, 1.0, 0, 0), (stop, 1.3, 0, 0), (stop, 1.0, 2, 8)):
        want = m32.greedy(ids, mask, max_new, eos, pen, ng, mn)
        cmd = [SURPASS, "generate", "--model", d, "--max-new-tokens", str(max_new), "--eos", str(eos), "--repetition-penalty", str(pen),
               "--no-repeat-ngram-size", str(ng), "--min-new-tokens", str(mn)]
        for row in rows: cmd += ["--ids", ",".join(map(str, row))]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr); return False
        got_ids = {}
        for line in r.stdout.splitlines():
            mm = re.match(r"\[(\d+)\] ?(.*)$", line)
            if mm: got_ids[int(mm.group(1))] = [int(t) for t in mm.group(2).split()]
        same = all(got_ids.get(b) == want[b] for b in range(B))
        print(f"  greedy, eos {eos}, repetition_penalty {pen}, no_repeat_ngram_size {ng}, min_new_tokens {mn}, max_new_tokens {max_new}: torch lengths {[len(x) for x in want]} (row 0: {want[0][:8]}...), "
              f"surpass {'identical ids' if same else 'DIFFERENT: ' + str(got_ids) + ' vs ' + str(want)}")
        ok &= same
    # beam search: the stop id above, HF's defaults (length_penalty 1, early_stopping False), then other settings
    for nb, lp, early, pen, ng, mn in ((3, 1.0, False, 1.0, 0, 0), (4, 0.6, True, 1.0, 0, 0), (2, 2.0, "never", 1.0, 0, 0),
                                       (3, 1.0, False, 1.3, 0, 0), (4, 2.0, True, 1.0, 3, 10)):
        want = m32.beam(ids, mask, max_new, stop, nb, lp, early, pen, ng, mn)
        cmd = [SURPASS, "generate", "--model", d, "--max-new-tokens", str(max_new), "--eos", str(stop), "--num-beams", str(nb),
               "--length-penalty", str(lp), "--early-stopping", str(early).lower(), "--repetition-penalty", str(pen),
               "--no-repeat-ngram-size", str(ng), "--min-new-tokens", str(mn)]
        for row in rows: cmd += ["--ids", ",".join(map(str, row))]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr); return False
        got_ids = {}
        for line in r.stdout.splitlines():
            mm = re.match(r"\[(\d+)\] ?(.*)$", line)
            if mm: got_ids[int(mm.group(1))] = [int(t) for t in mm.group(2).split()]
        same = all(got_ids.get(b) == want[b] for b in range(B))
        print(f"  beam search, {nb} beams, length_penalty {lp}, early_stopping {early}, repetition_penalty {pen}, no_repeat_ngram_size {ng}, "
              f"min_new_tokens {mn}, eos {stop}: torch lengths {[len(x) for x in want]} "
              f"(row 0: {want[0][:8]}...), surpass {'identical ids' if same else 'DIFFERENT: ' + str(got_ids) + ' vs ' + str(want)}")
        ok &= same
    return ok


ok = [run_case("t5-relu-tied", "relu", 4, 3, True, torch.float32, 1),
      run_case("flan-gated-gelu", "gated-gelu", 6, 2, False, torch.float32, 1),
      run_case("gated-silu-bf16", "gated-silu", 4, 3, True, torch.bfloat16, 3)]
sys.exit(0 if all(ok) else 1)
