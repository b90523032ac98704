//! Crash safety and incremental runs (README, *Incremental runs and crash safety*): a pipeline with
//! `[pipeline] state` is killed at every commit-protocol step (`TRIBUTARY_CRASH_AT`, see
//! `tributary_core::failpoint`), rerun, and its committed output compared with the emulator's
//! ground truth by DuckDB: every thread exactly once per `(id, updated_time)`, no visible partial
//! file, watermarks = newest per unit.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use graph_emulator::{
    DEMO_TOKEN, EmulatorConfig, Faults, GroundTruth, InjectedError, Mutation, Trigger,
};

use crate::{Emu, run, tributary};

/// A pipeline: both default pages, small API pages (many pages per unit), small files (several
/// renames per commit), state and lake in `dir`.
fn pipeline(dir: &Path, base_url: &str, mode: &str, lake: &Path) -> PathBuf {
    let text = format!(
        r#"
[pipeline]
name = "crashy"
state = "{state}"

[sources.pages]
type = "graph_conversations"
base_url = "{base_url}"
pages = ["104857600000001", "104857600000002"]
access_token = "{DEMO_TOKEN}"
requests_per_second_per_page = 500
page_size = 10
mode = "{mode}"

[sinks.lake]
type = "parquet"
inputs = ["pages"]
path = "{lake}"
max_rows_per_file = 120
"#,
        state = dir.join("state/state.json").display(),
        lake = lake.display(),
    );
    let file = dir.join("p.toml");
    fs::write(&file, text).unwrap();
    file
}

fn duckdb(sql: &str) -> String {
    let script = "import duckdb,sys\nfor row in duckdb.sql(sys.argv[1]).fetchall(): print('|'.join(str(v) for v in row))";
    let out = tributary_testkit::run_python(script, &[sql]);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Every file under `dir`, relative.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// `2026-11-20T09:28:50+0000` → Unix seconds.
pub(crate) fn epoch(graph_time: &str) -> i64 {
    let n = |a: usize, b: usize| graph_time[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

/// The committed `(id, updated_time)` rows, with their multiplicity.
fn committed(lake: &Path) -> BTreeMap<(String, i64), u64> {
    let listed = duckdb(&format!(
        "select id, epoch(updated_time)::bigint, count(*) from read_parquet('{}/**/*.parquet') group by all",
        lake.display()
    ));
    listed
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut it = l.split('|');
            let id = it.next().unwrap().to_owned();
            let t = it.next().unwrap().parse().unwrap();
            ((id, t), it.next().unwrap().parse().unwrap())
        })
        .collect()
}

fn truth_pairs(truth: &GroundTruth) -> BTreeSet<(String, i64)> {
    truth
        .threads
        .iter()
        .map(|t| (t.id.clone(), epoch(&t.updated_time)))
        .collect()
}

/// The state file's watermarks: unit key → Unix seconds.
fn watermarks(dir: &Path) -> BTreeMap<String, i64> {
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("state/state.json")).unwrap()).unwrap();
    assert!(
        state["pending"].is_null(),
        "no commit left pending: {state}"
    );
    let Some(marks) = state["sources"]["pages"].as_object() else {
        return BTreeMap::new();
    };
    marks
        .iter()
        .map(|(unit, mark)| {
            let w = mark["watermark"].as_str().unwrap().replace('Z', "+0000");
            (unit.clone(), epoch(&w))
        })
        .collect()
}

fn newest_per_unit(truth: &GroundTruth) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    for t in &truth.threads {
        let key = format!(
            "{}/{}/{}",
            t.page_id,
            t.platform.as_str(),
            t.folder.as_str()
        );
        let e = out.entry(key).or_insert(i64::MIN);
        *e = (*e).max(epoch(&t.updated_time));
    }
    out
}

/// The whole check: exactly once per `(id, updated_time)`, nothing partial visible, state
/// consistent, lock gone.
fn assert_committed_equals_truth(dir: &Path, lake: &Path, truth: &GroundTruth, case: &str) {
    let got = committed(lake);
    let dups: Vec<_> = got.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        dups.is_empty(),
        "{case}: rows committed more than once: {dups:?}"
    );
    let got: BTreeSet<(String, i64)> = got.into_keys().collect();
    let want = truth_pairs(truth);
    assert_eq!(got.len(), want.len(), "{case}: row count");
    assert_eq!(
        got, want,
        "{case}: committed rows differ from the ground truth"
    );
    let visible: Vec<String> = files(lake)
        .into_iter()
        .filter(|f| !f.starts_with("_tributary/"))
        .collect();
    assert!(
        visible.iter().all(|f| f.ends_with(".parquet")),
        "{case}: only complete parquet files are visible: {visible:?}"
    );
    assert!(
        files(&lake.join("_tributary/staging"))
            .iter()
            .all(|f| f.ends_with(".tmp")),
        "{case}: staging holds only .tmp files"
    );
    assert_eq!(
        watermarks(dir),
        newest_per_unit(truth),
        "{case}: watermarks = newest per unit"
    );
    assert!(
        !dir.join("state/state.json.lock").exists(),
        "{case}: the lock was removed"
    );
}

