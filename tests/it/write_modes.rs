//! `write_mode` of the file sinks and `mode = "overwrite"` of the delta sink, end to end: every
//! mode run twice (locally and on S3), a run killed at every step of replacing the old
//! generation finished by the next one, Delta readers never seeing a mix of generations, and
//! the loader's warning about appends that copy everything on every run.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use graph_emulator::{DEMO_TOKEN, EmulatorConfig};
use serde_json::Value;

use crate::{Emu, run, tributary};

/// A pipeline file in `dir`: the emulator's pages, one `sink_type` sink at `path` with `sink`
/// extra keys, `source` extra keys, and a state file when `state`.
fn pipeline(
    dir: &Path,
    base_url: &str,
    (sink_type, path): (&str, &str),
    sink: &str,
    source: &str,
    state: bool,
) -> std::path::PathBuf {
    let state = if state {
        format!("state = \"{}\"", dir.join("state.json").display())
    } else {
        String::new()
    };
    let text = format!(
        r#"
[pipeline]
name = "modes"
{state}

[sources.pages]
type = "graph_conversations"
base_url = "{base_url}"
pages = ["104857600000001", "104857600000002"]
access_token = "{DEMO_TOKEN}"
requests_per_second_per_page = 500
{source}

[sinks.lake]
type = "{sink_type}"
inputs = ["pages"]
path = "{path}"
partition_by = ["platform", "folder"]
{sink}
"#
    );
    let file = dir.join("p.toml");
    fs::write(&file, text).unwrap();
    file
}

/// Rows and distinct `(id, updated_time)` of the table at `lake` read by DuckDB.
fn duckdb_counts(lake: &Path, format: &str) -> (u64, u64) {
    let scan = match format {
        "parquet" => format!("read_parquet('{}/**/*.parquet')", lake.display()),
        _ => format!(
            "read_ndjson_auto('{}/**/*.ndjson', hive_partitioning = true)",
            lake.display()
        ),
    };
    let script = "import duckdb,sys\nprint(*duckdb.sql(sys.argv[1]).fetchall()[0])";
    let sql = format!("select count(*), count(distinct (id, updated_time)) from {scan}");
    let out = tributary_testkit::run_python(script, &[&sql]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut it = text.split_whitespace().map(|n| n.parse().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    tributary_testkit::sinks::files_under(dir)
}

/// The data files (outside `_tributary/`).
fn data_files(lake: &Path) -> Vec<String> {
    files(lake)
        .into_iter()
        .filter(|f| !f.starts_with("_tributary/"))
        .collect()
}

/// The run manifests: run id → the files each lists.
fn manifests(lake: &Path) -> Vec<(String, BTreeSet<String>)> {
    let dir = lake.join("_tributary/manifests");
    let mut out: Vec<(String, BTreeSet<String>)> = fs::read_dir(&dir)
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let m: Value = serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap();
            let files = m["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["path"].as_str().unwrap().to_owned())
                .collect();
            (m["run_id"].as_str().unwrap().to_owned(), files)
        })
        .collect();
    out.sort();
    out
}

/// Exactly one generation: one manifest, listing exactly the visible data files, no commit in
/// flight, every thread once.
fn assert_one_generation(lake: &Path, format: &str, truth: u64, case: &str) {
    let m = manifests(lake);
    assert_eq!(m.len(), 1, "{case}: one run's manifest: {m:?}");
    let visible: BTreeSet<String> = data_files(lake).into_iter().collect();
    assert_eq!(visible, m[0].1, "{case}: the visible files are that run's");
    assert!(
        files(lake)
            .iter()
            .all(|f| !f.starts_with("_tributary/commits/")),
        "{case}: no commit left in flight"
    );
    assert!(
        files(&lake.join("_tributary/staging"))
            .iter()
            .all(|f| f.ends_with(".tmp")),
        "{case}: staging holds only .tmp files"
    );
    assert_eq!(
        duckdb_counts(lake, format),
        (truth, truth),
        "{case}: every thread exactly once"
    );
}

fn truth_len(emu: &Emu) -> u64 {
    emu.get().ground_truth().threads.len() as u64
}

fn ok(file: &Path) -> String {
    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(file));
    assert_eq!(code, 0, "{stderr}");
    stderr
}

