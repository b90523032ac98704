#!/usr/bin/env bash
# Issue #22: what an `exec` step costs at the source's real rate limit. S2 of compare.sh (16
# Pages x 8 units x 200 threads with 20 messages, 2 calls/s per Page, 100 ms latency) run as is
# and with a Python child between source and sink (benches/pipelines/s2-exec.toml), alternating,
# RUNS times each. CPU = user + sys of tributary and its child (GNU time; the emulator is a
# separate process, not counted). Variants:
#   plain            no exec step
#   exec             tests/exec/passthrough.py: whole rows back and forth, the plainest script
#   exec-columns     tests/exec/keep_all.py with columns = ["id"]: row for row, only `id` crosses
#
#   TRIBUTARY_BIN=path/to/release/tributary RUNS=3 benches/exec-rate-limit.sh
#   NO_MESSAGES=1 ...   the same without messages (thread rows only)
#   THREADS=800 ...     threads per unit (default 200: 25,600 threads; the run is 4x longer at 800)
#   VARIANTS="plain exec-columns" ...
#   BATCH_ROWS=1 ...    the exec steps' `batch_rows` (default: the plugin's, 8,192)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TRIB=${TRIBUTARY_BIN:-$ROOT/target/release/tributary}
RUNS=${RUNS:-3}
export EXEC_PYTHON=${TRIBUTARY_PYTHON:-$HOME/.cache/tributary/venv/bin/python}
WORK=$(mktemp -d /tmp/tributary-exec-bench.XXXXXX)
trap 'kill $EMU 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$TRIB" emulate --port 0 --seed 1 --pages 16 --threads-per-unit "${THREADS:-200}" --exact-threads \
    --messages-per-thread 20 --exact-messages --rate-limit 2 --latency-ms 100 \
    > "$WORK/emu.out" 2> "$WORK/emu.err" &
EMU=$!
for _ in $(seq 200); do [ -s "$WORK/emu.out" ] && break; sleep 0.05; done
export EMULATOR_URL=$(head -1 "$WORK/emu.out" | awk '{print $NF}')

for p in s2-rate-limited s2-exec; do
  if [ -n "${NO_MESSAGES:-}" ]; then grep -v '^messages ' "benches/pipelines/$p.toml"; else cat "benches/pipelines/$p.toml"; fi \
    | sed 's#"../../tests/exec/#"'"$ROOT"'/tests/exec/#' > "$WORK/$p.toml"
done
sed -e 's#passthrough.py#keep_all.py#' -e 's#^output  = "same"#columns = ["id"]\noutput  = "same"#' \
  "$WORK/s2-exec.toml" > "$WORK/s2-exec-columns.toml"
grep -q '^columns = \["id"\]' "$WORK/s2-exec-columns.toml"
if [ -n "${BATCH_ROWS:-}" ]; then
  for f in "$WORK"/s2-exec*.toml; do sed -i "s#^output  = \"same\"#batch_rows = $BATCH_ROWS\noutput  = \"same\"#" "$f"; done
fi

echo "variant,run,wall_s,cpu_s,rows"
for ((r = 1; r <= RUNS; r++)); do
  for variant in ${VARIANTS:-plain exec exec-columns}; do
    pipeline=$WORK/s2-$variant.toml
    [ "$variant" = plain ] && pipeline=$WORK/s2-rate-limited.toml
    export BENCH_OUT=$WORK/out-$variant-$r
    /usr/bin/time -f "%e %U %S" -o "$WORK/time" "$TRIB" -q run "$pipeline" --report "$WORK/report.json" >/dev/null
    read -r wall user sys < "$WORK/time"
    rows=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sum(s['report']['rows'] for s in r['sinks']))" "$WORK/report.json")
    echo "$variant,$r,$wall,$(echo "$user + $sys" | bc),$rows"
    rm -rf "$BENCH_OUT"
  done
done
