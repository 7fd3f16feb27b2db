#!/usr/bin/env python3
# Unigram tokenizer parity fixture: an independent Python transcription of HF tokenizers' Unigram
# pipeline (tokenizers/src: added_vocabulary.rs find_matches, normalizers Precompiled (the
# spm_precompiled crate), Replace, Strip, Sequence; pre_tokenizers Metaspace, WhitespaceSplit;
# models/unigram/model.rs encode_optimized + tokenize; processors roberta / template; decoders
# Metaspace, Replace, ByteFallback, Fuse, Strip), written from the Rust source, not from surpass's Java.
#
# It builds two tokenizer.json files on a generated vocabulary (an XLM-RoBERTa-shaped one and a
# T5-shaped one with byte fallback), each with a precompiled_charsmap made here by its own Darts
# double-array builder from Python's NFKC, encodes a few hundred random / awkward strings with the
# transcription, and writes everything to src/test/resources/dev/surpass/text/unigram-parity.json;
# UnigramParityTest checks that surpass gives the same ids and decoded texts.
#
# Needs the `regex` module (for \X grapheme clusters, as the unicode-segmentation crate);
# no tokenizers / sentencepiece package. Run from the repository root:
#   python3 tools/parity/unigram_tokenizer_parity.py
import base64, json, math, os, random, struct, sys, unicodedata

import regex

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "dev", "surpass", "text",
                   "unigram-parity.json")
SPACE = "\u2581"


def is_ws(c):
    # Rust char::is_whitespace: the White_Space property
    o = ord(c)
    return 9 <= o <= 13 or o in (0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000) or 0x2000 <= o <= 0x200A


# ---------------------------------------------------------------------------------------------
# precompiled_charsmap: a Darts-clone double array (darts.h unit layout) + NUL-terminated strings

def build_charsmap(rules):
    """rules: {source: replacement}. Breadth-first placement with unique bases."""
    blob = bytearray()
    trie = {}
    for key in sorted(rules):
        node = trie
        for b in key.encode("utf-8"):
            node = node.setdefault(b, {})
        node[None] = len(blob)
        blob += rules[key].encode("utf-8") + b"\0"
    units = {0: 0}
    bases = set()
    queue = [(trie, 0)]
    while queue:
        node, pos = queue.pop(0)
        labels = [k for k in node if k is not None]
        has_value = None in node
        base = 1
        while True:
            ok = base not in bases and not (has_value and base in units)
            ok = ok and all((base ^ c) != 0 and (base ^ c) not in units for c in labels)
            if ok:
                break
            base += 1
        bases.add(base)
        off = pos ^ base
        assert off < (1 << 21)
        units[pos] = units.get(pos, 0) | (off << 10) | ((1 << 8) if has_value else 0)
        if has_value:
            units[base] = node[None] | (1 << 31)
        for c in sorted(labels):
            units[base ^ c] = c
            queue.append((node[c], base ^ c))
    size = max(units) + 1
    arr = [units.get(i, 0) for i in range(size)]
    return struct.pack("<I", size * 4) + struct.pack("<%dI" % size, *arr) + bytes(blob)


class Precompiled:
    # spm_precompiled: parse, DoubleArray::common_prefix_search, transform, normalize_string
    def __init__(self, b64):
        raw = base64.b64decode(b64)
        (trie_size,) = struct.unpack_from("<I", raw, 0)
        n = trie_size // 4
        self.array = list(struct.unpack_from("<%dI" % n, raw, 4))
        self.normalized = raw[4 + 4 * n:]

    def search(self, key):
        a = self.array
        results = []
        pos = 0
        unit = a[pos]
        pos ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
        for c in key:
            if c == 0:
                break
            pos ^= c
            unit = a[pos]
            if unit & ((1 << 31) | 0xFF) != c:
                return results
            pos ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
            if (unit >> 8) & 1:
                results.append(a[pos] & ((1 << 31) - 1))
        return results

    def transform(self, chunk):
        r = self.search(chunk.encode("utf-8"))
        if not r:
            return None
        i = r[0]
        j = i
        while j < len(self.normalized) and self.normalized[j] != 0:
            j += 1
        return self.normalized[i:j].decode("utf-8")

    def __call__(self, s):
        out = []
        for g in regex.findall(r"\X", s):
            if len(g.encode("utf-8")) < 6:
                t = self.transform(g)
                if t is not None:
                    out.append(t)
                    continue
            for c in g:
                t = self.transform(c)
                out.append(c if t is None else t)
        return "".join(out)


