#!/usr/bin/env bash
# GPU decode benchmark against PyTorch and HF transformers, one run on the GPU host:
#   benchmarks/gpu/decode_compare.sh BUNDLE OUTDIR [--quick]
# BUNDLE is a folder from `./surpass bundle DIR` (its jlinked Java runs surpass); python3 with
# PyTorch makes the checkpoints and runs the peers (decode_peer.py), transformers if importable.
#  1. make_random_checkpoints.py --mamba --gpt2 --seed 0 -> CKPT/{mamba-130m,gpt2-small}, CKPT
#     defaulting to ${TMPDIR:-/tmp}/surpass_decode_ckpt (~510 MB, not in OUTDIR); reused when both
#     are already there;
#  2. 64 seeded random 16-token prompts of ids (OUTDIR/prompts.json), batch 1 takes the first;
#  3. `surpass generate --device cuda --ignore-eos --max-new-tokens N --ids ...` per model and batch
#     (1, 64), greedy: its "decode X tokens/s after the first token" line on stderr is the figure;
#  4. decode_peer.py per model: plain PyTorch (eager and CUDA graph) and HF generate, same weights,
#     prompts and N, decode tokens/s after the first new token;
#  5. decode_compare.py report: OUTDIR/decode.json, OUTDIR/decode.md and the table on stdout.
# N = 128 (--quick: 32). Each step runs under `timeout` and a failing one does not stop the others.
# SURPASS_JAVA_OPTS goes to the JVM; DEVICE=cpu runs surpass on the CPU (checks the plumbing on a
# host without a GPU, e.g. with CKPT= tiny checkpoints); BATCHES="1 64" and NEW=N override.
set -uo pipefail
BUNDLE="$(cd "$1" && pwd)"; OUT="$2"; QUICK="${3:-}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
T0=$SECONDS
log() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - T0))s] $*"; }
DEVICE="${DEVICE:-cuda}"
BATCHES="${BATCHES:-1 64}"
if [ "$QUICK" = "--quick" ]; then
    NEW="${NEW:-32}"; TO_CKPT=60; TO_JAVA=45; TO_PEER=75
else
    NEW="${NEW:-128}"; TO_CKPT=90; TO_JAVA=90; TO_PEER=180
fi
CKPT="${CKPT:-${TMPDIR:-/tmp}/surpass_decode_ckpt}"  # ~510 MB: kept out of OUTDIR, reused by later runs
RT="$BUNDLE/runtime"
bash "$BUNDLE/run.sh" --unpack-only > /dev/null || { log "no runtime in $BUNDLE"; exit 1; }   # runtime.txz (or .tgz) -> $RT
rm -f "$OUT"/surpass_*_b*.{out,err,rc} "$OUT"/peer_*.json "$OUT"/peer_*.txt
export PYTHONUNBUFFERED=1

log "decode_compare: N=$NEW new tokens, batches $BATCHES, device $DEVICE, out $OUT"
if [ -f "$CKPT/.complete" ] && [ -f "$CKPT/mamba-130m/model.safetensors" ] && [ -f "$CKPT/gpt2-small/model.safetensors" ]; then
    log "1. checkpoints: reusing $CKPT/{mamba-130m,gpt2-small}"
else
    log "1. checkpoints: making $CKPT/{mamba-130m,gpt2-small} (seed 0)"
    rm -f "$CKPT/.complete"
    if timeout -k 5 "$TO_CKPT" python3 "$HERE/make_random_checkpoints.py" "$CKPT" --mamba --gpt2 --seed 0 > "$OUT/checkpoints.txt" 2>&1; then
        touch "$CKPT/.complete"
    else
        log "checkpoints failed (exit $?):"; tail -n 20 "$OUT/checkpoints.txt"
    fi
fi
python3 "$HERE/decode_compare.py" prompts "$OUT/prompts.json" --models "$CKPT/mamba-130m" "$CKPT/gpt2-small" --count 64 --len 16 --seed 0 \
    || { log "prompts failed: no checkpoint config.json?"; exit 1; }

for model in mamba gpt2; do
    dir="$CKPT/$([ $model = mamba ] && echo mamba-130m || echo gpt2-small)"
    for B in $BATCHES; do
        args=()
        while IFS= read -r line; do args+=(--ids "$line"); done < <(python3 "$HERE/decode_compare.py" ids "$OUT/prompts.json" "$B")
        base="$OUT/surpass_${model}_b$B"
        log "2. surpass generate $model b$B"
        timeout -k 5 "$TO_JAVA" "$RT/bin/java" ${SURPASS_JAVA_OPTS:-} --add-modules jdk.incubator.vector --enable-native-access=dev.surpass \
            -p "$BUNDLE/lib" -m dev.surpass/dev.surpass.cli.Main generate --model "$dir" --device "$DEVICE" \
            --max-new-tokens "$NEW" --ignore-eos "${args[@]}" > "$base.out" 2> "$base.err"
        rc=$?; echo "$rc" > "$base.rc"
        fig="$(grep -o 'decode [0-9.]* tokens/s after the first token ([0-9]* ms)' "$base.err" | tail -n 1)"
        if [ "$rc" -eq 0 ] && [ -n "$fig" ]; then
            log "   $model b$B: $fig"
        else
            log "   $model b$B: failed (exit $rc$([ "$rc" -eq 124 ] && echo ", timed out after ${TO_JAVA}s")); stderr tail:"
            tail -n 15 "$base.err" | sed 's/^/     /'
        fi
    done
done

for model in mamba gpt2; do
    dir="$CKPT/$([ $model = mamba ] && echo mamba-130m || echo gpt2-small)"
    log "3. PyTorch peers: $model"
    timeout -k 5 "$TO_PEER" python3 "$HERE/decode_peer.py" "$model" "$dir" --prompts "$OUT/prompts.json" --new "$NEW" \
        --batches "$(echo $BATCHES | tr ' ' ,)" --device "$([ "$DEVICE" = cpu ] && echo cpu || echo cuda)" --json "$OUT/peer_$model.json" > "$OUT/peer_$model.txt" 2>&1
    rc=$?
    sed 's/^/   /' "$OUT/peer_$model.txt" | grep -v '^   *$' | tail -n 40
    [ "$rc" -eq 0 ] || log "   decode_peer $model: exit $rc$([ "$rc" -eq 124 ] && echo ", timed out after ${TO_PEER}s (rows measured before are kept)")"
done

log "4. report"
python3 "$HERE/decode_compare.py" report "$OUT"
log "done: $OUT/decode.md, $OUT/decode.json"
