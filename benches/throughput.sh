#!/usr/bin/env bash
# End to end without a rate limit at 1, 16, 256 and 1,000 Pages (issue #26), one or two
# binaries side by side: benches/throughput.py does the runs.
#
#   benches/throughput.sh                          # this tree vs OLD_REV, 3 runs per cell
#   RUNS=1 PAGES="16" benches/throughput.sh
#   OLD_BIN=/path/old NEW_BIN=/path/new SKIP_BUILD=1 benches/throughput.sh
#   OLD_REV= benches/throughput.sh                 # this tree only
#
# Builds release binaries with one target dir: OLD from git revision [OLD_REV=3ad87d1] (before
# the column decoder) in a worktree, NEW from this tree. Results: benches/results/throughput.md
# (table) and throughput.jsonl (raw runs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OLD_REV=${OLD_REV-3ad87d1}
WORK=${BENCH_WORK:-$ROOT/target/bench-throughput}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$WORK" benches/results
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

if [ -z "${SKIP_BUILD:-}" ]; then
    if [ -n "$OLD_REV" ] && [ -z "${OLD_BIN:-}" ]; then
        build_at "$OLD_REV" "$WORK/tributary-old"
    fi
    CARGO_TARGET_DIR=$TARGET cargo build --release -p tributary
    cp "$TARGET/release/tributary" "$WORK/tributary-new"
fi
NEW_BIN=${NEW_BIN:-$WORK/tributary-new}
old=()
if [ -n "${OLD_BIN:-}" ]; then
    old=(--old "$OLD_BIN")
elif [ -n "$OLD_REV" ]; then
    old=(--old "$WORK/tributary-old")
fi

rm -f "$WORK/throughput.jsonl"
read -r l1 l5 l15 _ < /proc/loadavg
{
    echo "# End to end without a rate limit"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
    echo "load average at start $l1 $l5 $l15. Command: \`RUNS=${RUNS:-3} benches/throughput.sh\` (old: ${OLD_BIN:-${OLD_REV:-none}})."
    python3 benches/throughput.py --new "$NEW_BIN" "${old[@]}" --runs "${RUNS:-3}" \
        --pages ${PAGES:-1 16 256 1000} --gzip ${GZIP:-off on} --raw "$WORK/throughput.jsonl" \
        | grep '^|'
    read -r l1 l5 l15 _ < /proc/loadavg
    echo
    echo "Load average at the end: $l1 $l5 $l15."
} > benches/results/throughput.md
cp "$WORK/throughput.jsonl" benches/results/throughput.jsonl
cat benches/results/throughput.md