def make_normalizer(spec):
    if spec is None:
        return lambda s: s
    t = spec["type"]
    if t == "Sequence":
        steps = [make_normalizer(x) for x in spec["normalizers"]]

        def seq(s):
            for f in steps:
                s = f(s)
            return s
        return seq
    if t == "Precompiled":
        return Precompiled(spec["precompiled_charsmap"])
    if t == "Replace":
        if "Regex" in spec["pattern"]:
            pat = regex.compile(spec["pattern"]["Regex"])
            return lambda s: pat.sub(lambda m: spec["content"], s)
        return lambda s: s.replace(spec["pattern"]["String"], spec["content"])
    if t == "Strip":
        def strip(s):
            if spec.get("strip_left", True):
                while s and is_ws(s[0]):
                    s = s[1:]
            if spec.get("strip_right", True):
                while s and is_ws(s[-1]):
                    s = s[:-1]
            return s
        return strip
    raise ValueError(t)


# ---------------------------------------------------------------------------------------------
# the pipeline; a piece is (text, original_start) where original_start is exact only where it matters (== 0)

def find_matches(s, tokens):
    """added_vocabulary.rs find_matches: leftmost-longest matches (aho-corasick), lstrip/rstrip."""
    if not tokens:
        return [(None, s)]
    out, start_offset, i = [], 0, 0
    while i < len(s):
        best = None
        for tok in tokens:
            if s.startswith(tok["content"], i) and (best is None or len(tok["content"]) > len(best["content"])):
                best = tok
        if best is None:
            i += 1
            continue
        start, stop = i, i + len(best["content"])
        if best.get("lstrip"):
            k = start
            while k > 0 and is_ws(s[k - 1]):
                k -= 1
            start = max(k, start_offset)
        if best.get("rstrip"):
            while stop < len(s) and is_ws(s[stop]):
                stop += 1
        if start_offset < start:
            out.append((None, s[start_offset:start]))
        out.append((best, s[start:stop]))
        start_offset = stop
        i = stop
    if start_offset != len(s):
        out.append((None, s[start_offset:]))
    return out


class Unigram:
    def __init__(self, model):
        self.vocab = [(p, float(sc)) for p, sc in model["vocab"]]
        self.unk_id = model.get("unk_id")
        self.byte_fallback = model.get("byte_fallback", False)
        self.token_to_id = {}
        self.trie = {}
        for i, (p, _) in enumerate(self.vocab):
            self.token_to_id[p] = i
            node = self.trie
            for b in p.encode("utf-8"):
                node = node.setdefault(b, {})
            node[None] = True
        self.min_score = min(sc for _, sc in self.vocab)

    def encode_optimized(self, sentence):
        # model.rs encode_optimized, on UTF-8 bytes as in Rust
        data = sentence.encode("utf-8")
        size = len(data)
        unk_score = self.min_score - 10.0
        best = [[None, 0.0, None] for _ in range(size + 1)]  # id, score, starts_at
        pos = 0
        while pos < size:
            here = best[pos][1]
            lead = data[pos]
            mblen = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
            single = False
            node = self.trie
            k = pos
            while k < size and data[k] in node:
                node = node[data[k]]
                k += 1
                if None in node:
                    tok = data[pos:k].decode("utf-8")
                    tid = self.token_to_id[tok]
                    cand = self.vocab[tid][1] + here
                    t = best[k]
                    if t[2] is None or cand > t[1]:
                        t[0], t[1], t[2] = tid, cand, pos
                    if k - pos == mblen:
                        single = True
            if not single:
                t = best[pos + mblen]
                cand = unk_score + here
                if t[2] is None or cand > t[1]:
                    if self.unk_id is None:
                        raise ValueError("MissingUnkId")
                    t[0], t[1], t[2] = self.unk_id, cand, pos
            pos += mblen
        results, token, end = [], [], size
        while end > 0:
            tid, _, start = best[end]
            piece = data[start:end].decode("utf-8")
            if tid == self.unk_id:
                token.append(piece)
            else:
                if token:
                    results.append("".join(reversed(token)))
                    token = []
                results.append(piece)
            end = start
        if token:
            results.append("".join(reversed(token)))
        return list(reversed(results))

    def tokenize(self, sentence):
        if not sentence:
            return []
        ids = []
        for s in self.encode_optimized(sentence):
            if s in self.token_to_id:
                ids.append(self.token_to_id[s])
                continue
            if self.byte_fallback:
                bs = ["<0x%02X>" % b for b in s.encode("utf-8")]
                if all(b in self.token_to_id for b in bs):
                    ids += [self.token_to_id[b] for b in bs]
                    continue
            ids.append(self.unk_id)
        return ids


