#!/usr/bin/env bash
# attention_variants.sh OUTDIR — builds and runs benchmarks/gpu/attention_variants.cu on a GPU host.
#
# Checks each tile variant of the prefill and decode kernels against a plain GPU reference, times
# them at the issue's target shapes, and prints the best per shape. Everything goes to
# OUTDIR/attention_variants.txt (the build's ptxas report to OUTDIR/attention_variants.ptxas.txt).
# A prebuilt binary is used when ATTN_VARIANTS_BIN names one (build it on a machine with nvcc 12.8+
# and no GPU: `ATTN_VARIANTS_BUILD_ONLY=1 benchmarks/gpu/attention_variants.sh DIR` leaves DIR/attention_variants);
# extra arguments go to the program (--quick: fewer timings).
# Exit status: the program's (2 when a check failed), 124 on timeout.
set -uo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 OUTDIR [--quick]" >&2
    exit 2
fi
OUT=$1; shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$OUT"
LOG="$OUT/attention_variants.txt"

BIN=${ATTN_VARIANTS_BIN:-}
if [[ -z "$BIN" ]]; then
    NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
    BIN="$OUT/attention_variants"
    echo "[attention_variants] building with $NVCC" | tee "$LOG"
    if ! "$NVCC" -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -lineinfo -Xptxas -v -I "$ROOT/kernels" \
        -o "$BIN" "$HERE/attention_variants.cu" > "$OUT/attention_variants.ptxas.txt" 2>&1; then
        tail -n 30 "$OUT/attention_variants.ptxas.txt" | tee -a "$LOG"
        echo "[attention_variants] build failed" | tee -a "$LOG"
        exit 1
    fi
    grep -E 'spill stores' "$OUT/attention_variants.ptxas.txt" | grep -v ' 0 bytes spill stores' | sort | uniq -c \
        | sed 's/^/[attention_variants] ptxas spills: /' | tee -a "$LOG"
else
    echo "[attention_variants] prebuilt $BIN" | tee "$LOG"
fi
if [[ -n "${ATTN_VARIANTS_BUILD_ONLY:-}" ]]; then
    exit 0
fi
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader 2>/dev/null \
    | sed 's/^/[attention_variants] gpu: /' | tee -a "$LOG"
timeout 90 "$BIN" "$@" 2>&1 | tee -a "$LOG"
rc=${PIPESTATUS[0]}
echo "[attention_variants] exit $rc" | tee -a "$LOG"
exit "$rc"
