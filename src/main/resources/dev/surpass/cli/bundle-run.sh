#!/usr/bin/env bash
# surpass GPU bundle: runs the whole test suite (gpu-tagged tests included), `surpass parity`,
# `surpass bench` and, with --demo, `surpass demo` with the bundled Java runtime, on a Linux host
# that has only an NVIDIA driver.
#
#   ./run.sh OUTDIR [--sanitize] [--quick] [--no-tests] [--no-parity] [--no-bench]
#                   [--demo | --only-demo] [--home DIR]
#   ./run.sh --unpack-only
#
#   --sanitize    also rerun the gpu-tagged tests (SURPASS_SANITIZE_CLASSES: a class-name regex, to take fewer) under compute-sanitizer --tool memcheck and
#                 --tool racecheck (or set SURPASS_SANITIZE=1)
#   --quick       bench --quick (or SURPASS_QUICK=1)
#   --no-tests, --no-parity, --no-bench   leave out the test suite, surpass parity, surpass bench
#   --demo        also run `surpass demo --device cuda` (or SURPASS_DEMO=1; SURPASS_DEMO_DEVICE=cpu
#                 runs it on the CPU instead): output in OUTDIR/demo.txt, files in OUTDIR/demo-out/
#   --only-demo   the demo alone: --demo --no-tests --no-parity --no-bench
#   --home DIR    the repository root, whose models/ the demo reads (default: the working folder
#                 when it has models/, else the bundle's parent folder)
#   --unpack-only unpack the Java runtime into the bundle's runtime/ and stop (no OUTDIR)
#
# OUTDIR receives: summary.txt (what passed or failed, on which card), bench.json, junit/ (the
# JUnit XML report) and logs.tgz (every log). Exit code 0 when everything passed, else 1; 2 for
# a usage error.
set -uo pipefail

# The comment block above, without its '#'.
usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }
die() { echo "run.sh: $*" >&2; exit 2; }
HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
START_DIR="$PWD"   # where run.sh was started: the repository root, normally (the demo's models/)
OUT=""
SANITIZE="${SURPASS_SANITIZE:-0}"
QUICK="${SURPASS_QUICK:-0}"
RUN_TESTS=1
RUN_PARITY=1
RUN_BENCH=1
RUN_DEMO="${SURPASS_DEMO:-0}"
DEMO_DEVICE="${SURPASS_DEMO_DEVICE:-cuda}"
DEMO_HOME=""
UNPACK_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --sanitize) SANITIZE=1 ;;
        --quick) QUICK=1 ;;
        --no-tests) RUN_TESTS=0 ;;
        --no-parity) RUN_PARITY=0 ;;
        --no-bench) RUN_BENCH=0 ;;
        --demo) RUN_DEMO=1 ;;
        --only-demo) RUN_DEMO=1; RUN_TESTS=0; RUN_PARITY=0; RUN_BENCH=0 ;;
        --home) [ $# -ge 2 ] || die "--home needs a folder (the repository root, with models/)"; DEMO_HOME="$2"; shift ;;
        --home=*) DEMO_HOME="${1#--home=}" ;;
        --unpack-only) UNPACK_ONLY=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) if [ -z "$OUT" ]; then OUT="$1"; else die "one OUTDIR only (got $OUT and $1)"; fi ;;
    esac
    shift
done
if [ "$UNPACK_ONLY" = 1 ]; then
    [ -z "$OUT" ] || die "--unpack-only takes no OUTDIR (got $OUT)"
else
    [ -n "$OUT" ] || { usage >&2; exit 2; }
fi
# The demo's repository root, checked before anything runs: a wrong one fails in a second, not
# after the test suite.
if [ "$RUN_DEMO" = 1 ]; then
    if [ -n "$DEMO_HOME" ]; then
        [ -d "$DEMO_HOME/models" ] || die "--home $DEMO_HOME has no models/ folder (pass the repository root)"
    elif [ -d "$START_DIR/models" ]; then
        DEMO_HOME="$START_DIR"
    elif [ -d "$HERE/../models" ]; then
        DEMO_HOME="$HERE/.."
    else
        die "--demo: no models/ in the working folder ($START_DIR) nor beside the bundle ($(dirname "$HERE")); run from the repository root or pass --home DIR"
    fi
    DEMO_HOME="$(cd "$DEMO_HOME" && pwd)"
fi

