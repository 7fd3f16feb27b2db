# The pieces the tiny Stable Diffusion parity pipelines (diffusers_sd_parity.py, diffusers_sdxl_parity.py,
# diffusers_sd3_parity.py, diffusers_flux_parity.py) share: a byte-level CLIP BPE over a handful of words and its tokenizer/
# folder; random weights in diffusers / transformers key naming (drawn from torch's global generator, so a script that calls
# these in a fixed order gets the same draws every run); CLIPTextModel's forward and its text_encoder/ folder; a T5
# encoder with a WordPiece tokenizer (its weights, folder and forward); the AutoencoderKL
# decoder (and encoder) weights, config and forward; the UNet's resnet / attention / transformer pieces; the SD 1.x /
# SDXL beta schedule; surpass's Philox normals; running `surpass` and comparing its output. Imported from the scripts'
# own folder (they put it on sys.path).
import json, math, os, re, subprocess, sys, time, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402,F401

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------------------------- CLIP tokenizer
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class ClipBpe:
    """A byte-level CLIP BPE whose vocabulary is the 256 byte symbols (bare and with "</w>"), the merges that spell each
    of `words` left to right, then <|startoftext|> and <|endoftext|>."""

    def __init__(self, words):
        self.b2u = bytes_to_unicode()
        base = list(self.b2u.values())
        vocab_list = base + [c + "</w>" for c in base]
        self.merges = []
        for word in words:
            syms = list(word[:-1]) + [word[-1] + "</w>"]
            while len(syms) > 1:  # merge left to right: a fixed, complete merge list for the word
                a, b = syms[0], syms[1]
                if (a, b) not in self.merges:
                    self.merges.append((a, b))
                    if a + b not in vocab_list: vocab_list.append(a + b)
                syms = [a + b] + syms[2:]
        vocab_list += ["<|startoftext|>", "<|endoftext|>"]
        self.vocab = {t: i for i, t in enumerate(vocab_list)}
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.BOS, self.EOS = self.vocab["<|startoftext|>"], self.vocab["<|endoftext|>"]
        self.PAD2 = self.vocab["!"]  # SDXL's and SD3's tokenizer_2 pad with "!"
        self.size = len(self.vocab)

    def bpe(self, token):
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = [(word[i], word[i + 1]) for i in range(len(word) - 1)]
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks: break
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1]); i += 2
                else:
                    out.append(word[i]); i += 1
            word = tuple(out)
        return word

    def tokenize(self, text, pad=None, length=77):
        """[BOS] + BPE ids (cut to length − 2) + [EOS], padded to length with pad (default <|endoftext|>, SD 1.x's)."""
        pad = self.EOS if pad is None else pad
        # transformers splits every special token out of the text before the BPE — the pad token too, so with
        # tokenizer_2's pad "!" a "!" in a prompt is the bare "!" token, not BPE's "!</w>"
        ids = []
        for piece in (re.split(r"(!)", text) if pad == self.PAD2 else [text]):
            if piece == "!" and pad == self.PAD2: ids.append(self.PAD2); continue
            piece = re.sub(r"\s+", " ", piece).strip().lower()
            for tok in re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", piece):  # CLIP's pattern, restricted to ASCII prompts
                u = "".join(self.b2u[b] for b in tok.encode("utf-8"))
                ids += [self.vocab[p] for p in self.bpe(u)]
        ids = [self.BOS] + ids[:length - 2] + [self.EOS]
        return ids + [pad] * (length - len(ids))

    def write(self, folder, pad_token="<|endoftext|>"):
        """A CLIPTokenizer folder: vocab.json, merges.txt, special_tokens_map.json, tokenizer_config.json."""
        os.makedirs(folder, exist_ok=True)
        json.dump(self.vocab, open(f"{folder}/vocab.json", "w"), ensure_ascii=False)
        with open(f"{folder}/merges.txt", "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            for a, b in self.merges: f.write(f"{a} {b}\n")
        json.dump({"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad_token, "unk_token": "<|endoftext|>"},
                  open(f"{folder}/special_tokens_map.json", "w"))
        json.dump({"model_max_length": 77, "do_lower_case": True, "tokenizer_class": "CLIPTokenizer"}, open(f"{folder}/tokenizer_config.json", "w"))


# ---------------------------------------------------------------------------------------------- random weights
W = {}  # the weights being drawn; take() hands them over and starts a new set
def take():
    out = dict(W); W.clear(); return out
def lin(p, i, o, bias=True, gain=1.0):
    W[p + ".weight"] = gain * torch.randn(o, i) / i ** 0.5
    if bias: W[p + ".bias"] = 0.1 * torch.randn(o)
def ln(p, c):
    W[p + ".weight"] = 1 + 0.2 * torch.randn(c); W[p + ".bias"] = 0.2 * torch.randn(c)
def conv(p, i, o, k):
    W[p + ".weight"] = torch.randn(o, i, k, k) / (i * k * k) ** 0.5; W[p + ".bias"] = 0.1 * torch.randn(o)


# ---------------------------------------------------------------------------------------------- CLIP text encoder
def clip_weights(vocab, td, tl, ti, proj=0):
    """CLIPTextModel (proj 0) or CLIPTextModelWithProjection weights, width td, tl layers, MLP ti."""
    W["text_model.embeddings.token_embedding.weight"] = torch.randn(vocab, td) * 0.5
    W["text_model.embeddings.position_embedding.weight"] = torch.randn(77, td) * 0.2
    for l in range(tl):
        p = f"text_model.encoder.layers.{l}"
        ln(p + ".layer_norm1", td); ln(p + ".layer_norm2", td)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"): lin(f"{p}.self_attn.{n}", td, td)
        lin(p + ".mlp.fc1", td, ti); lin(p + ".mlp.fc2", ti, td)
    ln("text_model.final_layer_norm", td)
    if proj: lin("text_projection", td, proj, False)
    return take()


def write_clip(folder, w, arch, vocab, td, tl, ti, heads, act, proj):
    os.makedirs(folder, exist_ok=True)
    json.dump({"architectures": [arch], "model_type": "clip_text_model", "hidden_size": td, "intermediate_size": ti,
               "num_hidden_layers": tl, "num_attention_heads": heads, "max_position_embeddings": 77, "hidden_act": act,
               "layer_norm_eps": 1e-5, "vocab_size": vocab, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
               "projection_dim": proj}, open(f"{folder}/config.json", "w"))
    save_safetensors(w, f"{folder}/model.safetensors")


def layer_norm(x, w, p, eps=1e-5): return F.layer_norm(x, x.shape[-1:], w[p + ".weight"], w[p + ".bias"], eps)
def linear(x, w, p): return F.linear(x, w[p + ".weight"], w.get(p + ".bias"))


def clip(ids, w, td, tl, heads, quick):
    """CLIPTextModel on ids (causal) → (hidden_states: embeddings, then each layer's output; the final-LN output).
    quick: quick_gelu (x·σ(1.702x)), else exact gelu."""
    x = w["text_model.embeddings.token_embedding.weight"][ids] + w["text_model.embeddings.position_embedding.weight"][:ids.shape[1]]
    L = ids.shape[1]; hs = [x]
    mask = torch.full((L, L), float("-inf")).triu(1)
    for l in range(tl):
        p = f"text_model.encoder.layers.{l}"
        h = layer_norm(x, w, p + ".layer_norm1")
        q, k, v = (linear(h, w, f"{p}.self_attn.{n}").view(ids.shape[0], L, heads, -1).transpose(1, 2) for n in ("q_proj", "k_proj", "v_proj"))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(td // heads) + mask, -1) @ v
        x = x + linear(a.transpose(1, 2).reshape(ids.shape[0], L, td), w, p + ".self_attn.out_proj")
        h = linear(layer_norm(x, w, p + ".layer_norm2"), w, p + ".mlp.fc1")
        x = x + linear(h * torch.sigmoid(1.702 * h) if quick else F.gelu(h), w, p + ".mlp.fc2")
        hs.append(x)
    return hs, layer_norm(x, w, "text_model.final_layer_norm")


# ---------------------------------------------------------------------------------------------- UNet pieces
def c2d(x, w, p, pad=1, stride=1): return F.conv2d(x, w[p + ".weight"], w[p + ".bias"], padding=pad, stride=stride)
def gn(x, w, p, eps, groups): return F.group_norm(x, groups, w[p + ".weight"], w[p + ".bias"], eps=eps)


def timestep_embedding(t, dim):  # get_timestep_embedding, flip_sin_to_cos, shift 0
    half = dim // 2
    e = t[:, None].float() * torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)[None]
    return torch.cat([torch.cos(e), torch.sin(e)], -1)


def resnet_weights(p, i, o, temb):  # ResnetBlock2D with a time embedding of width temb
    ln(p + ".norm1", i); conv(p + ".conv1", i, o, 3); lin(p + ".time_emb_proj", temb, o); ln(p + ".norm2", o); conv(p + ".conv2", o, o, 3)
    if i != o: conv(p + ".conv_shortcut", i, o, 1)


def transformer_weights(p, c, cross, blocks=1, linear_proj=False):  # Transformer2DModel: proj_in / out, BasicTransformerBlocks
    if linear_proj: ln(p + ".norm", c); lin(p + ".proj_in", c, c); lin(p + ".proj_out", c, c)
    else: ln(p + ".norm", c); conv(p + ".proj_in", c, c, 1); conv(p + ".proj_out", c, c, 1)
    for bi in range(blocks):
        b = f"{p}.transformer_blocks.{bi}"
        for k in (1, 2, 3): ln(f"{b}.norm{k}", c)
        for a, kv in (("attn1", c), ("attn2", cross)):
            lin(f"{b}.{a}.to_q", c, c, False); lin(f"{b}.{a}.to_k", kv, c, False); lin(f"{b}.{a}.to_v", kv, c, False); lin(f"{b}.{a}.to_out.0", c, c)
        lin(b + ".ff.net.0.proj", c, 8 * c); lin(b + ".ff.net.2", 4 * c, c)


def u_res(x, w, p, temb, groups):
    h = c2d(F.silu(gn(x, w, p + ".norm1", 1e-5, groups)), w, p + ".conv1")
    h = h + linear(F.silu(temb), w, p + ".time_emb_proj")[:, :, None, None]
    h = c2d(F.silu(gn(h, w, p + ".norm2", 1e-5, groups)), w, p + ".conv2")
    if p + ".conv_shortcut.weight" in w: x = c2d(x, w, p + ".conv_shortcut", 0)
    return x + h


def attention(x, ctx, w, p, heads):
    q, k, v = linear(x, w, p + ".to_q"), linear(ctx, w, p + ".to_k"), linear(ctx, w, p + ".to_v")
    B, N, C = q.shape; d = C // heads
    q, k, v = (t.view(B, -1, heads, d).transpose(1, 2) for t in (q, k, v))
    return linear((torch.softmax(q @ k.transpose(-1, -2) * d ** -0.5, -1) @ v).transpose(1, 2).reshape(B, N, C), w, p + ".to_out.0")


def u_transformer(x, w, p, ctx, heads, groups, blocks=1, linear_proj=False):
    B, C, H, Wd = x.shape; r = x
    if linear_proj: h = linear(gn(x, w, p + ".norm", 1e-6, groups).permute(0, 2, 3, 1).reshape(B, H * Wd, C), w, p + ".proj_in")
    else: h = c2d(gn(x, w, p + ".norm", 1e-6, groups), w, p + ".proj_in", 0).permute(0, 2, 3, 1).reshape(B, H * Wd, C)
    for bi in range(blocks):
        b = f"{p}.transformer_blocks.{bi}"
        n1 = layer_norm(h, w, b + ".norm1"); h = attention(n1, n1, w, b + ".attn1", heads) + h
        h = attention(layer_norm(h, w, b + ".norm2"), ctx, w, b + ".attn2", heads) + h
        hid, gate = linear(layer_norm(h, w, b + ".norm3"), w, b + ".ff.net.0.proj").chunk(2, -1)
        h = linear(hid * F.gelu(gate), w, b + ".ff.net.2") + h
    if linear_proj: return linear(h, w, p + ".proj_out").reshape(B, H, Wd, C).permute(0, 3, 1, 2) + r
    return c2d(h.reshape(B, H, Wd, C).permute(0, 3, 1, 2), w, p + ".proj_out", 0) + r


# ---------------------------------------------------------------------------------------------- AutoencoderKL
VBOC, VLPB = [16, 16, 32, 32], 1  # 4 levels (×8), 1 layer per block, 8 groups


def _vres(p, i, o):
    ln(p + ".norm1", i); conv(p + ".conv1", i, o, 3); ln(p + ".norm2", o); conv(p + ".conv2", o, o, 3)
    if i != o: conv(p + ".conv_shortcut", i, o, 1)


def _vmid(p, top):
    _vres(p + ".resnets.0", top, top); _vres(p + ".resnets.1", top, top)
    ln(p + ".attentions.0.group_norm", top)
    for n in ("to_q", "to_k", "to_v", "to_out.0"): lin(p + ".attentions.0." + n, top, top)


def vae_weights(lat, quant_convs=True, encoder=False):
    """The decoder (with post_quant_conv when quant_convs), then, when encoder, the encoder (with quant_conv)."""
    top = VBOC[-1]
    if quant_convs: conv("post_quant_conv", lat, lat, 1)
    conv("decoder.conv_in", lat, top, 3)
    _vmid("decoder.mid_block", top)
    prev = top
    for i, ch in enumerate(reversed(VBOC)):
        for j in range(VLPB + 1): _vres(f"decoder.up_blocks.{i}.resnets.{j}", prev if j == 0 else ch, ch)
        if i < len(VBOC) - 1: conv(f"decoder.up_blocks.{i}.upsamplers.0.conv", ch, ch, 3)
        prev = ch
    ln("decoder.conv_norm_out", VBOC[0]); conv("decoder.conv_out", VBOC[0], 3, 3)
    if encoder:
        conv("encoder.conv_in", 3, VBOC[0], 3)
        prev = VBOC[0]
        for i, ch in enumerate(VBOC):
            for j in range(VLPB): _vres(f"encoder.down_blocks.{i}.resnets.{j}", prev if j == 0 else ch, ch)
            if i < len(VBOC) - 1: conv(f"encoder.down_blocks.{i}.downsamplers.0.conv", ch, ch, 3)
            prev = ch
        _vmid("encoder.mid_block", top)
        ln("encoder.conv_norm_out", top); conv("encoder.conv_out", top, 2 * lat, 3)
        if quant_convs: conv("quant_conv", 2 * lat, 2 * lat, 1)
    return take()


def write_vae(folder, w, lat, px, **extra):
    """vae/: AutoencoderKL config (extra keys: scaling_factor, shift_factor, force_upcast, use_quant_conv, …) + weights."""
    os.makedirs(folder, exist_ok=True)
    json.dump({"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": VBOC, "down_block_types": ["DownEncoderBlock2D"] * 4,
               "in_channels": 3, "latent_channels": lat, "layers_per_block": VLPB, "norm_num_groups": 8, "out_channels": 3,
               "sample_size": px, "up_block_types": ["UpDecoderBlock2D"] * 4, **extra}, open(f"{folder}/config.json", "w"))
    save_safetensors(w, f"{folder}/diffusion_pytorch_model.safetensors")


def _vae_res(x, w, p):
    y = c2d(F.silu(gn(x, w, p + ".norm1", 1e-6, 8)), w, p + ".conv1")
    y = c2d(F.silu(gn(y, w, p + ".norm2", 1e-6, 8)), w, p + ".conv2")
    if p + ".conv_shortcut.weight" in w: x = c2d(x, w, p + ".conv_shortcut", 0)
    return x + y


def _vae_mid(x, w, p):  # resnet, single-head self-attention over the pixels, resnet
    A = p + ".attentions.0"
    x = _vae_res(x, w, p + ".resnets.0")
    B, C, H, Wd = x.shape
    s = gn(x, w, A + ".group_norm", 1e-6, 8).view(B, C, H * Wd).transpose(1, 2)
    q, k, v = (linear(s, w, f"{A}.{n}") for n in ("to_q", "to_k", "to_v"))
    o = linear(torch.softmax(q @ k.transpose(-1, -2) * C ** -0.5, -1) @ v, w, A + ".to_out.0")
    x = o.transpose(1, 2).reshape(B, C, H, Wd) + x
    return _vae_res(x, w, p + ".resnets.1")


def vae_decode(z, w):  # (post_quant_conv when the weights have it +) Decoder.forward
    if "post_quant_conv.weight" in w: z = c2d(z, w, "post_quant_conv", 0)
    x = _vae_mid(c2d(z, w, "decoder.conv_in"), w, "decoder.mid_block")
    for i in range(len(VBOC)):
        for j in range(VLPB + 1): x = _vae_res(x, w, f"decoder.up_blocks.{i}.resnets.{j}")
        if i < len(VBOC) - 1: x = c2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), w, f"decoder.up_blocks.{i}.upsamplers.0.conv")
    return c2d(F.silu(gn(x, w, "decoder.conv_norm_out", 1e-6, 8)), w, "decoder.conv_out")