#[test]
fn each_write_mode_run_twice_on_parquet_and_ndjson() {
    let emu = Emu::start(EmulatorConfig::default());
    let url = emu.get().base_url().to_owned();
    let truth = truth_len(&emu);
    let mut instagram = 0;
    for t in &emu.get().ground_truth().threads {
        instagram += u64::from(t.platform.as_str() == "instagram");
    }
    assert!(instagram > 0 && instagram < truth);
    for format in ["parquet", "ndjson"] {
        // append (written explicitly: no warning), the control: two copies.
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let lake_s = lake.to_str().unwrap();
        let file = pipeline(
            dir.path(),
            &url,
            (format, lake_s),
            "write_mode = \"append\"",
            "",
            false,
        );
        ok(&file);
        ok(&file);
        assert_eq!(duckdb_counts(&lake, format), (2 * truth, truth), "{format}");
        assert_eq!(manifests(&lake).len(), 2);

        // overwrite: the second run replaces the first.
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let lake_s = lake.to_str().unwrap();
        let file = pipeline(
            dir.path(),
            &url,
            (format, lake_s),
            "write_mode = \"overwrite\"",
            "",
            false,
        );
        ok(&file);
        let first = manifests(&lake);
        ok(&file);
        assert_one_generation(&lake, format, truth, &format!("{format} overwrite"));
        assert_ne!(manifests(&lake)[0].0, first[0].0, "the second run's files");
        // A file the sink did not write is never deleted.
        let foreign = lake.join("platform=instagram/README.txt");
        fs::write(&foreign, "kept").unwrap();
        ok(&file);
        assert!(foreign.exists());

        // overwrite_partitions: a second run reading only Instagram replaces only its partitions.
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let lake_s = lake.to_str().unwrap();
        let mode = "write_mode = \"overwrite_partitions\"";
        let file = pipeline(dir.path(), &url, (format, lake_s), mode, "", false);
        ok(&file);
        let first = manifests(&lake);
        let ig_only = "platforms = [\"instagram\"]";
        let file = pipeline(dir.path(), &url, (format, lake_s), mode, ig_only, false);
        ok(&file);
        assert_eq!(
            duckdb_counts(&lake, format),
            (truth, truth),
            "{format}: Instagram replaced, Messenger kept"
        );
        let now = manifests(&lake);
        assert_eq!(now.len(), 2, "{now:?}");
        // Run ids sort by second only: find the first run's by id.
        let (old, new) = if now[0].0 == first[0].0 {
            (&now[0], &now[1])
        } else {
            (&now[1], &now[0])
        };
        assert_eq!(old.0, first[0].0);
        assert!(old.1.iter().all(|f| f.starts_with("platform=messenger/")));
        assert!(new.1.iter().all(|f| f.starts_with("platform=instagram/")));
        assert_eq!(
            old.1.len() + new.1.len(),
            first[0].1.len(),
            "the same partitions, one file each"
        );
        let visible: BTreeSet<String> = data_files(&lake).into_iter().collect();
        assert_eq!(visible, old.1.union(&new.1).cloned().collect());

        // error_if_exists: the second run is refused, exit 1, nothing changes.
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let lake_s = lake.to_str().unwrap();
        let file = pipeline(
            dir.path(),
            &url,
            (format, lake_s),
            "write_mode = \"error_if_exists\"",
            "",
            false,
        );
        ok(&file);
        let before = files(&lake);
        let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains("error_if_exists")
                && stderr.contains(lake_s)
                && stderr.contains("nothing was written"),
            "{stderr}"
        );
        assert_eq!(files(&lake), before, "{format}: nothing written");
    }
}

