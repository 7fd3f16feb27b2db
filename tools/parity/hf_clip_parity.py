# surpass's CLIP text encoder and tokenizer against transformers' arithmetic, without transformers installed.
#
# Model: random CLIP text encoders are written as HF folders and run by `surpass forward` (family clip); an fp32 PyTorch
# forward that follows transformers' CLIPTextModel / CLIPTextModelWithProjection (token + position embeddings, pre-LN
# layers: layer_norm1, causal self-attention with q/k/v/out_proj biases and scale 1/sqrt(head dim) under an additive
# float32-min causal mask, residual; layer_norm2, fc1, activation, fc2, residual; final_layer_norm; pooled = the row of the
# first eos id, or of the largest id when eos_token_id == 2; text_embeds = pooled @ text_projection.T) gives the reference
# for last_hidden_state, pooler_output, text_embeds, hidden_states[-(clip_skip + 1)] through final_layer_norm (SD 1.x / 2.x
# clip_skip) and the raw hidden_states[-2] (SDXL's conditioning).
# Cases (77 tokens, 3 prompts of different lengths padded as pipelines pad):
#   quick   quick_gelu, hidden 96 = 3 heads of 32 (fused attention), intermediate 200, 3 layers, with projection 64
#   gelu    gelu, hidden 96 = 4 heads of 24 (unfused attention), legacy eos_token_id 2, a pipeline root whose
#           text_encoder/ holds pytorch_model.bin (torch.save), pad id 0 as SD 2.x pads
#   full    a CLIPModel checkpoint: config with text_config, tensors text_model.* + vision_model.* + text_projection
#   both    a CLIPModel with its vision tower (CLIPVisionTransformer: stride-p conv patches, class token, pre_layrnorm, the
#           encoder without a mask, post_layernorm on the class token, visual_projection; image 32, patches of 8, 2 heads of 32)
#           and pixel_values [2, 3, 32, 32]: vision outputs, image_embeds and logits_per_image / logits_per_text
#           (L2-normalised embeddings times exp(logit_scale))
#
# Tokenizer: a plain transcription of transformers' slow CLIPTokenizer without ftfy (BasicTokenizer cleaning, the CLIP
# regex with \p{L} / \p{N} emulated by unicodedata categories, bytes_to_unicode, BPE with "</w>", special tokens cut out
# first) on a synthetic byte-level vocabulary with merges learnt here, over awkward strings, compared id for id with
# dev.surpass.text.ClipTokenizer (SD 1.x-like files, SD 2.x-like files with pad "!", and a tokenizer.json), padded to 77,
# and the decoded text with special tokens skipped.
#
# Run from an empty folder: python3 hf_clip_parity.py   (SURPASS=path/to/surpass, SURPASS_BUILD_DIR as the launcher)
# Exits 1 when a model output has relative L2 > 1e-5 or max |diff| > 1e-4, or when any token id or decoded text differs.
import json, os, subprocess, sys, unicodedata
import torch
import torch.nn.functional as F
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
SURPASS = os.environ.get("SURPASS", os.path.join(HERE, "..", "..", "surpass"))
torch.manual_seed(0)
failed = False


# ------------------------------------------------------------------------------------------------ model
def make_weights(cfg, prefix):
    D, Fi, V, P = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["max_position_embeddings"]
    w = {}
    def lin(name, o, i):
        w[name + ".weight"] = torch.randn(o, i) / i ** 0.5
        w[name + ".bias"] = 0.1 * torch.randn(o)
    def ln(name):
        w[name + ".weight"] = 1 + 0.2 * torch.randn(D)
        w[name + ".bias"] = 0.2 * torch.randn(D)
    w[prefix + "embeddings.token_embedding.weight"] = torch.randn(V, D)
    w[prefix + "embeddings.position_embedding.weight"] = 0.5 * torch.randn(P, D)
    for i in range(cfg["num_hidden_layers"]):
        p = f"{prefix}encoder.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"): lin(p + "self_attn." + n, D, D)
        ln(p + "layer_norm1"); ln(p + "layer_norm2")
        lin(p + "mlp.fc1", Fi, D); lin(p + "mlp.fc2", D, Fi)
    ln(prefix + "final_layer_norm")
    return w


def act(x, name):
    if name == "quick_gelu": return x * torch.sigmoid(1.702 * x)
    if name == "gelu": return F.gelu(x)
    raise ValueError(name)