def pre_tokenize(spec, pieces):
    if spec is None:
        return pieces
    t = spec["type"]
    if t == "Sequence":
        for p in spec["pretokenizers"]:
            pieces = pre_tokenize(p, pieces)
        return pieces
    out = []
    if t == "WhitespaceSplit":
        for text, off in pieces:
            i = 0
            while i < len(text):
                while i < len(text) and is_ws(text[i]):
                    i += 1
                j = i
                while j < len(text) and not is_ws(text[j]):
                    j += 1
                if j > i:
                    out.append((text[i:j], off + i))
                i = j
        return out
    if t == "Metaspace":
        rep = spec["replacement"]
        scheme = spec.get("prepend_scheme", "always")
        if spec.get("add_prefix_space") is False:
            scheme = "never"
        split = spec.get("split", True)
        for text, off in pieces:
            text = text.replace(" ", rep)
            if not text.startswith(rep) and (scheme == "always" or (scheme == "first" and off == 0)):
                text = rep + text
            if not split:
                out.append((text, off))
                continue
            # MergedWithNext on the replacement character: each one starts a piece
            start = 0
            for k in range(1, len(text) + 1):
                if k == len(text) or text[k] == rep:
                    out.append((text[start:k], off + start))
                    start = k
        return out
    raise ValueError(t)


