#!/usr/bin/env python3
"""Helpers of decode_compare.sh (standard library only, so they run without PyTorch).

  decode_compare.py prompts FILE --models DIR [DIR ...] [--count 64] [--len 16] [--seed 0]
      FILE = {"prompts": [[id, ...] x count]}: seeded random ids below the smallest vocab_size of
      the models' config.json, every prompt different.
  decode_compare.py ids FILE B
      the first B prompts, one line each, ids joined by commas (for `surpass generate --ids`).
  decode_compare.py report OUT
      reads OUT/surpass_{mamba,gpt2}_b{B}.{out,err} (surpass generate's stdout / stderr) and
      OUT/peer_{mamba,gpt2}.json (decode_peer.py), writes OUT/decode.json and OUT/decode.md and
      prints the table: decode tokens/s after the first new token on each side, surpass / peer,
      the issue's target on an H200, and how far surpass's greedy ids agree with each peer's.
"""
import argparse, glob, json, os, random, re, sys

TARGETS = {("mamba", 1): 1500, ("mamba", 64): 40000, ("gpt2", 1): 1500, ("gpt2", 64): 20000}
LABEL = {"mamba": "mamba-130m (random, bf16)", "gpt2": "GPT-2 small (random, bf16)"}
PEERS = ["torch eager", "torch cuda-graph", "hf generate"]
DECODE = re.compile(r"decode ([0-9.]+) tokens/s after the first token \((\d+) ms\)")
TOTAL = re.compile(r"(\d+) sequence\(s\), (\d+) prompt tokens, (\d+) new tokens in ([0-9.]+) s: ([0-9.]+) tokens/s")
LOADED = re.compile(r"surpass generate: (.*) from .* on (.*) \(loaded in (\d+) ms\)")


def prompts(a):
    vocab = min(json.load(open(os.path.join(d, "config.json")))["vocab_size"] for d in a.models)
    rng = random.Random(a.seed)
    out, seen = [], set()
    while len(out) < a.count:
        p = [rng.randrange(vocab) for _ in range(a.len)]
        if tuple(p) not in seen:
            seen.add(tuple(p)); out.append(p)
    json.dump({"seed": a.seed, "vocab": vocab, "prompts": out}, open(a.file, "w"))


def ids(a):
    for p in json.load(open(a.file))["prompts"][:a.batch]:
        print(",".join(map(str, p)))


def surpass_ids(path, batch):
    """Generated ids from surpass generate's stdout (no tokenizer): one line of ids, or '[i] ids' lines."""
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return None
    if batch == 1:
        lines = [l for l in lines if l.strip()]
        return [list(map(int, lines[0].split()))] if lines and re.fullmatch(r"[\d ]+", lines[0].strip()) else None
    got = {}
    for l in lines:
        m = re.match(r"\[(\d+)\] ?([\d ]*)$", l.strip())
        if m:
            got[int(m.group(1))] = list(map(int, m.group(2).split()))
    return [got[i] for i in range(batch)] if len(got) == batch else None


def agreement(ours, theirs):
    """Mean common-prefix length / sequence length, and how many sequences share the first new token."""
    if not ours or not theirs or len(ours) != len(theirs):
        return None
    pre, first = [], 0
    for a, b in zip(ours, theirs):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        pre.append(n / max(1, min(len(a), len(b))))
        first += bool(a and b and a[0] == b[0])
    return dict(mean_prefix=sum(pre) / len(pre), first_token=f"{first}/{len(ours)}")