/// Runs `file` with a crash point armed; it must die of SIGKILL there.
fn killed_at(file: &Path, point: &str, env: &[(&'static str, String)], case: &str) {
    let out = tributary()
        .env("TRIBUTARY_CRASH_AT", point)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["-q", "run"])
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(9),
        "{case}: the run must be killed at {point}:\n{stderr}"
    );
}

#[test]
fn an_overwrite_killed_at_any_step_is_finished_by_the_next_run_as_one_generation() {
    let emu = Emu::start(EmulatorConfig::default());
    let url = emu.get().base_url().to_owned();
    let truth = truth_len(&emu);
    // Small files: many renames and deletions per commit.
    let sink = "write_mode = \"overwrite\"\nmax_rows_per_file = 40";
    let both: &[&[&str]] = &[
        &["writer.prepared"],
        &["commit.rename:2"],
        &["commit.renamed"],
        &["commit.manifest"],
        &["commit.old_deleted:1"],
        &["commit.old_deleted:4"],
        &["commit.old_manifests"],
        // Killed again while the next run finishes the first kill's commit.
        &["commit.old_deleted:1", "commit.old_deleted:2"],
        &["commit.manifest", "commit.old_manifests"],
    ];
    for state in [false, true] {
        let mut cases: Vec<Vec<&str>> = both.iter().map(|c| c.to_vec()).collect();
        // Where each protocol keeps its write-ahead record.
        cases.push(vec![if state {
            "runtime.pending_written"
        } else {
            "commit.intent"
        }]);
        for points in cases {
            let case = format!("state={state} {}", points.join(" then "));
            let dir = tempfile::tempdir().unwrap();
            let lake = dir.path().join("lake");
            let file = pipeline(
                dir.path(),
                &url,
                ("parquet", lake.to_str().unwrap()),
                sink,
                "",
                state,
            );
            ok(&file);
            for point in &points {
                killed_at(&file, point, &[], &case);
            }
            ok(&file);
            assert_one_generation(&lake, "parquet", truth, &case);
        }
    }
}

/// Rows, distinct ids and object keys of the Parquet table under `s3://lake/<prefix>`.
const S3_READ: &str = r#"
import sys, json, boto3
import pyarrow.dataset as ds, pyarrow.fs as pafs
endpoint, prefix = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix=prefix + "/")
        for o in p.get("Contents", [])]
fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="test",
                       secret_key="test", region="us-east-1")
data = ["lake/" + k for k in keys if k.endswith(".parquet")]
t = ds.dataset(data, filesystem=fs, format="parquet").to_table(columns=["id", "updated_time"]) if data else None
pairs = set() if t is None else set(zip(t["id"].to_pylist(), t["updated_time"].to_pylist()))
print(json.dumps({"rows": 0 if t is None else t.num_rows, "distinct": len(pairs),
                  "keys": [k[len(prefix) + 1:] for k in keys]}))
"#;

