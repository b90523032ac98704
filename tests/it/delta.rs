//! The `delta` sink end to end: N worker processes (`--shard K/N`) append to one Delta table on
//! the local filesystem and on a real S3-compatible server, and a run killed around the Delta
//! commit is recovered exactly once. Tables are read by Python `deltalake` and polars.

use std::fs;
use std::path::Path;

use graph_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;

use crate::{Emu, tributary};

/// Summary of a table: `deltalake` rows as sorted `page|platform|folder|id|updated_time`,
/// polars' row count, the commit operations, and whether each file sits in its partition's
/// directory.
const READ: &str = r#"
import sys, json, os
from deltalake import DeltaTable
import pyarrow as pa
import polars as pl
uri = sys.argv[1]
opts = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
dt = DeltaTable(uri, storage_options=opts)
t = dt.to_pyarrow_table(columns=["page_id", "platform", "folder", "id", "updated_time"])
rows = sorted(f"{r['page_id']}|{r['platform']}|{r['folder']}|{r['id']}|{int(r['updated_time'].timestamp())}" for r in t.to_pylist())
misplaced = []
for a in pa.table(dt.get_add_actions(flatten=True)).to_pylist():
    want = f"platform={a['partition.platform']}/folder={a['partition.folder']}/"
    if not a["path"].startswith(want):
        misplaced.append(a["path"])
ops = [h.get("operation") for h in dt.history()]
pol = pl.read_delta(uri, storage_options=opts)
print(json.dumps({"rows": rows, "polars_rows": pol.height, "polars_distinct_ids": pol["id"].n_unique(), "ops": ops, "misplaced": misplaced}))
sys.stdout.flush()
os._exit(0)
"#;

fn read(uri: &str, options: Option<&Value>) -> Value {
    let opts = options.map(Value::to_string);
    let mut args = vec![uri];
    if let Some(o) = &opts {
        args.push(o);
    }
    let out = tributary_testkit::run_python(READ, &args);
    serde_json::from_slice(&out.stdout).expect("reader output is JSON")
}

fn pipeline(dir: &Path, name: &str, emu: &RunningEmulator, path: &str, extra: &str) -> String {
    let pages = dir.join("pages.txt");
    fs::write(&pages, emu.page_ids().join("\n")).unwrap();
    let file = dir.join(format!("{name}.toml"));
    fs::write(
        &file,
        format!(
            r#"
[pipeline]
name = "{name}"
state = "{state}"

[sources.pages]
type = "graph_conversations"
base_url = "{url}"
access_token = "demo-token"
pages_file = "{pages}"
requests_per_second_per_page = 200
page_size = 10
mode = "incremental"

[sinks.table]
type = "delta"
inputs = ["pages"]
path = "{path}"
partition_by = ["platform", "folder"]
{extra}
"#,
            state = dir.join(format!("{name}-state.json")).display(),
            url = emu.base_url(),
            pages = pages.display(),
        ),
    )
    .unwrap();
    file.display().to_string()
}

