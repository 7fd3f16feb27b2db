#!/usr/bin/env bash
# surpass GPU bundle: runs the whole test suite (gpu-tagged tests included), `surpass parity` and
# `surpass bench` with the bundled Java runtime, on a Linux host that has only an NVIDIA driver.
#
#   ./run.sh OUTDIR [--sanitize] [--quick] [--no-tests] [--no-bench]
#
#   --sanitize   also rerun the gpu-tagged tests under compute-sanitizer --tool memcheck and
#                --tool racecheck (or set SURPASS_SANITIZE=1)
#   --quick      bench --quick (or SURPASS_QUICK=1)
#
# OUTDIR receives: summary.txt (what passed or failed, on which card), bench.json, junit/ (the
# JUnit XML report) and logs.tgz (every log). Exit code 0 when everything passed, else 1.
set -uo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
OUT=""
SANITIZE="${SURPASS_SANITIZE:-0}"
QUICK="${SURPASS_QUICK:-0}"
RUN_TESTS=1
RUN_BENCH=1
for a in "$@"; do
    case "$a" in
        --sanitize) SANITIZE=1 ;;
        --quick) QUICK=1 ;;
        --no-tests) RUN_TESTS=0 ;;
        --no-bench) RUN_BENCH=0 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "run.sh: unknown option $a" >&2; usage >&2; exit 2 ;;
        *) if [ -z "$OUT" ]; then OUT="$a"; else echo "run.sh: one OUTDIR only (got $OUT and $a)" >&2; exit 2; fi ;;
    esac
done
[ -n "$OUT" ] || { usage >&2; exit 2; }
mkdir -p "$OUT" || { echo "run.sh: cannot create $OUT" >&2; exit 2; }
OUT="$(cd "$OUT" && pwd)"
LOGS="$OUT/logs"
rm -rf "$LOGS" "$OUT/junit" "$OUT/logs.tgz" "$OUT/summary.txt" "$OUT/bench.json"
mkdir -p "$LOGS" "$OUT/junit"
START=$(date +%s)

say() { echo "[surpass-bundle] $*"; echo "$*" >> "$LOGS/run.log"; }

# ---- the Java runtime ---------------------------------------------------------------------
RT="$HERE/runtime"
if [ ! -x "$RT/bin/java" ] || [ "$HERE/runtime.tgz" -nt "$RT/bin/java" ]; then
    if [ -w "$HERE" ]; then
        rm -rf "$RT"
        tar -xzf "$HERE/runtime.tgz" -C "$HERE" || { echo "run.sh: cannot unpack $HERE/runtime.tgz" >&2; exit 1; }
        touch "$RT/bin/java"
    else
        RT="$OUT/.runtime"
        rm -rf "$RT"; mkdir -p "$OUT/.rt-unpack"
        tar -xzf "$HERE/runtime.tgz" -C "$OUT/.rt-unpack" && mv "$OUT/.rt-unpack/runtime" "$RT" && rmdir "$OUT/.rt-unpack" \
            || { echo "run.sh: cannot unpack $HERE/runtime.tgz" >&2; exit 1; }
    fi
fi
JAVA="$RT/bin/java"
"$JAVA" -version > "$LOGS/java-version.txt" 2>&1 || { cat "$LOGS/java-version.txt" >&2; echo "run.sh: the bundled Java does not start" >&2; exit 1; }
say "java: $(head -n1 "$LOGS/java-version.txt") ($JAVA)"
[ -f "$HERE/BUNDLE.txt" ] && cp "$HERE/BUNDLE.txt" "$LOGS/"

# ---- the card -------------------------------------------------------------------------------
CARD="no GPU (nvidia-smi not found)"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi > "$LOGS/nvidia-smi.txt" 2>&1
    cat "$LOGS/nvidia-smi.txt"
    q="$(nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null)"
    if [ -n "$q" ]; then CARD="$(echo "$q" | sed 's/^/gpu /' | paste -sd ';' -)"; else CARD="nvidia-smi found no GPU"; fi
else
    echo "nvidia-smi not found" > "$LOGS/nvidia-smi.txt"
fi
say "card: $CARD"
{ uname -a; nproc; free -g 2>/dev/null; env | grep -E '^(CUDA|NVIDIA|LD_LIBRARY_PATH)' ; } > "$LOGS/host.txt" 2>&1

# ---- test and CLI command lines -----------------------------------------------------------
CP="$(ls "$HERE"/lib/*.jar "$HERE"/test-lib/*.jar | paste -sd ':' -)"
TEST_JAR="$(ls "$HERE"/test-lib/surpass-*-tests.jar | head -n1)"
CONSOLE="$(ls "$HERE"/junit-platform-console-standalone-*.jar | head -n1)"
# shellcheck disable=SC2206
JOPTS=(-ea --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xss4m ${SURPASS_JAVA_OPTS:-})
WORK="$OUT/.work"   # tests run here, beside a copy of the repository's native/ and kernels/
rm -rf "$WORK"; mkdir -p "$WORK"
[ -d "$HERE/tree" ] && cp -r "$HERE/tree/." "$WORK/"

junit() { # junit NAME [extra console args...]: runs the suite, report in $LOGS/junit-NAME
    local name="$1"; shift
    (cd "$WORK" && "$JAVA" "${JOPTS[@]}" -jar "$CONSOLE" execute --disable-banner --disable-ansi-colors \
        --details=tree --details-theme=ascii \
        --class-path "$CP" --scan-class-path "$TEST_JAR" \
        --include-classname '^(Test.*|.+[.$]Test.*|.*Tests?|.*TestCase)$' \
        --reports-dir "$LOGS/junit-$name" "$@")
}