def encoder(w, prefix, cfg, x, causal):
    """transformers' CLIPEncoder (eager attention): every hidden state, the input first."""
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    d, eps = D // H, cfg.get("layer_norm_eps", 1e-5)
    B, L, _ = x.shape
    g = lambda n: w[prefix + n]
    mask = torch.full((L, L), torch.finfo(torch.float32).min).triu(1) if causal else torch.zeros(L, L)
    hidden = [x]
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layers.{i}."
        lin = lambda t, n: F.linear(t, g(p + n + ".weight"), g(p + n + ".bias"))
        r = x
        h = F.layer_norm(x, (D,), g(p + "layer_norm1.weight"), g(p + "layer_norm1.bias"), eps)
        q = lin(h, "self_attn.q_proj").view(B, L, H, d).transpose(1, 2)
        k = lin(h, "self_attn.k_proj").view(B, L, H, d).transpose(1, 2)
        v = lin(h, "self_attn.v_proj").view(B, L, H, d).transpose(1, 2)
        s = q @ k.transpose(-1, -2) * d ** -0.5 + mask
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, L, D)
        x = r + lin(o, "self_attn.out_proj")
        r = x
        h = F.layer_norm(x, (D,), g(p + "layer_norm2.weight"), g(p + "layer_norm2.bias"), eps)
        x = r + lin(act(lin(h, "mlp.fc1"), cfg["hidden_act"]), "mlp.fc2")
        hidden.append(x)
    return hidden


def clip_text(w, cfg, ids, prefix, proj_name=None):
    """transformers' CLIPTextTransformer.forward, all hidden states kept."""
    D, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-5)
    B, L = ids.shape
    g = lambda n: w[prefix + n]
    x = g("embeddings.token_embedding.weight")[ids] + g("embeddings.position_embedding.weight")[:L]
    hidden = encoder(w, prefix, cfg, x, True)
    fln = lambda t: F.layer_norm(t, (D,), g("final_layer_norm.weight"), g("final_layer_norm.bias"), eps)
    last = fln(hidden[-1])
    eos = cfg["eos_token_id"]
    at = ids.argmax(dim=-1) if eos == 2 else (ids == eos).int().argmax(dim=-1)
    pooled = last[torch.arange(B), at]
    out = {"last_hidden_state": last, "pooler_output": pooled}
    if proj_name: out["text_embeds"] = pooled @ w[proj_name].T
    return out, hidden, fln


def clip_vision(w, cfg, px, prefix="vision_model."):
    """transformers' CLIPVisionTransformer.forward + visual_projection."""
    D, eps, P = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-5), cfg["patch_size"]
    g = lambda n: w[prefix + n]
    pe = F.conv2d(px, g("embeddings.patch_embedding.weight"), stride=P).flatten(2).transpose(1, 2)
    x = torch.cat([g("embeddings.class_embedding").expand(px.shape[0], 1, -1), pe], dim=1) + g("embeddings.position_embedding.weight")
    x = F.layer_norm(x, (D,), g("pre_layrnorm.weight"), g("pre_layrnorm.bias"), eps)
    last = encoder(w, prefix, cfg, x, False)[-1]
    pooled = F.layer_norm(last[:, 0], (D,), g("post_layernorm.weight"), g("post_layernorm.bias"), eps)
    return {"vision_last_hidden_state": last, "vision_pooler_output": pooled, "image_embeds": pooled @ w["visual_projection.weight"].T}


def prompts(V, eos, pad, L=77, lengths=(9, 40, 77)):
    rows = []
    for n in lengths:
        body = torch.randint(0, min(V - 2, 49405), (n - 2,)).tolist()
        row = [V - 2 if V > 49406 else 1] + body + [eos]
        rows.append(row + [pad] * (L - len(row)))
    return torch.tensor(rows, dtype=torch.int64)


def run_model_case(name, folder, model_arg, cfg, w, prefix, proj_name, ids, clip_skip):
    global failed
    save_safetensors({"input_ids": ids, "clip_skip": torch.tensor([clip_skip], dtype=torch.int64),
                      "hidden_state_index": torch.tensor([cfg["num_hidden_layers"] - 1], dtype=torch.int64)}, f"{name}_in.safetensors")
    with torch.no_grad():
        ref, hidden, fln = clip_text(w, cfg, ids, prefix, proj_name)
        ref["hidden_states_clip_skip"] = fln(hidden[-(clip_skip + 1)])
        ref["hidden_state"] = hidden[-2]  # SDXL's penultimate layer, no final norm
    got = compare(name, model_arg, ref)
    if got is not None and proj_name is None and "text_embeds" in got:
        print(f"FAIL {name}: text_embeds without a projection"); failed = True