def vae_encode(x, w):  # Encoder.forward (+ quant_conv when the weights have it): the latent distribution's parameters
    x = c2d(x, w, "encoder.conv_in")
    for i in range(len(VBOC)):
        for j in range(VLPB): x = _vae_res(x, w, f"encoder.down_blocks.{i}.resnets.{j}")
        if i < len(VBOC) - 1:  # Downsample2D(padding=0): F.pad right / bottom by one, stride 2
            x = c2d(F.pad(x, (0, 1, 0, 1)), w, f"encoder.down_blocks.{i}.downsamplers.0.conv", 0, 2)
    x = _vae_mid(x, w, "encoder.mid_block")
    x = c2d(F.silu(gn(x, w, "encoder.conv_norm_out", 1e-6, 8)), w, "encoder.conv_out")
    return c2d(x, w, "quant_conv", 0) if "quant_conv.weight" in w else x


# ---------------------------------------------------------------------------------------------- T5 encoder (SD3, Flux)
T5_WORDS = ["<pad>", "</s>", "<unk>", "a", "red", "cat", "on", "mat", "photo", "of", "two", "blue", "birds", "blurry", ","]
T5V = {t: i for i, t in enumerate(T5_WORDS)}
def t5_tokenize(text, length):
    """BertNormalizer (lowercase) + BertPreTokenizer (whitespace, punctuation apart) + WordPiece over whole words, then
    padding="max_length", truncation=True: the text's ids cut to length − 1, </s>, <pad> up to length."""
    ids = [T5V.get(t, T5V["<unk>"]) for t in re.findall(r"\w+|[^\w\s]", text.lower())]
    return (ids[:length - 1] + [T5V["</s>"]] + [T5V["<pad>"]] * length)[:length]