#[test]
fn overwrite_and_overwrite_partitions_on_s3_keep_one_generation_across_a_kill() {
    let emu = Emu::start(EmulatorConfig::default());
    let url = emu.get().base_url().to_owned();
    let truth = truth_len(&emu);
    let server = tributary_testkit::S3Server::start();
    server.create_bucket("lake");
    let env: Vec<_> = server
        .env()
        .into_iter()
        .filter(|(k, _)| !matches!(*k, "AWS_ENDPOINT_URL" | "AWS_ALLOW_HTTP"))
        .collect();
    let read = || -> Value {
        let out = tributary_testkit::run_python(S3_READ, &[&server.endpoint, "t"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let store = format!(
        "endpoint = \"{}\"\nallow_http = true\nmax_rows_per_file = 40",
        server.endpoint
    );
    let dir = tempfile::tempdir().unwrap();
    let run_ok = |file: &Path| {
        let (code, _, stderr) = run(tributary()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["-q", "run"])
            .arg(file));
        assert_eq!(code, 0, "{stderr}");
    };
    let one_generation = |case: &str| {
        let got = read();
        assert_eq!(got["rows"], truth, "{case}: {got}");
        assert_eq!(got["distinct"], truth, "{case}");
        let keys: Vec<&str> = got["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let manifests = keys
            .iter()
            .filter(|k| k.starts_with("_tributary/manifests/"))
            .count();
        assert!(
            !keys.iter().any(|k| k.starts_with("_tributary/commits/")),
            "{case}: {keys:?}"
        );
        manifests
    };

    let overwrite = format!("write_mode = \"overwrite\"\n{store}");
    let file = pipeline(
        dir.path(),
        &url,
        ("parquet", "s3://lake/t"),
        &overwrite,
        "",
        false,
    );
    run_ok(&file);
    run_ok(&file);
    assert_eq!(one_generation("overwrite twice"), 1);
    for point in ["commit.old_deleted:2", "commit.manifest"] {
        killed_at(&file, point, &env, point);
        let got = read();
        assert!(
            got["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k.as_str().unwrap().starts_with("_tributary/commits/")),
            "{point}: the commit record is left for the next run: {got}"
        );
        run_ok(&file);
        assert_eq!(one_generation(point), 1, "{point}");
    }

    let partitions = format!("write_mode = \"overwrite_partitions\"\n{store}");
    let ig_only = "platforms = [\"instagram\"]";
    let file = pipeline(
        dir.path(),
        &url,
        ("parquet", "s3://lake/t"),
        &partitions,
        ig_only,
        false,
    );
    run_ok(&file);
    run_ok(&file);
    assert_eq!(
        one_generation("overwrite_partitions"),
        2,
        "the Messenger partitions' run and the Instagram one"
    );
}

/// Per table version: `deltalake` rows and distinct ids, polars rows; then the operations.
const DELTA_VERSIONS: &str = r#"
import sys, json
from deltalake import DeltaTable
import polars as pl
uri = sys.argv[1]
latest = DeltaTable(uri).version()
out = []
for v in range(latest + 1):
    t = DeltaTable(uri, version=v).to_pyarrow_table(columns=["id"])
    out.append([t.num_rows, len(set(t["id"].to_pylist())), pl.read_delta(uri, version=v).height])
print(json.dumps({"versions": out, "ops": [h.get("operation") for h in DeltaTable(uri).history()]}))
"#;

/// Reads the table's newest version in a loop until `stop` exists: each read's rows and
/// distinct ids, by `deltalake` and polars.
const DELTA_POLL: &str = r#"
import sys, os, json
from deltalake import DeltaTable
import polars as pl
uri, stop, ready = sys.argv[1], sys.argv[2], sys.argv[3]
seen = []
open(ready, "w").close()
while not os.path.exists(stop) or not seen:
    t = DeltaTable(uri).to_pyarrow_table(columns=["id"])
    p = pl.read_delta(uri)
    seen.append([t.num_rows, len(set(t["id"].to_pylist())), p.height, p["id"].n_unique()])
print(json.dumps(seen))
"#;

#[test]
fn delta_overwrite_swaps_generations_in_one_commit_and_readers_never_see_a_mix() {
    let emu = Emu::start(EmulatorConfig::default());
    let url = emu.get().base_url().to_owned();
    let truth = truth_len(&emu);
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("table");
    let uri = table.to_str().unwrap();
    let file = pipeline(
        dir.path(),
        &url,
        ("delta", uri),
        "mode = \"overwrite\"\ntarget_file_size = \"1MiB\"",
        "",
        true,
    );
    ok(&file);
    ok(&file);

    // A reader polling the newest version while two more overwrites commit.
    let stop = dir.path().join("stop");
    let ready = dir.path().join("ready");
    let script = dir.path().join("poll.py");
    fs::write(&script, DELTA_POLL).unwrap();
    let poller = std::process::Command::new(tributary_testkit::python())
        .arg(&script)
        .args([uri, stop.to_str().unwrap(), ready.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !ready.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ok(&file);
    ok(&file);
    fs::write(&stop, "").unwrap();
    let out = poller.wait_with_output().unwrap();
    let seen: Vec<Vec<u64>> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!seen.is_empty());
    for read in &seen {
        assert_eq!(read, &vec![truth; 4], "every read is one whole generation");
    }

    // Every version of the table, read by deltalake and polars: empty (created) or one whole
    // generation, never two and never part of one.
    let out = tributary_testkit::run_python(DELTA_VERSIONS, &[uri]);
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let versions = got["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 5, "create + 4 overwrites: {got}");
    assert_eq!(versions[0], serde_json::json!([0, 0, 0]));
    for v in &versions[1..] {
        assert_eq!(v, &serde_json::json!([truth, truth, truth]), "{got}");
    }
    let writes = got["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o.as_str() == Some("WRITE"))
        .count();
    assert_eq!(writes, 4, "one commit per run: {got}");

    // Sharded, an overwrite would erase the other shards' rows: refused before writing.
    let (code, _, stderr) = run(tributary().args(["-q", "run", "--shard", "0/2"]).arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("erase") && stderr.contains("merge"),
        "{stderr}"
    );
}

#[test]
fn validate_and_run_warn_when_every_run_appends_a_full_copy() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_s = lake.to_str().unwrap();
    let validate = |sink_type: &str, sink: &str, source: &str, state: bool| -> String {
        let file = pipeline(
            dir.path(),
            "http://127.0.0.1:9",
            (sink_type, lake_s),
            sink,
            source,
            state,
        );
        let (code, _, stderr) = run(tributary().arg("validate").arg(&file));
        assert_eq!(code, 0, "{stderr}");
        stderr
    };
    let full_copy = "every run appends a full copy";
    // A full extract appending by default: warned, located, with the fix.
    let e = validate("parquet", "", "", false);
    assert!(e.contains(full_copy) && e.contains("sources.pages"), "{e}");
    assert!(e.contains("write_mode = \"overwrite\""), "{e}");
    assert!(e.contains("p.toml:14:8"), "points at [sinks.lake]: {e}");
    // With a state the full extract still copies everything.
    assert!(validate("ndjson", "", "", true).contains(full_copy));
    // Incremental without a state reads everything too.
    let e = validate("parquet", "", "mode = \"incremental\"", false);
    assert!(
        e.contains(full_copy) && e.contains("without `[pipeline] state`"),
        "{e}"
    );
    // The delta sink names its own key.
    let e = validate("delta", "", "", false);
    assert!(
        e.contains(full_copy) && e.contains("mode = \"overwrite\""),
        "{e}"
    );
    // Not warned: overwrite, an explicit append, incremental with a state.
    for (sink, source, state) in [
        ("write_mode = \"overwrite\"", "", false),
        ("write_mode = \"append\"", "", false),
        ("", "mode = \"incremental\"", true),
    ] {
        let e = validate("parquet", sink, source, state);
        assert!(!e.contains("warning"), "{sink} {source} {state}: {e}");
    }
    // Overwriting with increments keeps only the latest changes: warned too.
    let e = validate(
        "parquet",
        "write_mode = \"overwrite\"",
        "mode = \"incremental\"",
        true,
    );
    assert!(e.contains("only the latest changes"), "{e}");

    // `run` prints the warning as well.
    let emu = Emu::start(EmulatorConfig::default());
    let file = pipeline(
        dir.path(),
        emu.get().base_url(),
        ("parquet", lake_s),
        "",
        "",
        false,
    );
    let (code, _, stderr) = run(tributary().args(["-q", "run"]).arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(full_copy), "{stderr}");
}
