#!/usr/bin/env bash
# GPU scan and diffusion-step benchmark against PyTorch, one run on the GPU host:
#   benchmarks/gpu/scan_diffusion_compare.sh BUNDLE OUTDIR [--quick]
# BUNDLE is a folder from `./surpass bundle DIR` (its jlinked Java runs surpass); python3 with
# PyTorch is the peer (mamba_ssm's selective_scan_ref loop, eager DDIM / DPM-Solver++ 2M steps with
# classifier-free guidance, same shapes). Writes OUTDIR/{bench.json,peer.json,compare.txt} and
# prints the comparison table.
set -uo pipefail
BUNDLE="$(cd "$1" && pwd)"; OUT="$2"; QUICK="${3:-}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"
RT="$BUNDLE/runtime"
bash "$BUNDLE/run.sh" --unpack-only > /dev/null || exit 1   # runtime.txz (or .tgz) -> $RT, when not done yet
"$RT/bin/java" --add-modules jdk.incubator.vector --enable-native-access=dev.surpass -p "$BUNDLE/lib" \
    -m dev.surpass/dev.surpass.cli.Main bench --device cuda --op selective_scan,ddim_step,dpmpp2m_step $QUICK \
    --json "$OUT/bench.json" > "$OUT/bench.txt" 2>&1 || { cat "$OUT/bench.txt"; exit 1; }
PYTHONUNBUFFERED=1 python3 "$HERE/scan_diffusion_peer.py" $QUICK --json "$OUT/peer.json" > "$OUT/peer.txt" 2>&1 \
    || { cat "$OUT/peer.txt"; exit 1; }
cat "$OUT/peer.txt"
python3 "$HERE/scan_diffusion_compare.py" "$OUT/bench.json" "$OUT/peer.json" | tee "$OUT/compare.txt"