class T5:
    """A gated-gelu T5EncoderModel of width d (relative bias over nb buckets up to distance md): random weights in HF's
    names, its tokenizer.json + config.json + weights folder, and its forward with no attention mask."""
    def __init__(self, d, kv=16, heads=2, ff=48, layers=2, nb=32, md=128):
        self.d, self.kv, self.heads, self.ff, self.layers, self.nb, self.md = d, kv, heads, ff, layers, nb, md
        W["shared.weight"] = torch.randn(len(T5_WORDS), d)
        for l in range(layers):
            p = f"encoder.block.{l}.layer."
            W[p + "0.layer_norm.weight"] = 1 + 0.2 * torch.randn(d)
            for n in ("q", "k", "v"): W[p + f"0.SelfAttention.{n}.weight"] = torch.randn(heads * kv, d) / d ** 0.5 * (0.4 if n == "q" else 1.0)
            W[p + "0.SelfAttention.o.weight"] = torch.randn(d, heads * kv) / (heads * kv) ** 0.5
            if l == 0: W[p + "0.SelfAttention.relative_attention_bias.weight"] = torch.randn(nb, heads)
            W[p + "1.layer_norm.weight"] = 1 + 0.2 * torch.randn(d)
            W[p + "1.DenseReluDense.wi_0.weight"] = torch.randn(ff, d) / d ** 0.5
            W[p + "1.DenseReluDense.wi_1.weight"] = torch.randn(ff, d) / d ** 0.5
            W[p + "1.DenseReluDense.wo.weight"] = torch.randn(d, ff) / ff ** 0.5
        W["encoder.final_layer_norm.weight"] = 1 + 0.2 * torch.randn(d)
        self.w = take()

    def write(self, tokenizer_folder, encoder_folder):
        os.makedirs(tokenizer_folder, exist_ok=True); os.makedirs(encoder_folder, exist_ok=True)
        json.dump({"model": {"type": "WordPiece", "unk_token": "<unk>", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                             "vocab": T5V}, "normalizer": {"type": "BertNormalizer", "lowercase": True}, "pre_tokenizer": {"type": "BertPreTokenizer"},
                   "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "</s>"}}],
                                      "special_tokens": {"</s>": {"ids": [1]}}}}, open(f"{tokenizer_folder}/tokenizer.json", "w"))
        json.dump({"architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": self.d, "d_kv": self.kv, "d_ff": self.ff,
                   "num_heads": self.heads, "num_layers": self.layers, "vocab_size": len(T5_WORDS), "relative_attention_num_buckets": self.nb,
                   "relative_attention_max_distance": self.md, "layer_norm_epsilon": 1e-6, "feed_forward_proj": "gated-gelu",
                   "pad_token_id": 0, "eos_token_id": 1}, open(f"{encoder_folder}/config.json", "w"))
        save_safetensors(self.w, f"{encoder_folder}/model.safetensors")

    @staticmethod
    def _bucket(rp, nb, md):  # T5Attention._relative_position_bucket, bidirectional
        nb //= 2
        ret = (rp > 0).to(torch.long) * nb
        n = torch.abs(rp); me = nb // 2
        large = me + (torch.log(n.float() / me) / math.log(md / me) * (nb - me)).to(torch.long)
        return ret + torch.where(n < me, n, torch.min(large, torch.full_like(large, nb - 1)))

    @staticmethod
    def _ln(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    def __call__(self, ids):  # T5EncoderModel(input_ids) with no attention mask: every position attends to every other
        w = self.w; B, L = ids.shape
        x = w["shared.weight"][ids]
        rp = torch.arange(L)[None, :] - torch.arange(L)[:, None]
        bias = w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"][self._bucket(rp, self.nb, self.md)].permute(2, 0, 1).unsqueeze(0)
        for l in range(self.layers):
            p = f"encoder.block.{l}.layer."
            n = self._ln(x, w[p + "0.layer_norm.weight"])
            q, k, v = (F.linear(n, w[p + f"0.SelfAttention.{c}.weight"]).view(B, L, self.heads, self.kv).transpose(1, 2) for c in ("q", "k", "v"))
            a = torch.softmax(q @ k.transpose(3, 2) + bias, -1) @ v
            x = x + F.linear(a.transpose(1, 2).reshape(B, L, -1), w[p + "0.SelfAttention.o.weight"])
            n = self._ln(x, w[p + "1.layer_norm.weight"])
            h = F.gelu(F.linear(n, w[p + "1.DenseReluDense.wi_0.weight"]), approximate="tanh") * F.linear(n, w[p + "1.DenseReluDense.wi_1.weight"])
            x = x + F.linear(h, w[p + "1.DenseReluDense.wo.weight"])
        return self._ln(x, w["encoder.final_layer_norm.weight"])


# ---------------------------------------------------------------------------------------------- schedules, noise
T = 1000
def scaled_linear_alphas():  # SD 1.x / SDXL: betas scaled_linear 0.00085 … 0.012 (float64) → (ᾱ, σ = √((1 − ᾱ)/ᾱ))
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, T, dtype=torch.float64) ** 2
    ac = torch.cumprod(1 - betas, 0)
    return ac, ((1 - ac) / ac) ** 0.5


