# surpass's decoder sentence embeddings against sentence-transformers' Qwen3-Embedding pipeline, without transformers or
# sentence-transformers installed: a small random model shaped like Qwen3-Embedding-0.6B (2 layers, hidden 256, 4 q-heads /
# 2 kv-heads of 64 with per-head q_norm / k_norm, tied embeddings, rope_theta 1e6) is written as Qwen3Model.save_pretrained
# does (no "model." prefix, no lm_head) in a sentence-transformers folder: modules.json Transformer -> Pooling
# (pooling_mode_lasttoken) -> Normalize, a tokenizer.json whose TemplateProcessing appends <|endoftext|>, tokenizer_config
# padding_side "left". The embeddings are computed here by an fp32 PyTorch transcription of Qwen3Model (RMSNorm in fp32,
# rotate-half RoPE with fp32 angles, eager softmax attention, SwiGLU), Pooling's last-token gather and F.normalize, and
# compared with `surpass embed --out` (SURPASS=path/to/surpass to test another build):
#   * each sentence as its own batch (no padding), and
#   * all sentences in one left-padded batch, as SentenceTransformer.encode runs them: Qwen3Model takes position_ids = arange(L)
#     (cache_position) when none are given, so a padded sentence's tokens sit at positions pad..L-1; RoPE sees only position
#     differences, so this agrees with the unpadded forward up to rounding (the figure printed shows by how much).
# Run from an empty folder: python3 st_qwen3_embedding_parity.py   (PyTorch >= 1.13)
import json, os, subprocess, sys, torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from common import save_safetensors, load_safetensors  # noqa: E402
torch.manual_seed(0)
E, FF, NL, HQ, HKV, D, V, MAXPOS, THETA, EPS = 256, 512, 2, 4, 2, 64, 300, 512, 1e6, 1e-6
LETTERS = "abcdefghijklmnopqrstuvwxyz"
EOS = 2  # <|endoftext|>, also Qwen's pad token

w = {"embed_tokens.weight": torch.randn(V, E), "norm.weight": 1 + 0.1 * torch.randn(E)}
for l in range(NL):
    p = f"layers.{l}."
    w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(E); w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(E)
    w[p + "self_attn.q_proj.weight"] = torch.randn(HQ * D, E) / E ** 0.5; w[p + "self_attn.k_proj.weight"] = torch.randn(HKV * D, E) / E ** 0.5
    w[p + "self_attn.v_proj.weight"] = torch.randn(HKV * D, E) / E ** 0.5; w[p + "self_attn.o_proj.weight"] = torch.randn(E, HQ * D) / (HQ * D) ** 0.5
    w[p + "self_attn.q_norm.weight"] = 1 + 0.3 * torch.randn(D); w[p + "self_attn.k_norm.weight"] = 1 + 0.3 * torch.randn(D)
    w[p + "mlp.gate_proj.weight"] = torch.randn(FF, E) / E ** 0.5; w[p + "mlp.up_proj.weight"] = torch.randn(FF, E) / E ** 0.5
    w[p + "mlp.down_proj.weight"] = torch.randn(E, FF) / FF ** 0.5

os.makedirs("st/1_Pooling", exist_ok=True); os.makedirs("st/2_Normalize", exist_ok=True)
save_safetensors({k: v.contiguous() for k, v in w.items()}, "st/model.safetensors")
json.dump({"architectures": ["Qwen3Model"], "model_type": "qwen3", "hidden_size": E, "intermediate_size": FF, "num_hidden_layers": NL,
           "num_attention_heads": HQ, "num_key_value_heads": HKV, "head_dim": D, "vocab_size": V, "rms_norm_eps": EPS,
           "rope_theta": THETA, "rope_scaling": None, "max_position_embeddings": MAXPOS, "hidden_act": "silu", "attention_bias": False,
           "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": None, "max_window_layers": NL,
           "bos_token_id": EOS, "eos_token_id": EOS, "torch_dtype": "float32"}, open("st/config.json", "w"))
json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
           {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
           {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], open("st/modules.json", "w"))
json.dump({"word_embedding_dimension": E, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
           "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": True,
           "include_prompt": True}, open("st/1_Pooling/config.json", "w"))
json.dump({"max_seq_length": 32768, "do_lower_case": False}, open("st/sentence_bert_config.json", "w"))
json.dump({"padding_side": "left", "model_max_length": 131072, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
          open("st/tokenizer_config.json", "w"))
# A small BPE in the SentencePiece style (▁ marks a word start; merges "▁ x" only), so the ids are easy to reproduce here:
# each word is ["▁" + its first letter, its other letters]; Qwen's post-processor appends <|endoftext|>.
specials = ["<unk>", "<s>", "<|endoftext|>"]
vocab = {s: i for i, s in enumerate(specials)}
vocab["\u2581"] = 3
for i, c in enumerate(LETTERS): vocab[c] = 4 + i; vocab["\u2581" + c] = 30 + i
for i in range(56, V): vocab[f"<x{i}>"] = i
tok = {"version": "1.0", "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                                            "normalized": False, "special": True} for i, s in enumerate(specials)],
       "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                          {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
       "pre_tokenizer": None,
       "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                                                  {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
                          "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                                   {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 1}}],
                          "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [EOS], "tokens": ["<|endoftext|>"]}}},
       "decoder": None,
       "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": False, "vocab": vocab,
                 "merges": ["\u2581 " + c for c in LETTERS]}}
