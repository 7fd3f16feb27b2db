#!/usr/bin/env bash
# GPU attention benchmark against PyTorch, one run on the GPU host:
#   benchmarks/gpu/attention_compare.sh BUNDLE OUTDIR [--quick]
# BUNDLE is a folder from `./surpass bundle DIR` (its jlinked Java runs surpass); python3 with
# PyTorch is the peer (scaled_dot_product_attention, flash and cuDNN backends, same shapes).
# Writes OUTDIR/{bench.json,peer.json,compare.txt} and prints the comparison table. SURPASS_JAVA_OPTS
# goes to the JVM (e.g. -Dsurpass.attention.hopper=false times the sm_80 kernel on a Hopper card).
set -uo pipefail
BUNDLE="$(cd "$1" && pwd)"; OUT="$2"; QUICK="${3:-}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"
RT="$BUNDLE/runtime"
bash "$BUNDLE/run.sh" --unpack-only > /dev/null || exit 1   # runtime.txz (or .tgz) -> $RT, when not done yet
"$RT/bin/java" ${SURPASS_JAVA_OPTS:-} --add-modules jdk.incubator.vector --enable-native-access=dev.surpass -p "$BUNDLE/lib" \
    -m dev.surpass/dev.surpass.cli.Main bench --device cuda --op attention,attn_decode $QUICK --json "$OUT/bench.json" \
    > "$OUT/bench.txt" 2>&1 || { cat "$OUT/bench.txt"; exit 1; }
PYTHONUNBUFFERED=1 python3 "$HERE/attention_peer.py" $QUICK --json "$OUT/peer.json" > "$OUT/peer.txt" 2>&1 \
    || { cat "$OUT/peer.txt"; exit 1; }
python3 "$HERE/attention_compare.py" "$OUT/bench.json" "$OUT/peer.json" | tee "$OUT/compare.txt"