/// One crash point after another (each run must die), then a clean rerun (exit 0).
fn crash_then_recover(emu: &Emu, truth: &GroundTruth, points: &[&str]) {
    let case = points.join(" then ");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let file = pipeline(dir.path(), emu.get().base_url(), "incremental", &lake);
    for point in points {
        let out = tributary()
            .env("TRIBUTARY_CRASH_AT", point)
            .args(["-q", "run"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "{case}: the run must be killed with SIGKILL at {point}:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("crashing at {}", point.split(':').next().unwrap())),
            "{case}: {stderr}"
        );
    }
    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
    assert_eq!(code, 0, "{case}: the rerun succeeds:\n{stderr}");
    assert_committed_equals_truth(dir.path(), &lake, truth, &case);
}

#[test]
fn a_run_killed_at_any_commit_step_is_recovered_exactly_once_by_the_next_run() {
    let emu = Emu::start(EmulatorConfig::default());
    let truth = emu.get().ground_truth();
    // The reference: a clean run commits exactly the ground truth.
    crash_then_recover(&emu, &truth, &[]);
    let cases: &[&[&str]] = &[
        &["lock.acquired"],
        &["source.page:1"],
        &["source.page:20"],
        &["writer.file_closed:1"],
        &["writer.prepared"],
        &["runtime.prepared"],
        &["state.tmp_written:1"],
        &["runtime.pending_written"],
        &["commit.rename:1"],
        &["commit.rename:3"],
        &["commit.renamed"],
        &["commit.manifest"],
        &["runtime.committed"],
        &["state.tmp_written:2"],
        &["state.stored:2"],
        &["runtime.state_final"],
        // Crashes during the roll-forward of a crashed commit.
        &["runtime.pending_written", "commit.rename:2"],
        &["runtime.pending_written", "rollforward.done"],
        &["commit.renamed", "state.tmp_written:1"],
    ];
    let distinct: BTreeSet<&str> = cases
        .iter()
        .flat_map(|c| c.iter())
        .map(|p| p.split(':').next().unwrap())
        .collect();
    assert!(distinct.len() >= 12, "{distinct:?}");
    for points in cases {
        crash_then_recover(&emu, &truth, points);
    }
}

#[test]
fn a_second_run_fetches_only_what_changed_and_both_runs_together_are_the_ground_truth() {
    // A thread moves to the top of its unit during the first run's walk (the 2nd list request of
    // every unit), like a customer writing while the run pages.
    let emu = Emu::start(EmulatorConfig {
        faults: Faults {
            move_to_top: Trigger::Nth(2),
            ..Faults::none()
        },
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let file = pipeline(dir.path(), emu.get().base_url(), "incremental", &lake);

    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
    assert_eq!(code, 0, "{stderr}");
    let first_calls = emu.list_calls();
    let after_first: BTreeSet<(String, i64)> = committed(&lake).into_keys().collect();

    let pages = emu.get().page_ids();
    let new_ids = emu.get().mutate(Mutation::NewThreads {
        page_id: pages[0].clone(),
        platform: graph_emulator::Platform::Instagram,
        folder: graph_emulator::Folder::Inbox,
        count: 3,
    });
    assert_eq!(new_ids.len(), 3);
    let truth = emu.get().ground_truth();
    let old = truth
        .threads
        .iter()
        .find(|t| t.page_id == pages[1] && !new_ids.contains(&t.id))
        .unwrap();
    let updated = emu.get().mutate(Mutation::Update {
        thread_id: old.id.clone(),
    });
    assert_eq!(updated.len(), 1);
    let truth = emu.get().ground_truth();

    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
    assert_eq!(code, 0, "{stderr}");
    let second_calls = emu.list_calls() - first_calls;
    // One call per unit (16), plus a page for the unit that got 3 new threads at most.
    assert!(
        second_calls * 4 < first_calls && second_calls <= 20,
        "the second run fetches only the top of each unit: {second_calls} list calls vs {first_calls}"
    );

    let all = committed(&lake);
    assert!(
        all.values().all(|&n| n == 1),
        "no (id, updated_time) twice across both runs"
    );
    let union: BTreeSet<(String, i64)> = all.into_keys().collect();
    let second: BTreeSet<_> = union.difference(&after_first).cloned().collect();
    let want = truth_pairs(&truth);
    // The second run read only the changes: the new threads and the updated one.
    let changed: BTreeSet<_> = want.difference(&after_first).cloned().collect();
    assert_eq!(
        second, changed,
        "the second run committed exactly what changed"
    );
    assert!(changed.len() >= 4, "{changed:?}");
    // The latest (id, updated_time) of every thread is committed; the union is the truth plus the
    // superseded versions of updated threads.
    let latest: BTreeMap<String, i64> = union.iter().fold(BTreeMap::new(), |mut m, (id, t)| {
        let e = m.entry(id.clone()).or_insert(*t);
        *e = (*e).max(*t);
        m
    });
    let latest: BTreeSet<(String, i64)> = latest.into_iter().collect();
    assert_eq!(
        latest, want,
        "the union of both runs, latest per id, is the ground truth"
    );
    assert_eq!(watermarks(dir.path()), newest_per_unit(&truth));

    // `--full-refresh` ignores the watermarks: everything is read again.
    let before = emu.list_calls();
    let (code, _, stderr) = run(tributary().args(["-q", "run", "--full-refresh"]).arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        emu.list_calls() - before >= first_calls / 2,
        "a full refresh walks every unit again"
    );
}

fn state_bytes(dir: &Path) -> Option<Vec<u8>> {
    fs::read(dir.join("state/state.json")).ok()
}

#[test]
fn an_expired_token_mid_run_fails_with_exit_1_and_leaves_the_state_unchanged() {
    let emu = Emu::start(EmulatorConfig {
        faults: Faults::none().with_error(InjectedError::TokenExpired190, Trigger::Nth(3)),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let file = pipeline(dir.path(), emu.get().base_url(), "incremental", &lake);
    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("190"), "names the Graph error:\n{stderr}");
    assert_eq!(state_bytes(dir.path()), None, "no state written");
    assert!(
        files(&lake).iter().all(|f| f.starts_with("_tributary/")),
        "nothing visible"
    );
    assert!(
        !dir.path().join("state/state.json.lock").exists(),
        "the lock was removed"
    );
}

#[test]
fn a_full_disk_fails_with_exit_1_a_clear_message_and_the_state_unchanged() {
    let emu = Emu::start(EmulatorConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // A first, successful run on a roomy disk: the state to keep.
    let file = pipeline(dir.path(), emu.get().base_url(), "full", &lake);
    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
    assert_eq!(code, 0, "{stderr}");
    let before = state_bytes(dir.path()).unwrap();

    let tiny = dir.path().join("tiny");
    fs::create_dir_all(&tiny).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=32k", "tmpfs"])
        .arg(&tiny)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tiny tmpfs here (needs root)");
        return;
    }
    let file = pipeline(dir.path(), emu.get().base_url(), "full", &tiny.join("lake"));
    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
    let _ = std::process::Command::new("umount").arg(&tiny).status();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("disk is full"),
        "a clear message:\n{stderr}"
    );
    assert_eq!(
        state_bytes(dir.path()).unwrap(),
        before,
        "the state is unchanged"
    );
    assert!(
        !dir.path().join("state/state.json.lock").exists(),
        "the lock was removed"
    );
}

#[test]
fn a_second_concurrent_run_is_refused_and_state_show_and_reset_work() {
    let emu = Emu::start(EmulatorConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let file = pipeline(dir.path(), emu.get().base_url(), "incremental", &lake);
    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, stderr) = run(tributary().args(["state", "show"]).arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("104857600000001/instagram/inbox") && stdout.contains("lake="),
        "{stdout}"
    );

    // A live holder (this test process, on this host) is refused with its identity.
    let lock = dir.path().join("state/state.json.lock");
    let me = serde_json::json!({
        "pid": std::process::id(),
        "host": fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
        "run_id": "holder-run",
        "started": "2026-01-01T00:00:00Z",
    });
    fs::write(&lock, me.to_string()).unwrap();
    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("holder-run") && stderr.contains("another run holds"),
        "{stderr}"
    );
    fs::remove_file(&lock).unwrap();

    let (code, _, stderr) = run(tributary()
        .args([
            "state",
            "reset",
            "--unit",
            "104857600000001/instagram/inbox",
        ])
        .arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(!watermarks(dir.path()).contains_key("104857600000001/instagram/inbox"));
    assert_eq!(watermarks(dir.path()).len(), 15);
    let (code, _, stderr) = run(tributary().args(["state", "reset"]).arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(watermarks(dir.path()).is_empty());

    // A foreign state file is a clear error, and is left alone.
    fs::write(
        dir.path().join("state/state.json"),
        br#"{"format":"something-else"}"#,
    )
    .unwrap();
    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("something-else") && stderr.contains("state show"),
        "{stderr}"
    );
    assert_eq!(
        fs::read(dir.path().join("state/state.json")).unwrap(),
        br#"{"format":"something-else"}"#
    );
}
