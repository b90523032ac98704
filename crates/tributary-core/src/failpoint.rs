//! Crash points for the crash-safety tests.
//!
//! `TRIBUTARY_CRASH_AT=<name>[:<n>]` makes the process kill itself with SIGKILL (no destructor,
//! no flush, no lock removal; `abort()` if `kill` is missing) the
//! `n`-th time (default: the first) execution reaches [`hit`]`(name)`. Unset, [`hit`] is one
//! relaxed atomic load after the first call: nothing heavy is compiled in for it.
//!
//! Points (see `tests/it/crash.rs`, which kills a run at each of them and checks the rerun):
//!
//! | name | where |
//! |---|---|
//! | `source.page` | the Graph source received an API page (`:n` = after the n-th page) |
//! | `writer.file_closed` | the lake writer closed a staged file (mid-run, files still open) |
//! | `writer.prepared` | every file of a sink is staged, nothing committed |
//! | `runtime.prepared` | every sink prepared, the write-ahead record not yet written |
//! | `state.tmp_written` | a state file's temp copy is written and synced, not yet renamed |
//! | `state.stored` | a state file was renamed into place (`:1` lock-free start, see below) |
//! | `runtime.pending_written` | the write-ahead record (`pending`) is in the state file |
//! | `commit.rename` | one staged file was renamed into place (`:k` = after the k-th) |
//! | `commit.renamed` | every file of a plan is in place, no manifest yet |
//! | `commit.intent` | without a state: the lake's commit record (`_tributary/commits/`) is written, nothing renamed |
//! | `commit.manifest` | the manifest is written; the replaced generation (`write_mode = "overwrite"`) not yet deleted, the staging directory not yet tidied |
//! | `commit.old_deleted` | one file of the replaced generation was deleted (`:k` = after the k-th) |
//! | `commit.old_manifests` | the replaced generation's files are gone and its manifests retired; the commit record not yet removed |
//! | `runtime.committed` | every plan committed, the final state not yet written |
//! | `runtime.state_final` | the final state is written, the lock not yet removed |
//! | `lock.acquired` | the run lock is taken, nothing else done |
//! | `rollforward.done` | a crashed run was rolled forward, before its state is written |

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the crash point.
pub const ENV: &str = "TRIBUTARY_CRASH_AT";

struct Armed {
    name: String,
    nth: u64,
    seen: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(ENV).ok()?;
            let (name, nth) = match spec.split_once(':') {
                Some((name, n)) => (name.to_owned(), n.trim().parse().unwrap_or(1)),
                None => (spec, 1),
            };
            Some(Armed {
                name: name.trim().to_owned(),
                nth: nth.max(1),
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process if `name` is the armed crash point and this is its `n`-th hit.
pub fn hit(name: &str) {
    let Some(armed) = armed() else { return };
    if armed.name != name {
        return;
    }
    let n = armed.seen.fetch_add(1, Ordering::SeqCst) + 1;
    if n == armed.nth {
        eprintln!("{ENV}: crashing at {name}:{n}");
        // A real SIGKILL, as a killed pod gets: no destructor, no flush, no handler runs.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        // Only reached if `kill` is unavailable.
        std::process::abort();
    }
}