def philox_normals(seed, stream, shape):  # surpass's Noise.gaussian (Philox4x32-10, Box-Muller in fp32; see Philox.java)
    import numpy as np
    n = int(np.prod(shape)); M = 0xFFFFFFFF
    idx = np.arange((n + 3) // 4, dtype=np.uint64)
    c0, c1 = idx & M, idx >> np.uint64(32)
    c2 = np.full_like(c0, stream & M); c3 = np.full_like(c0, (stream >> 32) & M)
    k0, k1 = seed & M, (seed >> 32) & M
    for r in range(10):
        if r > 0: k0, k1 = (k0 + 0x9E3779B9) & M, (k1 + 0xBB67AE85) & M
        p0, p1 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & np.uint64(M), (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & np.uint64(M)
    f32 = np.float32
    upos = lambda w: ((w >> np.uint64(8)) + np.uint64(1)).astype(f32) * f32(2.0 ** -24)
    uni = lambda w: (w >> np.uint64(8)).astype(f32) * f32(2.0 ** -24)
    rad = lambda w: np.sqrt((f32(-2.0) * np.log(upos(w).astype(np.float64)).astype(f32)).astype(np.float64)).astype(f32)
    two_pi = f32(6.283185307179586)
    t0, t1 = two_pi * uni(c1), two_pi * uni(c3)
    r0, r1 = rad(c0), rad(c2)
    z = np.stack([r0 * np.cos(t0.astype(np.float64)).astype(f32), r0 * np.sin(t0.astype(np.float64)).astype(f32),
                  r1 * np.cos(t1.astype(np.float64)).astype(f32), r1 * np.sin(t1.astype(np.float64)).astype(f32)], 1).reshape(-1)[:n]
    return torch.from_numpy(z.copy()).reshape(shape)


# ---------------------------------------------------------------------------------------------- running surpass
def run_surpass(args):
    """`surpass` (SURPASS, else the repository's launcher) with args; exits 1 with its output when it fails.
    → (the latents it wrote to out/latents.safetensors, seconds)."""
    surpass = os.environ.get("SURPASS", os.path.join(HERE, "..", "..", "surpass"))
    t0 = time.time()
    r = subprocess.run([surpass] + args, capture_output=True, text=True)
    t_run = time.time() - t0
    if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
    return load_safetensors("out/latents.safetensors")["latents"], t_run


def compare_images(ref_img, count=1):
    """Prints, for the first count pictures, the max 8-bit difference between out/image-k.png and ref_img (in [−1, 1]),
    quantised as numpy_to_pil does."""
    ref8 = ((ref_img / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1) * 255).round().to(torch.uint8)
    try:
        from PIL import Image
        import numpy as np
        for k in range(count):
            got8 = torch.from_numpy(np.array(Image.open(f"out/image-{k}.png").convert("RGB")))
            print(f"image {k}: {tuple(got8.shape)}, max |diff| in 8-bit levels {(got8.int() - ref8[k].int()).abs().max().item()}")
    except ImportError:
        pass
