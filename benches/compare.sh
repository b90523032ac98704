#!/usr/bin/env bash
# tributary against what a data engineer would use instead, in one run.
#
#   benches/compare.sh                 # everything, 3 runs per tool (about 35 min on 2 cores)
#   RUNS=1 SCENARIOS="s1 s4" benches/compare.sh
#   S2_RUNS, S3_RUNS (default RUNS); KEEP_RAW=1 (add to the last invocation's measurements)
#   SKIP_BUILD=1 (use the binaries as built), TRIBUTARY_BIN=..., JSON2PARQUET_BIN=..., BENCH_WORK=DIR
#
# Builds `tributary` in release mode (and benches/json2parquet for S4), creates benches/.venv
# with the Python alternatives, starts a fresh `tributary emulate` (release build, free port) for
# every single run, measures each run with `/usr/bin/time -f '%e %U %S %M'` (wall, user, sys,
# peak RSS of the tool's process; the emulator is a separate process and not counted), and
# writes benches/results/latest.md (medians over RUNS, ratios, machine) and prints it.
#
# Scenarios (sizes overridable by the environment variables in brackets):
#   s1  throughput: 8 Pages, no latency, no rate limit, [S1_THREADS_PER_UNIT=3125] threads per
#       (page, platform, folder) = 200,000 threads, participants + the 20 newest messages each,
#       to zstd Parquet. The Python alternatives read [ALT_S1_PAGES=1] of the 8 Pages (25,000
#       threads): they need minutes for that slice already; rates are per thread.
#   s2  rate limited: 16 Pages, 100 ms latency, 2 calls/s per Page, [S2_THREADS_PER_UNIT=200]
#       threads per unit (2 calls per unit, 16 per Page: lower bound 8 s).
#   s3  memory: tributary's peak RSS at [S3_SMALL_TPU=1563] (100,032 threads) and
#       [S3_LARGE_TPU=15625] (1,000,000 threads) threads per unit, 8 Pages.
#   s4  transform + sink alone: the S1 pages saved as JSON files ([S4_PAGES=8] Pages), to zstd
#       Parquet by DuckDB read_json, by pyarrow's JSON reader, and by tributary's decoder +
#       parquet sink (json2parquet).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RUNS=${RUNS:-3}
S2_RUNS=${S2_RUNS:-$RUNS}
S3_RUNS=${S3_RUNS:-$RUNS}
SCENARIOS=${SCENARIOS:-"s1 s2 s3 s4"}
S1_THREADS_PER_UNIT=${S1_THREADS_PER_UNIT:-3125}
ALT_S1_PAGES=${ALT_S1_PAGES:-1}
S2_THREADS_PER_UNIT=${S2_THREADS_PER_UNIT:-200}
S3_SMALL_TPU=${S3_SMALL_TPU:-1563}
S3_LARGE_TPU=${S3_LARGE_TPU:-15625}
S4_PAGES=${S4_PAGES:-8}
WORK=${BENCH_WORK:-$ROOT/target/bench-compare}
VENV=$ROOT/benches/.venv
PY=$VENV/bin/python
TRIB=${TRIBUTARY_BIN:-$ROOT/target/release/tributary}
J2P=${JSON2PARQUET_BIN:-$ROOT/target/release/json2parquet}
RAW=$WORK/raw.jsonl
TRIB_REPORT=$WORK/tributary-report.json  # `tributary run --report`, read and removed by measure
TOKEN=demo-token

page_ids() { # N -> "104857600000001,104857600000002,..."
    local ids=() i
    for ((i = 1; i <= $1; i++)); do ids+=("$((104857600000000 + i))"); done
    (IFS=,; echo "${ids[*]}")
}