# ---- the Java runtime ---------------------------------------------------------------------
# runtime.txz (xz tar of an uncompressed jlink image) from `surpass bundle`; runtime.tgz (gzip tar
# of a zip-9 image) from one built where xz was missing. Unpacked once into runtime/ beside this
# script, again when the archive is newer than runtime/bin/java (touched after each unpack).
ARCHIVE=""
for f in "$HERE/runtime.txz" "$HERE/runtime.tgz"; do
    if [ -f "$f" ]; then ARCHIVE="$f"; break; fi
done

# unpack ARCHIVE DEST: the runtime tar into DEST. tar -xJf needs the xz binary; python3's tarfile
# reads xz by itself (lzma module), so a host without xz still unpacks runtime.txz.
unpack() {
    local archive="$1" dest="$2"
    case "$archive" in
        *.txz)
            if command -v xz >/dev/null 2>&1; then
                tar -xJf "$archive" -C "$dest"
            elif command -v python3 >/dev/null 2>&1; then
                echo "run.sh: xz not found; unpacking $(basename "$archive") with python3" >&2
                python3 - "$archive" "$dest" <<'PY'
import sys, tarfile
try:
    with tarfile.open(sys.argv[1], "r:xz") as t:
        # The 'data' filter (Python 3.12; 3.8.17+, 3.9.17+, 3.10.12+, 3.11.4+) refuses absolute
        # paths and links out of DEST; older Pythons have no filter argument.
        if hasattr(tarfile, "data_filter"):
            t.extractall(sys.argv[2], filter="data")
        else:
            t.extractall(sys.argv[2])
except (tarfile.TarError, OSError) as e:
    sys.exit("python3 could not unpack %s: %s" % (sys.argv[1], e))
PY
            else
                echo "run.sh: cannot unpack $archive: neither xz nor python3 is on the PATH" >&2
                return 1
            fi ;;
        *) tar -xzf "$archive" -C "$dest" ;;
    esac
}

RT="$HERE/runtime"
if [ ! -x "$RT/bin/java" ] || { [ -n "$ARCHIVE" ] && [ "$ARCHIVE" -nt "$RT/bin/java" ]; }; then
    [ -n "$ARCHIVE" ] || { echo "run.sh: no runtime.txz or runtime.tgz in $HERE (rebuild the bundle: ./surpass bundle DIR)" >&2; exit 1; }
    if [ -w "$HERE" ]; then
        rm -rf "$RT"
        unpack "$ARCHIVE" "$HERE" && [ -x "$RT/bin/java" ] || { echo "run.sh: cannot unpack $ARCHIVE into $HERE" >&2; exit 1; }
        touch "$RT/bin/java"
    elif [ "$UNPACK_ONLY" = 1 ]; then
        echo "run.sh: cannot unpack $ARCHIVE: $HERE is not writable" >&2; exit 1
    else
        # A read-only bundle: unpack into OUTDIR, removed at the end.
        mkdir -p "$OUT" || die "cannot create $OUT"
        OUT="$(cd "$OUT" && pwd)"
        RT="$OUT/.runtime"
        rm -rf "$RT" "$OUT/.rt-unpack"; mkdir -p "$OUT/.rt-unpack"
        unpack "$ARCHIVE" "$OUT/.rt-unpack" && mv "$OUT/.rt-unpack/runtime" "$RT" && rmdir "$OUT/.rt-unpack" \
            || { echo "run.sh: cannot unpack $ARCHIVE into $OUT" >&2; exit 1; }
    fi
fi
JAVA="$RT/bin/java"
if [ "$UNPACK_ONLY" = 1 ]; then
    echo "$JAVA"
    exit 0
fi

mkdir -p "$OUT" || die "cannot create $OUT"
OUT="$(cd "$OUT" && pwd)"
LOGS="$OUT/logs"
rm -rf "$LOGS" "$OUT/junit" "$OUT/logs.tgz" "$OUT/summary.txt" "$OUT/bench.json" "$OUT/demo.txt" "$OUT/demo-out"
mkdir -p "$LOGS" "$OUT/junit"
START=$(date +%s)

