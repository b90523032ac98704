# Shared by the benchmark scripts (pacing.sh, throughput.sh); sourced, needs ROOT, WORK, TARGET.

# build_at REV OUT: builds the release `tributary` of git revision REV in a worktree of its own
# (apart from uncommitted work in this tree) and copies it to OUT. The worktree's crates share
# this tree's artifact names in TARGET (cargo's unit hash ignores the workspace path), so the
# crates a revision is likely to differ in are cleaned afterwards: the next build of this tree
# rebuilds them instead of reusing the other revision's.
build_at() {
    local rev=$1 out=$2 src="$WORK/src-$1"
    rm -rf "$src"
    git -C "$ROOT" worktree prune
    git -C "$ROOT" worktree add --detach "$src" "$rev"
    CARGO_TARGET_DIR=$TARGET cargo build --release -p tributary --manifest-path "$src/Cargo.toml"
    cp "$TARGET/release/tributary" "$out"
    git -C "$ROOT" worktree remove --force "$src"
    CARGO_TARGET_DIR=$TARGET cargo clean --release -p tributary -p source-graph-conversations
}
