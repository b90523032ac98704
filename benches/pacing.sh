#!/usr/bin/env bash
# Today's pacer against the adaptive one, every limiter model, side by side (issue #16).
#
#   benches/pacing.sh                                    # the whole grid, 1 run per cell
#   RUNS=3 PAGES="16" MODELS="sliding-window" benches/pacing.sh
#   OLD_BIN=/path/to/old/tributary SKIP_BUILD=1 benches/pacing.sh
#   NEW_REV=HEAD benches/pacing.sh                      # NEW from a commit, not the work tree
#   BUILD_ONLY=1 benches/pacing.sh                      # build the two binaries, run nothing
#   CLIENTS=new PAGES=1000 SKIP_BUILD=1 benches/pacing.sh # one client only
#
# Builds two release binaries with one target dir (dependencies are shared): OLD from git
# revision [OLD_REV=73bb8ff] (the fixed-interval pacer) in a worktree, NEW from this tree, then
# runs benches/pacing.py. Results: benches/results/pacing.md (table) and pacing.jsonl (raw).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OLD_REV=${OLD_REV:-73bb8ff}
WORK=${BENCH_WORK:-$ROOT/target/bench-pacing}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$WORK" benches/results
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

if [ -z "${SKIP_BUILD:-}" ]; then
    if [ -z "${OLD_BIN:-}" ]; then
        build_at "$OLD_REV" "$WORK/tributary-old"
    fi
    if [ -n "${NEW_REV:-}" ]; then
        # A committed revision, built apart from uncommitted work in this tree.
        build_at "$NEW_REV" "$WORK/tributary-new"
    else
        CARGO_TARGET_DIR=$TARGET cargo build --release -p tributary
        cp "$TARGET/release/tributary" "$WORK/tributary-new"
    fi
fi
[ -z "${BUILD_ONLY:-}" ] || exit 0
OLD_BIN=${OLD_BIN:-$WORK/tributary-old}
NEW_BIN=${NEW_BIN:-$WORK/tributary-new}

rm -f "$WORK/pacing.jsonl"
read -r l1 l5 l15 _ < /proc/loadavg
{
    echo "# Pacing: today's pacer ($OLD_REV) vs the adaptive controller"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
    echo "load average at start $l1 $l5 $l15. Command: \`RUNS=${RUNS:-1} benches/pacing.sh\`."
    echo
    python3 benches/pacing.py --old "$OLD_BIN" --new "$NEW_BIN" --runs "${RUNS:-1}" \
        --pages ${PAGES:-1 16 256 1000} \
        --models ${MODELS:-token-bucket sliding-window fixed-window usage} \
        --latencies ${LATENCIES:-0 100 20-300} --clients ${CLIENTS:-old new} \
        --raw "$WORK/pacing.jsonl"
    read -r e1 e5 e15 _ < /proc/loadavg
    echo "Load average at the end: $e1 $e5 $e15."
} > "$WORK/pacing.md"
cp "$WORK/pacing.md" benches/results/pacing.md
cp "$WORK/pacing.jsonl" benches/results/pacing.jsonl
cat benches/results/pacing.md