say() { echo "[surpass-bundle] $*"; echo "$*" >> "$LOGS/run.log"; }

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
# The jars: inside the runtime (runtime/jars/, from runtime.txz), or beside this script (a bundle built without xz).
JARS="$RT/jars"
[ -d "$JARS/lib" ] || JARS="$HERE"
[ -d "$JARS/lib" ] || die "no lib/ in $RT/jars or $HERE (rebuild the bundle: ./surpass bundle DIR)"
CP="$(ls "$JARS"/lib/*.jar "$JARS"/test-lib/*.jar | paste -sd ':' -)"
TEST_JAR="$(ls "$JARS"/test-lib/surpass-*-tests.jar | head -n1)"
CONSOLE="$(ls "$JARS"/junit-platform-console-standalone-*.jar | head -n1)"
# shellcheck disable=SC2206
JOPTS=(-ea --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xss4m ${SURPASS_JAVA_OPTS:-})
WORK="$OUT/.work"   # tests run here, beside a copy of the repository's native/ and kernels/
rm -rf "$WORK"; mkdir -p "$WORK"
[ -d "$HERE/tree" ] && cp -r "$HERE/tree/." "$WORK/"
# the trained models' tests (and the demo steps' tests) read models/ of the repository root: link it beside them
for m in "${DEMO_HOME:-}" "$START_DIR" "$HERE/.."; do
    if [ -n "$m" ] && [ -d "$m/models" ]; then ln -s "$(cd "$m" && pwd)/models" "$WORK/models"; break; fi
done

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

CLI=("$JAVA" --add-modules jdk.incubator.vector --enable-native-access=dev.surpass -p "$JARS/lib" -m dev.surpass/dev.surpass.cli.Main)

PARITY_LINE="not run"
if [ "$RUN_PARITY" = 1 ]; then
    say "parity: surpass parity --device all"
    "${CLI[@]}" parity --device all > "$LOGS/parity.txt" 2>&1
    rc=$?
    tail -n 40 "$LOGS/parity.txt"
    PARITY_LINE="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOGS/parity.txt" | tail -n1)"
    PARITY_LINE="${PARITY_LINE:-did not finish: $(tail -n1 "$LOGS/parity.txt")} (exit $rc)"
    [ $rc -eq 0 ] || STATUS=1
    say "parity: $PARITY_LINE"
fi

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

DEMO_LINE="not run"
if [ "$RUN_DEMO" = 1 ]; then
    # As ./surpass runs it: surpass.home points at the repository root for models/, and
    # ALL-UNNAMED native access covers ONNX Runtime when the search step finds it in ~/.m2.
    DEMO=("$JAVA" --add-modules jdk.incubator.vector --enable-native-access=dev.surpass,ALL-UNNAMED
          -Djava.awt.headless=true -Dsurpass.home="$DEMO_HOME" -p "$JARS/lib" -m dev.surpass/dev.surpass.cli.Main
          demo --device "$DEMO_DEVICE" --out "$OUT/demo-out")
    say "demo: surpass demo --device $DEMO_DEVICE --out $OUT/demo-out (models/ of $DEMO_HOME)"
    t0=$(date +%s)
    (cd "$DEMO_HOME" && "${DEMO[@]}") 2>&1 | tee "$OUT/demo.txt"
    rc=${PIPESTATUS[0]}
    secs=$(( $(date +%s) - t0 ))
    cp "$OUT/demo.txt" "$LOGS/"
    # The demo's last summary line: "all checks passed in 95.1 s (full runs: ...)" or "2 check(s) FAILED in ...".
    last="$(grep -E '^ *(all checks passed|[0-9]+ check\(s\) FAILED) in ' "$OUT/demo.txt" | tail -n1 | sed 's/^ *//; s/ (full runs:.*//')"
    DEMO_LINE="${last:-did not finish: $(tail -n1 "$OUT/demo.txt")}; $secs s wall on $DEMO_DEVICE (exit $rc)"
    [ $rc -eq 0 ] || STATUS=1
    say "demo: $DEMO_LINE"
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
                --include-classname "${SURPASS_SANITIZE_CLASSES:-^(Test.*|.+[.\$]Test.*|.*Tests?|.*TestCase)\$}" \
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
    echo "demo: $DEMO_LINE"
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
FILES="$OUT/summary.txt"
[ "$RUN_BENCH" = 1 ] && FILES="$FILES, $OUT/bench.json"
[ "$RUN_TESTS" = 1 ] && FILES="$FILES, $OUT/junit/"
FILES="$FILES, $OUT/logs.tgz"
[ "$RUN_DEMO" = 1 ] && FILES="$FILES, $OUT/demo.txt, $OUT/demo-out/"
echo "(files: $FILES)"
exit $STATUS