def compare(name, model_arg, ref):
    """Runs `surpass forward` on {name}_in.safetensors and compares every reference output."""
    global failed
    r = subprocess.run([SURPASS, "forward", "--model", model_arg, "--inputs", f"{name}_in.safetensors", "--out", f"{name}_out.safetensors"],
                       capture_output=True, text=True)
    if r.returncode:
        print(r.stdout, r.stderr); failed = True; return None
    got = load_safetensors(f"{name}_out.safetensors")
    for k, v in ref.items():
        if k not in got:
            print(f"FAIL {name}: output {k} missing"); failed = True; continue
        gk = got[k]
        if gk.shape != v.shape:
            print(f"FAIL {name}: {k} shape {tuple(gk.shape)}, expected {tuple(v.shape)}"); failed = True; continue
        rel = ((gk - v).norm() / v.norm()).item()
        mx = (gk - v).abs().max().item()
        ok = rel <= 1e-5 and mx <= 1e-4
        failed |= not ok
        print(f"{name:6s} {k:24s} {str(tuple(v.shape)):14s} relL2 {rel:.2e}  max|diff| {mx:.2e}  {'ok' if ok else 'FAIL'}")
    return got


def model_cases():
    V = 49408
    # quick: CLIPTextModelWithProjection, fused head dim 32
    cfg = {"architectures": ["CLIPTextModelWithProjection"], "model_type": "clip_text_model", "hidden_size": 96,
           "intermediate_size": 200, "num_hidden_layers": 3, "num_attention_heads": 3, "max_position_embeddings": 77,
           "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "vocab_size": V, "projection_dim": 64,
           "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1}
    w = make_weights(cfg, "text_model.")
    w["text_projection.weight"] = torch.randn(64, 96) / 96 ** 0.5
    os.makedirs("quick", exist_ok=True)
    json.dump(cfg, open("quick/config.json", "w"))
    save_safetensors(w, "quick/model.safetensors")
    run_model_case("quick", "quick", "quick", cfg, w, "text_model.", "text_projection.weight", prompts(V, 49407, 49407), 1)

    # gelu: SD 2.x-like pipeline root, legacy eos 2, unfused head dim 24, weights as pytorch_model.bin
    cfg = {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": 96, "intermediate_size": 200,
           "num_hidden_layers": 3, "num_attention_heads": 4, "max_position_embeddings": 77, "hidden_act": "gelu",
           "layer_norm_eps": 1e-5, "vocab_size": V, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
    w = make_weights(cfg, "text_model.")
    os.makedirs("pipe/text_encoder", exist_ok=True)
    json.dump({"_class_name": "StableDiffusionPipeline"}, open("pipe/model_index.json", "w"))
    json.dump(cfg, open("pipe/text_encoder/config.json", "w"))
    torch.save(w, "pipe/text_encoder/pytorch_model.bin")
    run_model_case("gelu", "pipe", "pipe", cfg, w, "text_model.", None, prompts(V, 49407, 0), 2)

    # full: CLIPModel with text_config (defaults left out as transformers saves them), vision tensors to ignore
    tcfg = {"hidden_size": 64, "intermediate_size": 136, "num_hidden_layers": 2, "num_attention_heads": 2}
    full_cfg = dict(tcfg, hidden_act="quick_gelu", layer_norm_eps=1e-5, vocab_size=V, max_position_embeddings=77, eos_token_id=49407)
    w = make_weights(full_cfg, "text_model.")
    w["text_projection.weight"] = torch.randn(48, 64) / 8
    w["visual_projection.weight"] = torch.randn(48, 32)
    w["vision_model.embeddings.class_embedding"] = torch.randn(32)
    w["logit_scale"] = torch.tensor(2.6592)
    os.makedirs("full", exist_ok=True)
    json.dump({"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 48, "text_config": tcfg,
               "vision_config": {"hidden_size": 32}}, open("full/config.json", "w"))
    save_safetensors(w, "full/model.safetensors")
    run_model_case("full", "full", "full", full_cfg, w, "text_model.", "text_projection.weight", prompts(V, 49407, 49407), 0)

    # both towers: a CLIPModel with a real (random) vision tower, image 32 = 4x4 patches of 8, hidden 64 = 2 heads of 32
    vcfg = {"hidden_size": 64, "intermediate_size": 100, "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 32,
            "patch_size": 8, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}
    vw = make_weights(dict(vcfg, vocab_size=1, max_position_embeddings=1), "vision_model.")
    del vw["vision_model.embeddings.token_embedding.weight"], vw["vision_model.final_layer_norm.weight"], vw["vision_model.final_layer_norm.bias"]
    vw["vision_model.embeddings.position_embedding.weight"] = 0.5 * torch.randn(17, 64)
    vw["vision_model.embeddings.patch_embedding.weight"] = torch.randn(64, 3, 8, 8) / 192 ** 0.5
    vw["vision_model.embeddings.class_embedding"] = torch.randn(64)
    for n in ("pre_layrnorm", "post_layernorm"):
        vw[f"vision_model.{n}.weight"] = 1 + 0.2 * torch.randn(64); vw[f"vision_model.{n}.bias"] = 0.2 * torch.randn(64)
    vw["visual_projection.weight"] = torch.randn(48, 64) / 8
    w = {k: v for k, v in w.items() if not k.startswith("vision_model.") and k != "visual_projection.weight"}
    w.update(vw)
    os.makedirs("both", exist_ok=True)
    json.dump({"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 48, "logit_scale_init_value": 2.6592,
               "text_config": tcfg, "vision_config": {k: v for k, v in vcfg.items() if k not in ("hidden_act", "layer_norm_eps")}},
              open("both/config.json", "w"))
    save_safetensors(w, "both/model.safetensors")
    ids = prompts(V, 49407, 49407)
    px = torch.randn(2, 3, 32, 32)
    save_safetensors({"input_ids": ids, "pixel_values": px}, "both_in.safetensors")
    with torch.no_grad():
        ref, _, _ = clip_text(w, full_cfg, ids, "text_model.", "text_projection.weight")
        ref.update(clip_vision(w, vcfg, px))
        t = ref["text_embeds"] / ref["text_embeds"].norm(dim=-1, keepdim=True)
        i = ref["image_embeds"] / ref["image_embeds"].norm(dim=-1, keepdim=True)
        ref["logits_per_text"] = t @ i.T * w["logit_scale"].exp()
        ref["logits_per_image"] = ref["logits_per_text"].T
    compare("both", "both", ref)


# ------------------------------------------------------------------------------------------------ tokenizer
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENC = bytes_to_unicode()
BYTE_DEC = {v: k for k, v in BYTE_ENC.items()}
is_L = lambda ch: unicodedata.category(ch).startswith("L")
is_N = lambda ch: unicodedata.category(ch).startswith("N")


def basic_clean(text):
    """BERT's BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize joined by spaces."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")): continue
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs": out.append(" ")
        elif (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
              or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F):
            out += [" ", ch, " "]
        else: out.append(ch)
    words = unicodedata.normalize("NFC", "".join(out)).split()
    return " ".join(" ".join(t.lower() for t in words).split())


def clip_findall(text):
    """re.findall of CLIP's pattern (IGNORECASE) with \\p{L} / \\p{N} as unicodedata categories."""
    out, i, low = [], 0, text.lower()
    while i < len(text):
        lit = next((s for s in ("<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d") if low.startswith(s, i)), None)
        if lit:
            out.append(text[i:i + len(lit)]); i += len(lit)
        elif is_L(text[i]):
            j = i
            while j < len(text) and is_L(text[j]): j += 1
            out.append(text[i:j]); i = j
        elif is_N(text[i]):
            out.append(text[i]); i += 1
        elif not text[i].isspace():
            j = i
            while j < len(text) and not (text[j].isspace() or is_L(text[j]) or is_N(text[j])): j += 1
            out.append(text[i:j]); i = j
        else:
            i += 1
    return out


def bpe(token, ranks):
    word = tuple(token[:-1]) + (token[-1] + "</w>",)
    while len(word) > 1:
        pairs = {(a, b) for a, b in zip(word, word[1:])}
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks: break
        new, i = [], 0
        while i < len(word):
            if i < len(word) - 1 and word[i] == best[0] and word[i + 1] == best[1]:
                new.append(best[0] + best[1]); i += 2
            else:
                new.append(word[i]); i += 1
        word = tuple(new)
    return list(word)


class SlowClip:
    def __init__(self, vocab, merges, pad):
        self.vocab, self.inv = vocab, {v: k for k, v in vocab.items()}
        self.ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
        self.specials = sorted({"<|startoftext|>", "<|endoftext|>", pad}, key=len, reverse=True)
        self.bos, self.eos, self.pad = vocab["<|startoftext|>"], vocab["<|endoftext|>"], vocab[pad]

    def _tokenize(self, piece):
        ids = []
        for tok in clip_findall(basic_clean(piece)):
            if tok in ("<|startoftext|>", "<|endoftext|>"): ids.append(self.vocab[tok]); continue
            chars = "".join(BYTE_ENC[b] for b in tok.encode("utf-8"))
            ids += [self.vocab.get(s, self.eos) for s in bpe(chars, self.ranks)]
        return ids

    def encode(self, text):  # the added-token split (leftmost, longest), then _tokenize per piece
        ids, last, i = [], 0, 0
        while i < len(text):
            hit = next((s for s in self.specials if text.startswith(s, i)), None)
            if not hit: i += 1; continue
            if i > last: ids += self._tokenize(text[last:i])
            ids.append(self.vocab[hit]); last = i = i + len(hit)
        if last < len(text): ids += self._tokenize(text[last:])
        return [self.bos] + ids + [self.eos]

    def padded(self, text, n=77):
        ids = self.encode(text)
        if len(ids) > n: ids = ids[:n - 1] + [self.eos]
        return ids + [self.pad] * (n - len(ids))

    def decode(self, ids):  # skip_special_tokens=True, no clean-up of spaces
        toks = [self.inv[i] for i in ids if i not in (self.bos, self.eos, self.pad)]
        return bytearray(BYTE_DEC[c] for c in "".join(toks)).decode("utf-8", errors="replace").replace("</w>", " ").strip()


TEXTS = [
    "a photograph of an astronaut riding a horse",
    "A   Photo\tof\n\nTHE  Eiffel-Tower, 1889!!!",
    "don't you'll we've I'M she'd they're it's 'quoted'",
    "café naïve résumé Ångström ŒUVRE straße",
    "numbers 1234567 and 3.14159, 2nd, 10%",
    "emoji 😀🎉 and family 👩‍💻 sequence",
    "中文字符 mixed with 日本語 and 한국어",
    "<|endoftext|> inside <|startoftext|>text<|endoftext|>end",
    "<|ENDOFTEXT|> upper-case special",
    "hello! ! !! !!! wow!",
    "tabs\tand\u00a0non-breaking\u2003spaces\u2028line sep",
    "zero\u200bwidth and soft\u00adhyphen ctrl\x07bell",
    "  leading and trailing spaces   ",
    "",
    "punctuation ... ?!?! --- ((nested)) [brackets] {braces} @#$%^&*",
    "literal </w> marker and <|notspecial|>",
    " ".join(["long"] * 40) + " prompt that is cut at seventy-seven tokens " + " ".join(str(i) for i in range(50)),
]


def learn_merges(texts, n):
    words = {}
    for t in texts:
        for tok in clip_findall(basic_clean(t)):
            if tok.startswith("<|"): continue
            chars = "".join(BYTE_ENC[b] for b in tok.encode("utf-8"))
            w = tuple(chars[:-1]) + (chars[-1] + "</w>",)
            words[w] = words.get(w, 0) + 1
    merges = []
    for _ in range(n):
        counts = {}
        for w, c in words.items():
            for p in zip(w, w[1:]): counts[p] = counts.get(p, 0) + c
        if not counts: break
        best = max(sorted(counts), key=lambda p: counts[p])
        merges.append(best)
        nw = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and (w[i], w[i + 1]) == best: out.append(w[i] + w[i + 1]); i += 2
                else: out.append(w[i]); i += 1
            nw[tuple(out)] = nw.get(tuple(out), 0) + c
        words = nw
    return [a + " " + b for a, b in merges]


def tokenizer_cases():
    global failed
    corpus = TEXTS + ["the quick brown fox jumps over the lazy dog"] * 5 + ["photograph of a cat, highly detailed, 4k"] * 5
    merges = learn_merges(corpus, 400)
    symbols = list(BYTE_ENC.values())
    vocab_list = symbols + [s + "</w>" for s in symbols] + [m.replace(" ", "") for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {}
    for t in vocab_list: vocab.setdefault(t, len(vocab))
    merges = [m for m in merges]
    for folder, pad in (("tok_sd1", "<|endoftext|>"), ("tok_sd2", "!")):
        os.makedirs(folder, exist_ok=True)
        json.dump(vocab, open(f"{folder}/vocab.json", "w", encoding="utf-8"), ensure_ascii=False)
        with open(f"{folder}/merges.txt", "w", encoding="utf-8") as f: f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
        json.dump({"bos_token": {"content": "<|startoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
                   "eos_token": "<|endoftext|>", "pad_token": pad, "unk_token": "<|endoftext|>", "model_max_length": 77,
                   "tokenizer_class": "CLIPTokenizer", "do_lower_case": True}, open(f"{folder}/tokenizer_config.json", "w"))
        json.dump({"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad, "unk_token": "<|endoftext|>"},
                  open(f"{folder}/special_tokens_map.json", "w"))
    # CLIPTokenizerFast's tokenizer.json (normalizer / pre-tokenizer as the fast tokenizer writes them; ours runs the slow rules)
    added = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": n, "special": True}
             for t, n in (("<|startoftext|>", True), ("<|endoftext|>", False))]
    json.dump({"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
               "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
                                                                   {"type": "Lowercase"}]},
               "post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", vocab["<|endoftext|>"]],
                                  "cls": ["<|startoftext|>", vocab["<|startoftext|>"]], "trim_offsets": False, "add_prefix_space": False},
               "decoder": {"type": "ByteLevel"},
               "model": {"type": "BPE", "dropout": None, "unk_token": "<|endoftext|>", "continuing_subword_prefix": "",
                         "end_of_word_suffix": "</w>", "fuse_unk": False, "vocab": vocab, "merges": merges}},
              open("tokenizer.json", "w", encoding="utf-8"), ensure_ascii=False)
    with open("texts.hex", "w") as f:
        for t in TEXTS: f.write(t.encode("utf-8").hex() + "\n")
    build = os.environ.get("SURPASS_BUILD_DIR", os.path.join(HERE, "..", "..", "target"))
    jar = next(os.path.join(build, n) for n in os.listdir(build) if n.startswith("surpass-") and n.endswith("SNAPSHOT.jar"))
    with open("ClipTok.java", "w") as f:
        f.write("""
import dev.surpass.text.ClipTokenizer;
import dev.surpass.text.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
public class ClipTok {
    public static void main(String[] a) throws Exception {
        ClipTokenizer t = a[0].endsWith(".json") ? (ClipTokenizer) Tokenizer.load(Path.of(a[0])) : ClipTokenizer.load(Path.of(a[0]));
        for (String line : Files.readAllLines(Path.of(a[1]))) {
            String text = new String(HexFormat.of().parseHex(line), StandardCharsets.UTF_8);
            int[] full = t.encode(text), pad = t.encodePadded(text, 77);
            System.out.println(Arrays.toString(full) + "|" + Arrays.toString(pad) + "|"
                    + HexFormat.of().formatHex(t.decode(full, true).getBytes(StandardCharsets.UTF_8)));
        }
    }
}
""")
    java = os.path.join(os.environ.get("JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64"), "bin", "java")
    for where, pad in (("tok_sd1", "<|endoftext|>"), ("tok_sd2", "!"), ("tokenizer.json", "<|endoftext|>")):
        slow = SlowClip(vocab, merges, pad)
        r = subprocess.run([java, "-p", jar + ":" + os.path.join(build, "lib"), "--add-modules", "dev.surpass", "ClipTok.java", where, "texts.hex"],
                           capture_output=True, text=True)
        if r.returncode: print(r.stdout, r.stderr); failed = True; continue
        lines = r.stdout.strip("\n").split("\n")
        bad = 0
        for t, line in zip(TEXTS, lines):
            full, pad_ids, dec = line.split("|")
            want_full, want_pad, want_dec = slow.encode(t), slow.padded(t), slow.decode(slow.encode(t))
            got_full, got_pad = json.loads(full), json.loads(pad_ids)
            got_dec = bytes.fromhex(dec).decode("utf-8")
            if got_full != want_full or got_pad != want_pad or got_dec != want_dec:
                bad += 1
                print(f"  DIFF {where} {t!r}:\n    surpass {got_full} {got_dec!r}\n    slow    {want_full} {want_dec!r}")
        n_ids = sum(len(slow.encode(t)) for t in TEXTS)
        print(f"tokenizer {where:15s} pad {pad!r:16s} {len(TEXTS)} texts, {n_ids} ids, {len(merges)} merges: "
              f"{'all equal (ids, padded ids, decoded text)' if bad == 0 and len(lines) == len(TEXTS) else f'{bad} differ FAIL'}")
        failed |= bad != 0 or len(lines) != len(TEXTS)


model_cases()
tokenizer_cases()
sys.exit(1 if failed else 0)
