#!/usr/bin/env bash
# flash_sm90a_check.sh OUTDIR — builds and runs flash_sm90a_check.cu on a Hopper GPU host (needs
# nvcc 12.8+/13 and an H100/H200); writes everything to OUTDIR and prints a summary at the end.
#
#   OUTDIR/build.log      nvcc + ptxas -v (registers, spills) of the harness
#   OUTDIR/check.log      correctness cases (PASS/FAIL per case, RESULT line) and timings
#   OUTDIR/sanitize.log   compute-sanitizer memcheck of the quick cases (when compute-sanitizer exists)
#   OUTDIR/sass-hgmma.txt HGMMA / setmaxnreg lines of the v2 kernels' SASS (when cuobjdump exists)
# Exit status: that of the check run (0 all correct, 1 a case failed, 2 CUDA error, 3 hang, 124 timeout).
set -uo pipefail
OUT=${1:?usage: $0 OUTDIR}
mkdir -p "$OUT"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
BIN="$OUT/flash_sm90a_check"

# -gencode compute_90a/sm_90a (not the -arch=sm_90a shorthand, which with some nvcc versions also
# runs a plain sm_90 pass that rejects wgmma/setmaxnreg).
if ! "$NVCC" -O3 -std=c++17 -lineinfo -Xptxas -v -gencode=arch=compute_90a,code=sm_90a -I "$ROOT/kernels" \
        -o "$BIN" "$HERE/flash_sm90a_check.cu" >"$OUT/build.log" 2>&1; then
    tail -n 40 "$OUT/build.log"
    echo "BUILD FAILED (see $OUT/build.log)"
    exit 4
fi
grep -A3 "flash_fwd_sm90a" "$OUT/build.log" | grep -E "registers|spill|Compiling" >"$OUT/ptxas-sm90a.txt" || true

if command -v cuobjdump >/dev/null 2>&1; then
    cuobjdump -sass "$BIN" 2>/dev/null | awk '/Function : /{f=$3} /HGMMA|USETMAXREG|UTMALDG|SYNCS/{n[f" "$2]++} END{for(k in n) print n[k], k}' \
        | sort -k2 >"$OUT/sass-hgmma.txt" || true
fi

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw --format=csv >"$OUT/gpu.txt" 2>&1 || true

timeout 120 "$BIN" 2>&1 | tee "$OUT/check.log"
rc=${PIPESTATUS[0]}

if command -v compute-sanitizer >/dev/null 2>&1; then
    timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN" --quick >"$OUT/sanitize.log" 2>&1
    echo "compute-sanitizer memcheck (quick cases): exit $? (0 = clean; see $OUT/sanitize.log)" | tee -a "$OUT/check.log"
fi

echo "---- summary ----"
grep -E "^device|RESULT|FAIL|HANG|ERROR|^time" "$OUT/check.log"
echo "exit $rc"
exit $rc