def surpass_row(out, model, batch):
    base = os.path.join(out, f"surpass_{model}_b{batch}")
    row = dict(model=model, impl="surpass", batch=batch)
    try:
        err = open(base + ".err").read()
    except OSError:
        row["error"] = "not run"
        return row
    m = DECODE.search(err)
    if m:
        row["decode_tokens_per_s"] = float(m.group(1)); row["first_token_ms"] = int(m.group(2))
    m = TOTAL.search(err)
    if m:
        row.update(new_tokens=int(m.group(3)) // batch, total_s=float(m.group(4)), e2e_tokens_per_s=float(m.group(5)))
    m = LOADED.search(err)
    if m:
        row.update(describe=m.group(1), device=m.group(2), load_ms=int(m.group(3)))
    rc = os.path.join(out, f"surpass_{model}_b{batch}.rc")
    if os.path.exists(rc):
        row["rc"] = int(open(rc).read().strip() or -1)
    if "decode_tokens_per_s" not in row:
        tail = [l for l in err.strip().splitlines() if l.strip()][-3:]
        row["error"] = (f"exit {row.get('rc')}: " if row.get("rc") not in (None, 0) else "no decode figure: ") + " | ".join(tail)[:300]
    row["ids"] = surpass_ids(base + ".out", batch)
    return row


def fmt(v):
    if not isinstance(v, (int, float)) or v != v:
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"


def report(a):
    rows, env = [], {}
    peers = {}
    for model in ("mamba", "gpt2"):
        try:
            for r in json.load(open(os.path.join(a.out, f"peer_{model}.json"))):
                if r.get("impl") == "env":
                    env[model] = r
                elif "batch" in r:
                    peers[(model, r["impl"], r["batch"])] = r
                else:
                    peers[(model, r["impl"], None)] = r  # a failure for every batch (e.g. no transformers)
        except (OSError, ValueError) as e:
            env[model] = dict(error=f"no peer results ({type(e).__name__}: {e})")
    batches = sorted({int(m.group(1)) for f in glob.glob(os.path.join(a.out, "surpass_*_b*.err"))
                      for m in [re.search(r"_b(\d+)\.err$", f)] if m} | {b for (_, _, b) in peers if b}) or [1, 64]
    table = []
    hdr = ["model", "batch", "surpass tok/s"] + [f"{p} tok/s" for p in PEERS] + [f"surpass / {p}" for p in PEERS] + ["target (H200)", "met"]
    notes = []
    for model in ("mamba", "gpt2"):
        for b in batches:
            s = surpass_row(a.out, model, b)
            ours = s.get("decode_tokens_per_s")
            ent = dict(model=model, batch=b, surpass=s, peers={}, target=TARGETS.get((model, b)))
            cells, ratios = [], []
            for p in PEERS:
                r = peers.get((model, p, b)) or peers.get((model, p, None))
                ent["peers"][p] = r
                v = r.get("decode_tokens_per_s") if r else None
                cells.append(fmt(v))
                ratios.append(f"{ours / v:.2f}x" if ours and v else "–")
                if r and "error" in r:
                    notes.append(f"{model} b{b} {p}: {r['error']}")
                if r and ours and r.get("ids") and s.get("ids"):
                    ag = agreement(s["ids"], r["ids"])
                    if ag:
                        r["agreement_with_surpass"] = ag
            t = ent["target"]
            ent["met"] = bool(ours and t and ours >= t)
            if "error" in s:
                notes.append(f"{model} b{b} surpass: {s['error']}")
            table.append([LABEL[model], str(b), fmt(ours)] + cells + ratios + [fmt(t), ("yes" if ent["met"] else "no") if ours else "–"])
            rows.append(ent)
    dev = next((r["surpass"].get("device") for r in rows if r["surpass"].get("device")), None)
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)] + ["| " + " | ".join(r) + " |" for r in table]
    md = [f"# Decode tokens/s after the first new token (greedy, every sequence to the end)", ""]
    md.append(f"surpass on {dev or '?'}; peers: " + "; ".join(
        f"{m}: torch {e.get('torch', '?')} on {e.get('device', '?')}" + (f", HF {e['hf']}" if e.get("hf") else "")
        + (f" ({e['error']})" if e.get("error") else "") for m, e in env.items()))
    news = ", ".join(str(n) for n in sorted({r["surpass"].get("new_tokens") for r in rows if r["surpass"].get("new_tokens")}))
    md.append(f"new tokens per sequence: surpass {news or '?'}; peers " + ", ".join(
        sorted({f"{p} {r['new_tokens']}" for e in rows for p, r in e["peers"].items() if r and r.get("new_tokens")})))
    md += [""] + lines + [""]
    ag = []
    for e in rows:
        for p, r in e["peers"].items():
            if r and r.get("agreement_with_surpass"):
                g = r["agreement_with_surpass"]
                ag.append(f"- {e['model']} b{e['batch']} vs {p}: first new token equal in {g['first_token']} sequences, "
                          f"mean common prefix {100 * g['mean_prefix']:.0f}% of the sequence")
    if ag:
        md += ["Greedy ids, surpass against each peer (bf16 rounding differs, so random-weight logits with near ties "
               "may part after a few tokens; the first token should mostly agree):", ""] + ag + [""]
    for e in rows:
        s = e["surpass"]
        if s.get("decode_tokens_per_s"):
            md.append(f"- surpass {e['model']} b{e['batch']}: load {s.get('load_ms', '?')} ms, first token {s.get('first_token_ms', '?')} ms, "
                      f"end to end {fmt(s.get('e2e_tokens_per_s'))} tokens/s")
        h = e["peers"].get("hf generate")
        if h and h.get("e2e_tokens_per_s"):
            md.append(f"- HF generate {e['model']} b{e['batch']}: end to end {fmt(h['e2e_tokens_per_s'])} tokens/s "
                      f"(generate(1) {h['generate_1_s']:.2f} s, generate({h['new_tokens']}) {h['generate_n_s']:.2f} s)")
    if notes:
        md += ["", "Failures / skipped:", ""] + [f"- {n}" for n in notes]
    text = "\n".join(md) + "\n"
    open(os.path.join(a.out, "decode.md"), "w").write(text)
    json.dump(dict(device=dev, env=env, rows=rows), open(os.path.join(a.out, "decode.json"), "w"), indent=1)
    print(text)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prompts"); p.add_argument("file"); p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--count", type=int, default=64); p.add_argument("--len", type=int, default=16); p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("ids"); p.add_argument("file"); p.add_argument("batch", type=int)
    p = sub.add_parser("report"); p.add_argument("out")
    a = ap.parse_args()
    return {"prompts": prompts, "ids": ids, "report": report}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