# "12 passed, 0 failed, 3 skipped" from a console log.
count() { sed -n "s/^\[ *\([0-9]*\) tests $2 *\].*/\1/p" "$1" | tail -n1; }
test_counts() {
    local f="$1" ok fail skip abort
    ok=$(count "$f" successful); fail=$(count "$f" failed); skip=$(count "$f" skipped); abort=$(count "$f" aborted)
    echo "${ok:-0} passed, ${fail:-0} failed, ${skip:-0} skipped, ${abort:-0} aborted (assumptions not met)"
}

STATUS=0
TESTS_LINE="not run"
if [ "$RUN_TESTS" = 1 ]; then
    say "tests: JUnit console over $(basename "$TEST_JAR"), every tag (gpu included)"
    junit all > "$LOGS/tests.log" 2>&1
    rc=$?
    tail -n 25 "$LOGS/tests.log"
    cp "$LOGS"/junit-all/*.xml "$OUT/junit/" 2>/dev/null
    TESTS_LINE="$(test_counts "$LOGS/tests.log") (exit $rc)"
    [ $rc -eq 0 ] || STATUS=1
    say "tests: $TESTS_LINE"
fi

CLI=("$JAVA" --add-modules jdk.incubator.vector --enable-native-access=dev.surpass -p "$HERE/lib" -m dev.surpass/dev.surpass.cli.Main)

say "parity: surpass parity --device all"
"${CLI[@]}" parity --device all > "$LOGS/parity.txt" 2>&1
rc=$?
tail -n 40 "$LOGS/parity.txt"
PARITY_LINE="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOGS/parity.txt" | tail -n1)"
PARITY_LINE="${PARITY_LINE:-did not finish: $(tail -n1 "$LOGS/parity.txt")} (exit $rc)"
[ $rc -eq 0 ] || STATUS=1
say "parity: $PARITY_LINE"

BENCH_LINE="not run"
if [ "$RUN_BENCH" = 1 ]; then
    BARGS=(bench --device all --json "$OUT/bench.json")
    [ "$QUICK" = 1 ] && BARGS+=(--quick)
    say "bench: surpass ${BARGS[*]}"
    "${CLI[@]}" "${BARGS[@]}" > "$LOGS/bench.txt" 2>&1
    rc=$?
    cat "$LOGS/bench.txt"
    BENCH_LINE="$(tail -n1 "$LOGS/bench.txt" | sed 's/^bench: //') (exit $rc)"
    [ $rc -eq 0 ] || STATUS=1
    say "bench: $BENCH_LINE"
fi

SAN_LINES=()
if [ "$SANITIZE" = 1 ]; then
    CS="$(command -v compute-sanitizer || true)"
    for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda-*/bin/compute-sanitizer /opt/cuda/bin/compute-sanitizer; do
        [ -n "$CS" ] && break
        [ -x "$c" ] && CS="$c"
    done
    if [ -z "$CS" ]; then
        SAN_LINES+=("compute-sanitizer: not found (PATH, /usr/local/cuda/bin): not run")
        STATUS=1
    else
        for tool in memcheck racecheck; do
            say "sanitizer: $tool over the gpu-tagged tests"
            (cd "$WORK" && "$CS" --tool "$tool" --target-processes all --error-exitcode 86 --log-file "$LOGS/$tool.log" \
                "$JAVA" "${JOPTS[@]}" -jar "$CONSOLE" execute --disable-banner --disable-ansi-colors --details=tree --details-theme=ascii \
                --class-path "$CP" --scan-class-path "$TEST_JAR" \
                --include-classname '^(Test.*|.+[.$]Test.*|.*Tests?|.*TestCase)$' \
                --include-tag gpu --reports-dir "$LOGS/junit-$tool") > "$LOGS/tests-$tool.log" 2>&1
            rc=$?
            summary_line="$(grep -h 'ERROR SUMMARY' "$LOGS/$tool.log" 2>/dev/null | tail -n1)"
            line="$tool: $(test_counts "$LOGS/tests-$tool.log"); ${summary_line:-no sanitizer summary} (exit $rc)"
            [ $rc -eq 0 ] || STATUS=1
            SAN_LINES+=("$line")
            say "$line"
        done
    fi
else
    SAN_LINES+=("compute-sanitizer: not run (pass --sanitize or set SURPASS_SANITIZE=1)")
fi

# ---- summary and logs -----------------------------------------------------------------------
END=$(date +%s)
{
    echo "surpass GPU bundle run: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname), $((END - START)) s"
    [ -f "$HERE/BUNDLE.txt" ] && sed -n '1,3p' "$HERE/BUNDLE.txt" | sed 's/^/bundle: /'
    echo "java: $(head -n1 "$LOGS/java-version.txt")"
    echo "card: $CARD"
    echo "tests: $TESTS_LINE"
    echo "parity: $PARITY_LINE"
    echo "bench: $BENCH_LINE"
    for l in "${SAN_LINES[@]}"; do echo "$l"; done
    if [ "$RUN_TESTS" = 1 ]; then
        fails="$(grep -E '\[X\]|MethodSource .*=>|^\s+=> ' "$LOGS/tests.log" | head -n 40)"
        if [ -n "$fails" ]; then echo "failed tests (first 40 lines; see logs.tgz tests.log):"; echo "$fails" | sed 's/^/  /'; fi
    fi
    if [ $STATUS -eq 0 ]; then echo "result: PASS"; else echo "result: FAIL"; fi
} > "$OUT/summary.txt"
cp "$OUT/summary.txt" "$LOGS/"
tar -czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$LOGS" "$WORK"
[ "$RT" = "$OUT/.runtime" ] && rm -rf "$RT"
echo
cat "$OUT/summary.txt"
echo "(files: $OUT/summary.txt, $OUT/bench.json, $OUT/junit/, $OUT/logs.tgz)"
exit $STATUS