log() { printf '\n== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- setup
if [ ! -x /usr/bin/time ]; then
    log "installing GNU time"
    apt-get install -y time >/dev/null || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi

if [ -n "${SKIP_BUILD:-}" ]; then
    log "SKIP_BUILD: using $TRIB as built"
else
    log "cargo build --release -p tributary"
    cargo build --release -p tributary
fi
if [ -z "${SKIP_BUILD:-}" ] && [[ " $SCENARIOS " == *" s4 "* ]]; then
    log "cargo build --release (benches/json2parquet, shares target/)"
    (cd benches/json2parquet && CARGO_TARGET_DIR="$ROOT/target" cargo build --release)
fi

if ! { [ -x "$PY" ] && "$PY" -c 'import facebook_business, pyarrow, duckdb, dlt' 2>/dev/null; }; then
    log "creating $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q facebook-business pyarrow duckdb 'dlt[parquet,filesystem]'
fi

mkdir -p "$WORK" benches/results
[ -n "${KEEP_RAW:-}" ] || : > "$RAW"   # KEEP_RAW=1: add to the previous invocation's runs
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

# ---------------------------------------------------------------- helpers
EMU_PID=
stop_emulator() {
    if [ -n "$EMU_PID" ]; then
        kill "$EMU_PID" 2>/dev/null || true
        wait "$EMU_PID" 2>/dev/null || true
        EMU_PID=
    fi
}
trap stop_emulator EXIT

start_emulator() { # emulator flags...; sets EMULATOR_URL
    stop_emulator
    : > "$WORK/emulator.out"
    "$TRIB" emulate --port 0 --seed 1 "$@" > "$WORK/emulator.out" 2> "$WORK/emulator.err" &
    EMU_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        [ -s "$WORK/emulator.out" ] && break
        sleep 0.05
    done
    EMULATOR_URL=$(head -1 "$WORK/emulator.out" | awk '{print $NF}')
    [[ "$EMULATOR_URL" == http://127.0.0.1:* ]] || { cat "$WORK/emulator.err" >&2; exit 1; }
    export EMULATOR_URL
}

# measure SCENARIO TOOL RUN EXTRA_JSON -- command...
# Runs the command under /usr/bin/time and appends one JSON line to $RAW with wall, cpu, rss,
# the command's own last stdout line (JSON) and, when an emulator is up, its stats.
measure() {
    local scenario=$1 tool=$2 run=$3 extra=$4
    shift 5
    local tf=$WORK/time.txt out=$WORK/$scenario-$tool-$run.stdout err=$WORK/$scenario-$tool-$run.stderr
    local status=0
    rm -f "$TRIB_REPORT"
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" > "$out" 2> "$err" || status=$?
    local stats='null'
    if [ -n "$EMU_PID" ]; then stats=$(curl -sf "$EMULATOR_URL/__emulator/stats" || echo null); fi
    local tool_out
    tool_out=$(grep '^{' "$out" | tail -1 || true)
    "$PY" - "$scenario" "$tool" "$run" "$status" "$tf" "${tool_out:-null}" "$stats" "$extra" \
        "$TRIB_REPORT" >> "$RAW" <<'EOF'
import json, os, sys
scenario, tool, run, status, tf, out, stats, extra, report = sys.argv[1:10]
wall, user, sys_, rss = open(tf).read().split()[-4:]
out = json.loads(out)
if os.path.exists(report):  # tributary: rows from `run --report`
    r = json.load(open(report))
    out = {"threads": sum(s["report"]["rows"] for s in r["sinks"]), "elapsed": r["elapsed"]}
    os.remove(report)
rec = {"scenario": scenario, "tool": tool, "run": int(run), "status": int(status),
       "wall": float(wall), "cpu": float(user) + float(sys_), "rss_kb": int(rss),
       "out": out, "stats": json.loads(stats)}
rec.update(json.loads(extra))
print(json.dumps(rec))
EOF
    if [ "$status" -ne 0 ]; then
        echo "   $scenario $tool run $run: exit $status (see $err)" >&2
    else
        echo "   $scenario $tool run $run: $(tail -1 "$tf")  (wall user sys maxrss_kb)" >&2
    fi
}

emu_common=(--exact-threads --messages-per-thread 20 --exact-messages)

# ---------------------------------------------------------------- S1
if [[ " $SCENARIOS " == *" s1 "* ]]; then
    log "S1 throughput: 8 pages x 8 units x $S1_THREADS_PER_UNIT threads"
    alt_pages=$(page_ids "$ALT_S1_PAGES")
    for ((r = 1; r <= RUNS; r++)); do
        start_emulator --pages 8 --threads-per-unit "$S1_THREADS_PER_UNIT" "${emu_common[@]}" --rate-limit 0
        rm -rf "$WORK/s1-out"
        BENCH_OUT=$WORK/s1-out/tributary measure s1 tributary "$r" '{}' -- \
            "$TRIB" -q run benches/pipelines/s1-throughput.toml --report "$TRIB_REPORT"
        start_emulator --pages 8 --threads-per-unit "$S1_THREADS_PER_UNIT" "${emu_common[@]}" --rate-limit 0
        measure s1 sdk "$r" '{}' -- "$PY" benches/alt/sdk_to_parquet.py --base-url "$EMULATOR_URL" \
            --token "$TOKEN" --pages "$alt_pages" --out "$WORK/s1-out/sdk.parquet"
        start_emulator --pages 8 --threads-per-unit "$S1_THREADS_PER_UNIT" "${emu_common[@]}" --rate-limit 0
        measure s1 dlt "$r" '{}' -- "$PY" benches/alt/dlt_rest_api.py --base-url "$EMULATOR_URL" \
            --token "$TOKEN" --pages "$alt_pages" --out "$WORK/s1-out/dlt"
    done
    stop_emulator
fi

# ---------------------------------------------------------------- S2
if [[ " $SCENARIOS " == *" s2 "* ]]; then
    log "S2 rate limited: 16 pages x 8 units x $S2_THREADS_PER_UNIT threads, 2 calls/s/page, 100 ms"
    s2_emu=(--pages 16 --threads-per-unit "$S2_THREADS_PER_UNIT" "${emu_common[@]}" --rate-limit 2 --latency-ms 100)
    pages16=$(page_ids 16)
    for ((r = 1; r <= S2_RUNS; r++)); do
        rm -rf "$WORK/s2-out"
        start_emulator "${s2_emu[@]}"
        BENCH_OUT=$WORK/s2-out/tributary measure s2 tributary "$r" '{}' -- \
            "$TRIB" -q run benches/pipelines/s2-rate-limited.toml --report "$TRIB_REPORT"
        start_emulator "${s2_emu[@]}"
        measure s2 sdk "$r" '{}' -- "$PY" benches/alt/sdk_to_parquet.py --base-url "$EMULATOR_URL" \
            --token "$TOKEN" --pages "$pages16" --out "$WORK/s2-out/sdk.parquet"
        start_emulator "${s2_emu[@]}"
        measure s2 dlt "$r" '{}' -- "$PY" benches/alt/dlt_rest_api.py --base-url "$EMULATOR_URL" \
            --token "$TOKEN" --pages "$pages16" --out "$WORK/s2-out/dlt"
    done
    stop_emulator
fi

# ---------------------------------------------------------------- S3
if [[ " $SCENARIOS " == *" s3 "* ]]; then
    for tpu in "$S3_SMALL_TPU" "$S3_LARGE_TPU"; do
        log "S3 memory: 8 pages x 8 units x $tpu threads"
        for ((r = 1; r <= S3_RUNS; r++)); do
            start_emulator --pages 8 --threads-per-unit "$tpu" "${emu_common[@]}" --rate-limit 0
            rm -rf "$WORK/s3-out"
            BENCH_OUT=$WORK/s3-out measure s3 tributary "$r" "{\"size\": $((tpu * 64))}" -- \
                "$TRIB" -q run benches/pipelines/s1-throughput.toml --report "$TRIB_REPORT"
        done
    done
    stop_emulator
    rm -rf "$WORK/s3-out"
fi

# ---------------------------------------------------------------- S4
if [[ " $SCENARIOS " == *" s4 "* ]]; then
    pages_dir=$WORK/s4-pages
    want="$S4_PAGES $S1_THREADS_PER_UNIT"
    if [ "$(cat "$pages_dir/.size" 2>/dev/null)" != "$want" ]; then
        log "S4: saving the pages of $S4_PAGES pages x 8 units x $S1_THREADS_PER_UNIT threads as JSON files"
        rm -rf "$pages_dir"
        start_emulator --pages 8 --threads-per-unit "$S1_THREADS_PER_UNIT" "${emu_common[@]}" --rate-limit 0
        "$PY" benches/alt/save_pages.py --base-url "$EMULATOR_URL" --token "$TOKEN" \
            --pages "$(page_ids "$S4_PAGES")" --out "$pages_dir"
        stop_emulator
        echo "$want" > "$pages_dir/.size"
    fi
    s4_bytes=$(du -sb "$pages_dir" | cut -f1)
    log "S4 transform + sink: $(ls "$pages_dir" | wc -l) files, $s4_bytes bytes"
    for ((r = 1; r <= RUNS; r++)); do
        rm -rf "$WORK/s4-out"; mkdir -p "$WORK/s4-out"
        PAGES_DIR=$pages_dir BENCH_OUT=$WORK/s4-out/tributary measure s4 tributary "$r" \
            "{\"json_bytes\": $s4_bytes}" -- "$J2P" benches/pipelines/s4-saved-pages.toml
        measure s4 duckdb "$r" "{\"json_bytes\": $s4_bytes}" -- "$PY" benches/alt/duckdb_json_to_parquet.py \
            --pages-dir "$pages_dir" --out "$WORK/s4-out/duckdb.parquet"
        measure s4 pyarrow "$r" "{\"json_bytes\": $s4_bytes}" -- "$PY" benches/alt/pyarrow_json_to_parquet.py \
            --pages-dir "$pages_dir" --out "$WORK/s4-out/pyarrow.parquet"
    done
    rm -rf "$WORK/s4-out"
fi

# ---------------------------------------------------------------- report
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
"$PY" benches/report.py "$RAW" \
    --runs "$RUNS" --date "$DATE" --load "$LOAD_START" --load-end "$LOAD_END" \
    --command "benches/compare.sh (RUNS=$RUNS S2_RUNS=$S2_RUNS S3_RUNS=$S3_RUNS SCENARIOS=\"$SCENARIOS\" S1_THREADS_PER_UNIT=$S1_THREADS_PER_UNIT ALT_S1_PAGES=$ALT_S1_PAGES S2_THREADS_PER_UNIT=$S2_THREADS_PER_UNIT S3_SMALL_TPU=$S3_SMALL_TPU S3_LARGE_TPU=$S3_LARGE_TPU S4_PAGES=$S4_PAGES)" \
    > benches/results/latest.md
cat benches/results/latest.md
