#!/usr/bin/env bash
# One worker against N sharded workers feeding one Delta table (issue #11's benchmark).
#
#   benches/shards.sh                        # 64 Pages, 1 vs 4 workers, 3 runs each
#   RUNS=1 WORKERS=4 CONCURRENCY="default 16" SKIP_BUILD=1 benches/shards.sh
#
# The emulator (release `tributary emulate`, its own process) serves [PAGES=64] Pages with
# Meta's limit of 2 calls/s per Page enforced (error 613 beyond it) and 100 ms latency,
# [TPU=200] threads per (page, platform, folder) unit at page_size 100: 2 list calls per unit,
# 8 units, so 16 calls per Page and a rate-limit lower bound of (16 - 1) / 2 = 7.5 s whatever the
# number of workers (the first call of a Page is free). Every configuration runs against a fresh
# emulator and a fresh table; the N workers are N `tributary run --shard K/N` processes started
# together, timed from the first start to the last exit.
#
# [CONCURRENCY] lists the source's `concurrency` values to try: `default` is 2 units per Page,
# at most 64 per process; a smaller cap stands for a process whose connection budget is smaller
# than its Pages need (a single process with hundreds of Pages hits the 64 cap the same way).
# Results: benches/results/shards.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-3}
PAGES=${PAGES:-64}
TPU=${TPU:-200}
WORKERS=${WORKERS:-4}
CONCURRENCY=${CONCURRENCY:-"default 16"}
WORK=${BENCH_WORK:-$ROOT/target/bench-shards}
TRIB=${TRIBUTARY_BIN:-$ROOT/target/release/tributary}

if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -p tributary
fi
rm -rf "$WORK"; mkdir -p "$WORK" benches/results
for ((i = 1; i <= PAGES; i++)); do echo "$((104857600000000 + i))"; done > "$WORK/pages.txt"

EMU_PID=
stop_emulator() { [ -z "$EMU_PID" ] || { kill "$EMU_PID" 2>/dev/null; wait "$EMU_PID" 2>/dev/null || true; EMU_PID=; }; }
trap stop_emulator EXIT
start_emulator() {
    stop_emulator
    : > "$WORK/emulator.out"
    "$TRIB" emulate --port 0 --seed 1 --pages "$PAGES" --threads-per-unit "$TPU" --exact-threads \
        --messages-per-thread 20 --exact-messages --rate-limit 2 --latency-ms 100 \
        > "$WORK/emulator.out" 2> "$WORK/emulator.err" &
    EMU_PID=$!
    for ((i = 0; i < 200; i++)); do [ -s "$WORK/emulator.out" ] && break; sleep 0.05; done
    EMULATOR_URL=$(head -1 "$WORK/emulator.out" | awk '{print $NF}')
}

pipeline() { # NAME CONCURRENCY -> file
    local file=$WORK/$1.toml conc=""
    [ "$2" = default ] || conc="concurrency = $2"
    cat > "$file" <<TOML
[pipeline]
name = "bench-shards"
state = "$WORK/$1-state.json"

[sources.pages]
type         = "graph_conversations"
base_url     = "$EMULATOR_URL"
access_token = "demo-token"
pages_file   = "$WORK/pages.txt"
fields       = ["id", "updated_time", "snippet", "message_count", "unread_count", "participants"]
messages     = { max = 20, fields = ["id", "created_time", "from", "to", "message"] }
page_size    = 100
requests_per_second_per_page = 2
$conc

[sinks.table]
type         = "delta"
inputs       = ["pages"]
path         = "$WORK/$1-table"
partition_by = ["platform", "folder"]
TOML
    echo "$file"
}

now() { date +%s.%N; }
RESULTS=$WORK/results.txt
: > "$RESULTS"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for conc in $CONCURRENCY; do
    for ((r = 1; r <= RUNS; r++)); do
        for n in 1 "$WORKERS"; do
            start_emulator
            name=c$conc-w$n-r$r
            file=$(pipeline "$name" "$conc")
            t0=$(now)
            pids=()
            if [ "$n" = 1 ]; then
                "$TRIB" -q run "$file" 2> "$WORK/$name.err" & pids+=($!)
            else
                for ((k = 0; k < n; k++)); do
                    "$TRIB" -q run "$file" --shard "$k/$n" 2> "$WORK/$name-$k.err" & pids+=($!)
                done
            fi
            status=0
            for p in "${pids[@]}"; do wait "$p" || status=$?; done
            t1=$(now)
            stats=$(curl -sf "$EMULATOR_URL/__emulator/stats")
            throttled=$(echo "$stats" | python3 -c 'import json,sys; print(sum(json.load(sys.stdin)["throttled_by_code"].values()))')
            rows=$(python3 -c 'import json,sys,glob; print(sum(json.loads(l).get("add",{}).get("stats") and json.loads(json.loads(l)["add"]["stats"])["numRecords"] or 0 for f in glob.glob(sys.argv[1]+"/_delta_log/*.json") for l in open(f)))' "$WORK/$name-table")
            wall=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
            echo "$conc $n $r $wall $throttled $rows $status" | tee -a "$RESULTS" >&2
        done
    done
done
stop_emulator
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$RESULTS" "$PAGES" "$TPU" "$WORKERS" "$RUNS" "$LOAD_START" "$LOAD_END" > benches/results/shards.md <<'PY'
import statistics, sys, os, collections
path, pages, tpu, workers, runs, load0, load1 = sys.argv[1:8]
rows = [l.split() for l in open(path) if l.strip()]
by = collections.defaultdict(list)
for conc, n, r, wall, thr, nrows, status in rows:
    by[(conc, int(n))].append((float(wall), int(thr), int(nrows), int(status)))
calls_per_page = 8 * -(-int(tpu) // 100)
bound = (calls_per_page - 1) / 2
cores = os.cpu_count()
mem = int(open('/proc/meminfo').read().split()[1]) // 1024 // 1024
print(f"Machine: {cores} cores, {mem} GiB; load average {load0} at start, {load1} at end. "
      f"{pages} Pages x 8 units x {tpu} threads = {int(pages)*8*int(tpu):,} threads; "
      f"{calls_per_page} list calls per Page at 2 calls/s per Page and 100 ms latency: "
      f"lower bound {bound:.1f} s for any number of workers. Medians of {runs} runs.\n")
print("| source `concurrency` | workers | wall (median) | vs lower bound | speed-up vs 1 worker | throttles | rows in the table | failed runs |")
print("|---|---|---|---|---|---|---|---|")
for conc in dict.fromkeys(c for c, _ in by):
    one = statistics.median(w for w, *_ in by[(conc, 1)])
    for n in sorted({n for c, n in by if c == conc}):
        runs_ = by[(conc, n)]
        wall = statistics.median(w for w, *_ in runs_)
        label = "default (2 per Page, max 64)" if conc == "default" else f"{conc} per worker"
        print(f"| {label} | {n} | {wall:.2f} s | {wall / bound:.2f}x | {one / wall:.2f}x | "
              f"{sum(t for _, t, _, _ in runs_)} | {sorted({r for _, _, r, _ in runs_})} | "
              f"{sum(1 for *_, s in runs_ if s)} |")
PY
cat benches/results/shards.md
