#!/usr/bin/env bash
# Cold build timing (issue #20): a clean clone of REV, an empty target dir and an empty cargo
# registry cache (a fresh CARGO_HOME: every crate downloaded again), then one command timed as a
# whole, with the peak memory of the whole process tree sampled every 0.5 s (the sum of RSS of
# every process under the command: cargo, the rustc processes and linkers running at once).
#
#   benches/cold-build.sh REV LABEL -- COMMAND...
#   benches/cold-build.sh HEAD demo -- make demo
#
# Prints one JSON line (appended to benches/results/cold-build.jsonl) and, when the command
# wrote a cargo --timings report, its units as CSV (benches/timings2csv.py).
set -euo pipefail
rev=$1 label=$2; shift 3
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
sha=$(git -C "$repo" rev-parse --short "$rev")
work=$(mktemp -d /tmp/tributary-cold.XXXXXX)
git clone -q "$repo" "$work/src" && git -C "$work/src" checkout -q "$sha"
export CARGO_HOME="$work/cargo-home" CARGO_TARGET_DIR="$work/target" PATH="$HOME/.cargo/bin:$PATH"
mkdir -p "$CARGO_HOME"
# the tools live in ~/.cargo/bin (rustup proxies, cargo-nextest); only the registry is new
peak=0
cd "$work/src"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
setsid "$@" >"$work/out.log" 2>&1 &
pid=$!
sum_rss() { # KiB of every process in the command's session
  ps -s "$pid" -o rss= 2>/dev/null | awk '{s+=$1} END {print s+0}'
}
while kill -0 "$pid" 2>/dev/null; do
  r=$(sum_rss); ((r > peak)) && peak=$r
  sleep 0.5
done
wait "$pid" && status=0 || status=$?
end=$(date +%s.%N)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
secs=$(echo "$end - $start" | bc)
mkdir -p "$repo/benches/results"
if ls "$CARGO_TARGET_DIR"/cargo-timings/cargo-timing-*.html >/dev/null 2>&1; then
  python3 "$repo/benches/timings2csv.py" \
    "$(ls -t "$CARGO_TARGET_DIR"/cargo-timings/cargo-timing-*.html | head -1)" \
    > "$repo/benches/results/cold-build-$label-$sha.csv"
fi
line=$(printf '{"label":"%s","rev":"%s","command":"%s","status":%d,"seconds":%.1f,"peak_rss_mib":%d,"load_before":"%s","load_after":"%s","date":"%s"}' \
  "$label" "$sha" "$*" "$status" "$secs" $((peak / 1024)) "$load_before" "$load_after" "$(date -u +%FT%TZ)")
echo "$line" | tee -a "$repo/benches/results/cold-build.jsonl"
tail -5 "$work/out.log"
echo "work dir: $work (binary sizes: ls -l \$work/target/*/tributary)"