class Pipeline:
    def __init__(self, tj):
        self.tj = tj
        self.model = Unigram(tj["model"])
        self.norm = make_normalizer(tj["normalizer"])
        self.added = tj["added_tokens"]
        self.raw = [a for a in self.added if not a["normalized"]]
        self.normd = [a for a in self.added if a["normalized"]]
        self.id_to_token = {i: p for i, (p, _) in enumerate(self.model.vocab)}
        for a in self.added:
            self.id_to_token[a["id"]] = a["content"]

    def encode(self, text, add_special=True):
        pieces = []  # (added or None, text, original offset)
        off = 0
        for tok, s in find_matches(text, self.raw):
            if tok is None:
                ns = self.norm(s)
                k = 0  # index in the normalized text: only index 0 keeps the original start
                for tok2, s2 in find_matches(ns, self.normd):
                    pieces.append((tok2, s2, off if k == 0 else off + k))
                    k += len(s2)
            else:
                pieces.append((tok, s, off))
            off += len(s)
        ids = []
        for tok, s, o in pieces:
            if not s:
                continue
            if tok is not None:
                ids.append(tok["id"])
                continue
            for w, _ in pre_tokenize(self.tj["pre_tokenizer"], [(s, o)]):
                ids += self.model.tokenize(w)
        if not add_special:
            return ids
        pp = self.tj["post_processor"]
        if pp is None:
            return ids
        if pp["type"] == "RobertaProcessing":
            return [pp["cls"][1]] + ids + [pp["sep"][1]]
        if pp["type"] == "TemplateProcessing":
            out = []
            for item in pp["single"]:
                if "Sequence" in item:
                    out += ids
                else:
                    out += pp["special_tokens"][item["SpecialToken"]["id"]]["ids"]
            return out
        raise ValueError(pp["type"])

    def decode(self, ids, skip_special=False):
        toks = [self.id_to_token[i] for i in ids
                if not (skip_special and any(a["id"] == i and a["special"] for a in self.added))]
        dec = self.tj["decoder"]
        if dec is None:
            return " ".join(toks)
        steps = dec["decoders"] if dec["type"] == "Sequence" else [dec]
        for st in steps:
            t = st["type"]
            if t == "Metaspace":
                never = st.get("prepend_scheme") == "never" or st.get("add_prefix_space") is False
                toks = ["".join(("" if (i == 0 and not never) else " ") if c == st["replacement"] else c for c in tk)
                        for i, tk in enumerate(toks)]
            elif t == "Replace":
                toks = [tk.replace(st["pattern"]["String"], st["content"]) for tk in toks]
            elif t == "Fuse":
                toks = ["".join(toks)]
            elif t == "Strip":
                out = []
                for tk in toks:
                    a, b = 0, len(tk)
                    for _ in range(st["start"]):
                        if a < b and tk[a] == st["content"]:
                            a += 1
                    for _ in range(st["stop"]):
                        if b > a and tk[b - 1] == st["content"]:
                            b -= 1
                    out.append(tk[a:b])
                toks = out
            elif t == "ByteFallback":
                out, run = [], []

                def flush():
                    if run:
                        try:
                            out.append(bytes(run).decode("utf-8"))
                        except UnicodeDecodeError:
                            out.append("\ufffd" * len(run))
                        run.clear()
                for tk in toks:
                    if len(tk) == 6 and tk.startswith("<0x") and tk.endswith(">"):
                        try:
                            run.append(int(tk[3:5], 16))
                            continue
                        except ValueError:
                            pass
                    flush()
                    out.append(tk)
                flush()
                toks = out
            else:
                raise ValueError(t)
        return "".join(toks)


# ---------------------------------------------------------------------------------------------
# the generated files and cases

def nfkc_rules():
    rules = {}
    for lo, hi in [(0xA0, 0xFF), (0x2000, 0x2BFF), (0x3000, 0x30FF), (0xFB00, 0xFB06), (0xFF01, 0xFF5E)]:
        for cp in range(lo, hi + 1):
            c = chr(cp)
            cat = unicodedata.category(c)
            if cat in ("Mn", "Mc", "Me", "Cf", "Cc", "Cn", "Cs", "Co"):
                continue
            n = unicodedata.normalize("NFKC", c)
            if n != c and not any(unicodedata.category(x) == "Mn" for x in n) and not 0x3099 <= cp <= 0x309C:
                rules[c] = n
    for base in "aeiouAEIOUnc":
        for mark in "\u0301\u0300\u0308\u0303\u0327":
            composed = unicodedata.normalize("NFC", base + mark)
            if len(composed) == 1:
                rules[base + mark] = composed
    return rules


def added(i, content, lstrip=False, normalized=False, special=True):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": False, "normalized": normalized,
            "special": special}


WORDS = ["the", "quick", "brown", "fox", "über", "café", "naïve", "straße", "日本語", "中文", "字", "привет", "мир", "hello", "world",
         "tokenizer", "señor", "ça", "😀", "👍🏽", "x", "ab", "abc", "12", "2026", ",", ".", "!", "?"]


def gen_vocab(rnd, byte_fallback):
    words = WORDS
    cands = set()
    for w in words:
        for i in range(len(w)):
            for j in range(i + 1, min(len(w), i + 5) + 1):
                cands.add(w[i:j])
                if i == 0:
                    cands.add(SPACE + w[i:j])
    cands.add(SPACE)
    # characters that stay unknown: ö, ß, 語, 👍 (the skin tone too), q
    cands = sorted(c for c in cands if not any(x in c for x in "ößß語👍🏽q"))
    rnd.shuffle(cands)
    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces = [(c, -round(rnd.uniform(1, 14), 4)) for c in cands[:420]]
    if byte_fallback:
        pieces += [("<0x%02X>" % b, 0.0) for b in range(256)]
    # a tie on purpose: "ab" = "a" + "b"
    pieces = [p for p in pieces if p[0] not in ("a", "b", "ab")] + [("a", -3.0), ("b", -3.0), ("ab", -6.0)]
    return specials + pieces