json.dump(tok, open("st/tokenizer.json", "w"), ensure_ascii=False)

def tokenize(s):
    ids = []
    for word in s.split(" "):
        ids += [vocab["\u2581" + word[0]]] + [vocab[c] for c in word[1:]]
    return ids + [EOS]

def rms(x, wt): return wt * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))
def rot(x): return torch.cat((-x[..., D // 2:], x[..., : D // 2]), -1)
inv = 1.0 / (THETA ** (torch.arange(0, D, 2, dtype=torch.int64).to(dtype=torch.float) / D))

def qwen3_model(ids, mask):
    """Qwen3Model(input_ids [B, L], attention_mask [B, L]).last_hidden_state, position_ids = arange(L) as HF's default."""
    B, L = ids.shape
    pos = torch.arange(L).float()
    freqs = pos[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    allowed = causal[None, :, :] & mask.bool()[:, None, :]  # create_causal_mask: causal and the key's padding mask
    bias = torch.where(allowed, 0.0, torch.finfo(torch.float32).min)[:, None, :, :]
    x = w["embed_tokens.weight"][ids]
    for l in range(NL):
        p = f"layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rms((h @ w[p + "self_attn.q_proj.weight"].T).view(B, L, HQ, D), w[p + "self_attn.q_norm.weight"]).transpose(1, 2)
        k = rms((h @ w[p + "self_attn.k_proj.weight"].T).view(B, L, HKV, D), w[p + "self_attn.k_norm.weight"]).transpose(1, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(B, L, HKV, D).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(HQ // HKV, 1), v.repeat_interleave(HQ // HKV, 1)  # repeat_kv
        a = torch.softmax((q @ k.transpose(-1, -2)) * D ** -0.5 + bias, -1, dtype=torch.float32)
        o = (a @ v).transpose(1, 2).reshape(B, L, HQ * D)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        x = x + (F.silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    return rms(x, w["norm.weight"])

def last_token(tokens, mask):
    """Pooling.forward, pooling_mode_lasttoken (the flip/max index of the last 1 in the mask)."""
    bs, L, e = tokens.shape
    values, indices = mask.flip(1).max(1)
    indices = torch.where(values == 0, L - 1, indices)
    gather = (L - indices - 1).unsqueeze(-1).repeat(1, e).unsqueeze(1)
    return torch.gather(tokens * mask.unsqueeze(-1).to(tokens.dtype), 1, gather).squeeze(1)

sentences = ["the quick brown fox jumps over the lazy dog", "hello", "surpass runs qwen three embeddings on the jvm",
             "a b c", "left padding shifts the positions of the shorter sentences but rope only sees their differences"]
ref_alone = []
with torch.no_grad():
    for s in sentences:
        ids = torch.tensor([tokenize(s)]); m = torch.ones_like(ids)
        ref_alone.append(F.normalize(last_token(qwen3_model(ids, m), m), p=2, dim=1)[0])
    seqs = [tokenize(s) for s in sentences]
    L = max(len(s) for s in seqs)
    ids = torch.tensor([[EOS] * (L - len(s)) + s for s in seqs]); m = torch.tensor([[0] * (L - len(s)) + [1] * len(s) for s in seqs])
    ref_padded = F.normalize(last_token(qwen3_model(ids, m), m), p=2, dim=1)
ref_alone = torch.stack(ref_alone)

surpass = os.environ.get("SURPASS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "surpass"))
r = subprocess.run([surpass, "embed", "--device", os.environ.get("DEVICE", "cpu"), "--model", "st", "--out", "out.safetensors", "--show", "0"]
                   + sentences, capture_output=True, text=True)
if r.returncode: print(r.stdout, r.stderr); sys.exit(1)
got = load_safetensors("out.safetensors")["embeddings"].float()
assert got.shape == (len(sentences), E), got.shape

def report(name, ref):
    d = (got - ref).abs().max().item()
    cos = F.cosine_similarity(got.double(), ref.double(), dim=1).min().item()
    print(f"{name}: max|d| {d:.3e}, min cosine {cos:.9f}")
    return d
print("token counts:", [len(s) for s in seqs])
print(f"left-padded batch vs unpadded (HF's own drift): max|d| {(ref_padded - ref_alone).abs().max().item():.3e}")
d1 = report("surpass vs each sentence alone", ref_alone)
d2 = report("surpass vs one left-padded batch", ref_padded)
mean_pool = F.normalize(torch.stack([qwen3_model(torch.tensor([s]), torch.ones(1, len(s), dtype=torch.long))[0].mean(0) for s in seqs]), dim=1)
print(f"(mean pooling instead would differ by max|d| {(got - mean_pool).abs().max().item():.3e})")
ok = d1 < 1e-4 and d2 < 1e-4
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