/// Runs `pipeline` as 4 concurrent workers (`--shard K/4`) with `env`.
fn four_workers(pipeline: &str, env: &[(&'static str, String)]) {
    crate::all_succeed_concurrently((0..4).map(|k| {
        let mut cmd = tributary();
        cmd.args(["-q", "run", pipeline, "--shard", &format!("{k}/4")])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd
    }));
}

fn truth_rows(emu: &RunningEmulator) -> Vec<String> {
    let mut rows: Vec<String> = emu
        .ground_truth()
        .threads
        .iter()
        .map(|t| {
            format!(
                "{}|{}|{}|{}|{}",
                t.page_id,
                t.platform.as_str(),
                t.folder.as_str(),
                t.id,
                crate::crash::epoch(&t.updated_time)
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn four_shards_into_one_delta_table_equal_a_single_process_run_on_disk_and_s3() {
    let graph = Emu::start(EmulatorConfig {
        pages: 12,
        ..Default::default()
    });
    let emu = graph.get();
    let dir = tempfile::tempdir().unwrap();
    let truth = truth_rows(emu);

    // The reference: one process, the whole page list.
    let single = dir.path().join("single");
    let p = pipeline(dir.path(), "single", emu, &single.display().to_string(), "");
    let (code, _, stderr) = crate::run(tributary().args(["-q", "run", &p]));
    assert_eq!(code, 0, "{stderr}");
    let reference = read(&single.display().to_string(), None);
    assert_eq!(reference["rows"].as_array().unwrap().len(), truth.len());
    let reference_rows = reference["rows"].clone();
    assert_eq!(
        reference_rows,
        serde_json::json!(truth),
        "the single run is the ground truth"
    );

    // Four workers, one local table.
    let sharded = dir.path().join("sharded");
    let p = pipeline(
        dir.path(),
        "sharded",
        emu,
        &sharded.display().to_string(),
        "",
    );
    four_workers(&p, &[]);
    let got = read(&sharded.display().to_string(), None);
    assert_eq!(got["rows"], reference_rows, "every thread exactly once");
    assert_eq!(got["polars_rows"], truth.len());
    assert_eq!(got["polars_distinct_ids"], truth.len());
    assert_eq!(got["misplaced"], serde_json::json!([]));
    let writes = got["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| *o == "WRITE")
        .count();
    assert_eq!(
        writes, 4,
        "one commit per worker, none lost: {}",
        got["ops"]
    );

    // Four workers, one table on S3. Credentials come from the environment.
    let server = tributary_testkit::S3Server::start();
    server.create_bucket("lake");
    let uri = "s3://lake/delta/conversations";
    let extra = format!("endpoint = \"{}\"\nallow_http = true", server.endpoint);
    let p = pipeline(dir.path(), "s3", emu, uri, &extra);
    let env: Vec<_> = server
        .env()
        .into_iter()
        .filter(|(k, _)| !matches!(*k, "AWS_ENDPOINT_URL" | "AWS_ALLOW_HTTP"))
        .collect();
    four_workers(&p, &env);
    let options = serde_json::json!({
        "AWS_ENDPOINT_URL": server.endpoint, "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
    });
    let got = read(uri, Some(&options));
    assert_eq!(
        got["rows"], reference_rows,
        "every thread exactly once on S3"
    );
    assert_eq!(got["polars_rows"], truth.len());
    assert_eq!(got["misplaced"], serde_json::json!([]));
}

#[test]
fn a_run_killed_around_the_delta_commit_is_committed_exactly_once_by_the_next() {
    let graph = Emu::start(EmulatorConfig::default());
    let emu = graph.get();
    let truth = serde_json::json!(truth_rows(emu));
    for (case, extra) in [
        ("runtime.prepared", ""),
        ("runtime.pending_written", ""),
        ("delta.before_commit", ""),
        ("delta.committed", ""),
        ("runtime.committed", ""),
        ("delta.committed", "mode = \"merge\""),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("t");
        let p = pipeline(
            dir.path(),
            "crashy",
            emu,
            &table.display().to_string(),
            extra,
        );
        let out = tributary()
            .env("TRIBUTARY_CRASH_AT", case)
            .args(["-q", "run", &p])
            .output()
            .unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "{case}: killed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (code, _, stderr) = crate::run(tributary().args(["-q", "run", &p]));
        assert_eq!(code, 0, "{case}: the rerun succeeds:\n{stderr}");
        let got = read(&table.display().to_string(), None);
        assert_eq!(got["rows"], truth, "{case} {extra}: exactly once");
        let state: Value = serde_json::from_str(
            &fs::read_to_string(dir.path().join("crashy-state.json")).unwrap(),
        )
        .unwrap();
        assert!(state["pending"].is_null(), "{case}: nothing left pending");
    }
}

/// The AWS secret reaches delta-rs through the environment; it must not come back out in logs
/// (even at -vv, which lets delta-rs and the AWS SDK speak), errors, the state file or the table.
#[test]
fn the_aws_secret_never_leaks_from_a_delta_run_on_s3() {
    const SECRET: &str = "s3cr3t-Zq8vK2-never-print-me";
    let graph = Emu::start(EmulatorConfig::default());
    let emu = graph.get();
    let server = tributary_testkit::S3Server::start();
    server.create_bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&'static str, String)> = server
        .env()
        .into_iter()
        .filter(|(k, _)| !matches!(*k, "AWS_ENDPOINT_URL" | "AWS_ALLOW_HTTP"))
        .map(|(k, v)| {
            if k == "AWS_SECRET_ACCESS_KEY" {
                (k, SECRET.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let extra = format!("endpoint = \"{}\"\nallow_http = true", server.endpoint);
    for (name, uri) in [
        ("ok", "s3://lake/delta/t"),
        // A bucket that does not exist: the run fails, and says so without the secret.
        ("missing", "s3://no-such-bucket/delta/t"),
    ] {
        let p = pipeline(dir.path(), name, emu, uri, &extra);
        let (code, stdout, stderr) = crate::run(
            tributary()
                .args(["-vv", "run", &p])
                .envs(env.iter().map(|(k, v)| (*k, v.as_str()))),
        );
        assert_eq!(code, if name == "ok" { 0 } else { 1 }, "{name}: {stderr}");
        if name == "missing" {
            // The run's error (it may span lines: the server's XML), without the -vv trace
            // lines that can follow it (a connection pool closing).
            let lines: Vec<&str> = stderr.lines().collect();
            let at = lines
                .iter()
                .rposition(|l| l.starts_with("error"))
                .unwrap_or(0);
            let last = lines[at..]
                .iter()
                .filter(|l| !l.starts_with("20"))
                .copied()
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                last.contains("no-such-bucket") && last.contains("check the bucket"),
                "the error names the table and what to check: {last}"
            );
        }
        assert!(stderr.len() > 1000, "{name}: -vv logs something");
        for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            assert!(!text.contains(SECRET), "{name}: the secret is in {what}");
        }
        let state =
            fs::read_to_string(dir.path().join(format!("{name}-state.json"))).unwrap_or_default();
        assert!(
            !state.contains(SECRET),
            "{name}: the secret is in the state"
        );
    }
}

/// A pending commit whose data files vanished (a VACUUM, a wiped directory) cannot be finished:
/// the run says so and how to go on, `state reset --discard-pending` drops it, and the next run
/// extracts the data again — exactly once.
#[test]
fn a_pending_commit_whose_files_are_gone_is_refused_and_can_be_discarded() {
    let graph = Emu::start(EmulatorConfig::default());
    let emu = graph.get();
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let p = pipeline(dir.path(), "gone", emu, &table.display().to_string(), "");
    let out = tributary()
        .env("TRIBUTARY_CRASH_AT", "runtime.pending_written")
        .args(["-q", "run", &p])
        .output()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(9)
    );
    let mut removed = 0;
    let mut stack = vec![table.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "parquet") {
                fs::remove_file(path).unwrap();
                removed += 1;
            }
        }
    }
    assert!(removed > 0);
    let (code, _, stderr) = crate::run(tributary().args(["-q", "run", &p]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--discard-pending"), "{stderr}");
    let (code, _, stderr) =
        crate::run(tributary().args(["state", "reset", &p, "--discard-pending"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("discarded the pending commit"), "{stderr}");
    let (code, _, stderr) = crate::run(tributary().args(["-q", "run", &p]));
    assert_eq!(code, 0, "{stderr}");
    let got = read(&table.display().to_string(), None);
    assert_eq!(got["rows"], serde_json::json!(truth_rows(emu)));
}