def xlmr_file(rnd, charsmap):
    vocab = gen_vocab(rnd, False) + [("<mask>", 0.0)]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<s>"), added(1, "<pad>"), added(2, "</s>"), added(3, "<unk>"), added(len(vocab) - 1, "<mask>", lstrip=True)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": charsmap},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": SPACE, "add_prefix_space": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True, "add_prefix_space": True},
        "decoder": {"type": "Metaspace", "replacement": SPACE, "add_prefix_space": True},
        "model": {"type": "Unigram", "unk_id": 3, "vocab": [[p, s] for p, s in vocab], "byte_fallback": False},
    }


def t5_file(rnd, charsmap):
    vocab = gen_vocab(rnd, True)
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(1, "<pad>"), added(2, "</s>"), added(3, "<unk>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": charsmap},
            {"type": "Strip", "strip_left": False, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": SPACE}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "first", "split": True}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "special_tokens": {"</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "Unigram", "unk_id": 3, "vocab": [[p, s] for p, s in vocab], "byte_fallback": True},
    }


def cases(rnd, specials):
    fixed = ["", " ", "  ", "hello world", " hello world", "hello world ", "hello   world", "  leading", "trailing  ",
             "ab", "aab", "abab", "café", "cafe\u0301", "naı\u0308ve", "a\u0301\u0301\u0301", "ﬁne ① ＡＢＣ", "ｈｅｌｌｏ\u3000world",
             "日本語の中文字", "привет, мир!", "👍🏽", "😀😀", "👨\u200d👩\u200d👧", "🇫🇷", "qqq", "straße", "Über", "\t tab\nnew line",
             "\u00a0nbsp", "x\u0000y", "<s>hello</s>", "the <mask>.", "<unk>", "a<pad>b", "2026!?", "ö", "ßß"]
    pool = WORDS + ["ö", "q", "語", "\u0301", "ﬁ", "①", "Ａ", "\u3000", "\u00a0", "™", "½", "…"] + specials
    out = list(fixed)
    while len(out) < 300:
        parts = []
        for _ in range(rnd.randint(1, 7)):
            parts.append(rnd.choice(pool))
            parts.append(rnd.choice(["", " ", " ", "  ", "   ", "\t", "\u3000"]))
        s = "".join(parts)
        if rnd.random() < 0.3:
            s = " " + s
        out.append(s)
    return out


def main():
    rnd = random.Random(20261128)
    charsmap = base64.b64encode(build_charsmap(nfkc_rules())).decode("ascii")
    files = {"xlmr": xlmr_file(rnd, charsmap), "t5": t5_file(rnd, charsmap)}
    result = {"note": "generated by tools/parity/unigram_tokenizer_parity.py (a Python transcription of HF tokenizers' Unigram pipeline)",
              "tokenizers": files, "cases": []}
    for name, tj in files.items():
        pl = Pipeline(tj)
        specials = [a["content"] for a in tj["added_tokens"]]
        for text in cases(random.Random(1), specials):
            ids = pl.encode(text)
            result["cases"].append({"tokenizer": name, "text": text, "ids": ids, "decoded": pl.decode(ids),
                                    "decoded_skip": pl.decode(ids, True)})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=0)
    n = len(result["cases"])
    unk = sum(1 for c in result["cases"] if 3 in c["ids"])
    print(f"wrote {os.path.normpath(OUT)}: {n} cases ({unk} with <unk>), vocab sizes "
          + ", ".join(f"{k} {len(v['model']['vocab'])}" for k, v in files.items()))


if __name__ == "__main__":
    main()
