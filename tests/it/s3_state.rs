//! State, run lock and a Parquet lake on an S3-compatible store (README, *State and lake on object
//! storage*), against a real server on loopback (`moto_server`): `[pipeline.state]` with
//! `endpoint` and `allow_http`, a run killed at every commit step finished exactly once by the
//! next, a concurrent run refused by the lock, a dead run's lock taken over, and errors that say
//! what to do (plain HTTP, missing bucket, unreachable endpoint) without a credential, even at
//! `-vv`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use graph_emulator::EmulatorConfig;
use tributary_testkit::S3Server;

use crate::{Emu, run, tributary};

/// The secret access key the runs get (moto accepts any): it must never come back out.
const SECRET: &str = "s3cr3t-Wq7pL4-state-never-print-me";

/// Credentials and region from the environment (the production path), with a recognizable
/// secret; endpoint and plain HTTP only from the pipeline (`AWS_ALLOW_HTTP` must not count).
fn env(server: &S3Server) -> Vec<(&'static str, String)> {
    server
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
        .collect()
}

/// A pipeline with its state in `[pipeline.state]` at `s3://lake/<prefix>/state.json` and its
/// Parquet lake at `s3://lake/<prefix>/raw`, both through `endpoint`.
fn pipeline(dir: &Path, emu: &str, endpoint: &str, prefix: &str, rps: u32) -> PathBuf {
    crate::lake_pipeline(dir, "s3state", "s3://lake", emu, endpoint, prefix, rps)
}

/// `(id, updated_time)` of every committed row under `s3://lake/<prefix>/raw`, read by pyarrow
/// (staging and bookkeeping under `_tributary/` are not part of the table), sorted.
fn committed(server: &S3Server, prefix: &str) -> Vec<String> {
    let script = r#"
import sys, pyarrow.fs as pafs, pyarrow.parquet as pq
s3 = pafs.S3FileSystem(endpoint_override=sys.argv[1], scheme="http", access_key="test",
                       secret_key="test", region="us-east-1")
sel = pafs.FileSelector(sys.argv[2], recursive=True, allow_not_found=True)
for info in s3.get_file_info(sel):
    if info.type != pafs.FileType.File or "/_tributary/" in info.path:
        continue
    t = pq.read_table(info.path, filesystem=s3, columns=["id", "updated_time"])
    for i, u in zip(t.column("id").to_pylist(), t.column("updated_time").to_pylist()):
        print(f"{i}|{u}")
"#;
    let endpoint = server.endpoint.trim_start_matches("http://");
    let out = tributary_testkit::run_python(script, &[endpoint, &format!("lake/{prefix}/raw")]);
    let mut rows: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    rows.sort();
    rows
}

/// Writes `body` at `s3://lake/<key>` when given (boto3); returns whether `key` exists then.
fn object(server: &S3Server, key: &str, body: Option<&str>) -> bool {
    let script = r#"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
if len(sys.argv) > 3:
    s3.put_object(Bucket="lake", Key=sys.argv[2], Body=sys.argv[3].encode())
r = s3.list_objects_v2(Bucket="lake", Prefix=sys.argv[2])
print("yes" if any(o["Key"] == sys.argv[2] for o in r.get("Contents", [])) else "no")
"#;
    let mut args = vec![server.endpoint.as_str(), key];
    if let Some(b) = body {
        args.push(b);
    }
    let out = tributary_testkit::run_python(script, &args);
    String::from_utf8(out.stdout).unwrap().trim() == "yes"
}

fn no_secret(case: &str, texts: &[&str]) {
    for t in texts {
        assert!(!t.contains(SECRET), "{case}: the secret leaked:\n{t}");
        assert!(
            !t.contains("builder error"),
            "{case}: a bare builder error reached the user:\n{t}"
        );
    }
}

#[test]
fn state_lock_and_lake_on_s3_survive_a_kill_at_every_commit_step_exactly_once() {
    let graph = Emu::start(EmulatorConfig::default());
    let emu = graph.get().base_url().to_owned();
    let server = S3Server::start();
    server.create_bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    let env = env(&server);

    // The reference: one clean run; the state and its lock live on S3 (no local file).
    let reference = pipeline(dir.path(), &emu, &server.endpoint, "ref", 500);
    let (code, _, stderr) = run(tributary()
        .envs(env.clone())
        .args(["-q", "run"])
        .arg(&reference));
    assert_eq!(code, 0, "{stderr}");
    let truth = committed(&server, "ref");
    assert!(truth.len() > 100, "{} rows", truth.len());
    let distinct: BTreeSet<&String> = truth.iter().collect();
    assert_eq!(distinct.len(), truth.len(), "no row twice");
    assert!(object(&server, "ref/state.json", None), "state on S3");
    assert!(
        !object(&server, "ref/state.json.lock", None),
        "lock released"
    );
    assert!(!dir.path().join("ref").exists());
    // The state works: a second run reads nothing new and commits nothing.
    let (code, _, stderr) = run(tributary()
        .envs(env.clone())
        .args(["-q", "run"])
        .arg(&reference));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(committed(&server, "ref"), truth, "the rerun adds nothing");
    let (code, shown, stderr) = run(tributary()
        .envs(env.clone())
        .args(["state", "show"])
        .arg(&reference));
    assert_eq!(code, 0, "{stderr}");
    assert!(shown.contains("104857600000002/instagram/inbox"), "{shown}");

    let cases: &[&[&str]] = &[
        &["lock.acquired"],
        &["source.page:3"],
        &["writer.file_closed:1"],
        &["writer.prepared"],
        &["runtime.prepared"],
        &["runtime.pending_written"],
        &["commit.rename:1"],
        &["commit.renamed"],
        &["commit.manifest"],
        &["runtime.committed"],
        &["state.stored:2"],
        &["runtime.state_final"],
        &["runtime.pending_written", "commit.rename:2"],
        &["runtime.pending_written", "rollforward.done"],
    ];
    for (i, points) in cases.iter().enumerate() {
        let case = points.join(" then ");
        let prefix = format!("crash{i}");
        let file = pipeline(dir.path(), &emu, &server.endpoint, &prefix, 500);
        for point in *points {
            let out = tributary()
                .envs(env.clone())
                .env("TRIBUTARY_CRASH_AT", point)
                .args(["-q", "run"])
                .arg(&file)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&out.status),
                Some(9),
                "{case}: killed at {point}:\n{stderr}"
            );
        }
        let (code, _, stderr) = run(tributary().envs(env.clone()).args(["-q", "run"]).arg(&file));
        assert_eq!(code, 0, "{case}: the rerun succeeds:\n{stderr}");
        assert_eq!(
            committed(&server, &prefix),
            truth,
            "{case}: every row exactly once"
        );
        assert!(
            !object(&server, &format!("{prefix}/state.json.lock"), None),
            "{case}: the lock is released"
        );
    }
}

#[test]
fn a_concurrent_run_on_s3_is_refused_and_a_dead_runs_lock_is_taken_over() {
    let graph = Emu::start(EmulatorConfig::default());
    let emu = graph.get().base_url().to_owned();
    let server = S3Server::start();
    server.create_bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    let env = env(&server);

    // A paced run (2 calls per second per Page: seconds long) holds the lock; a second run on
    // the same state, started meanwhile, is refused and names the holder.
    let slow = pipeline(dir.path(), &emu, &server.endpoint, "busy", 2);
    let first = tributary()
        .envs(env.clone())
        .args(["-q", "run"])
        .arg(&slow)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !object(&server, "busy/state.json.lock", None) {
        assert!(
            Instant::now() < deadline,
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, _, stderr) = run(tributary().envs(env.clone()).args(["-q", "run"]).arg(&slow));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("another run holds the state s3://lake/busy/state.json"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = committed(&server, "busy");
    assert!(!rows.is_empty());

    // A lock left by a process that is gone from this host is taken over; one whose process
    // is alive, or one of another host within the TTL, is not.
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let now = String::from_utf8(
        std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let lock = |pid: u32, host: &str| {
        format!(
            r#"{{"pid": {pid}, "host": "{host}", "run_id": "held-by-{pid}", "started": "{}"}}"#,
            now
        )
    };
    let file = pipeline(dir.path(), &emu, &server.endpoint, "stale", 500);
    for (holder, live) in [
        (lock(std::process::id(), &host), true),
        (lock(dead_pid, "another-host.example"), true),
        (lock(dead_pid, &host), false),
    ] {
        assert!(object(&server, "stale/state.json.lock", Some(&holder)));
        let (code, _, stderr) = run(tributary().envs(env.clone()).args(["run"]).arg(&file));
        if live {
            assert_eq!(code, 1, "{holder}: refused:\n{stderr}");
            assert!(stderr.contains("another run holds the state"), "{stderr}");
            assert!(stderr.contains("held-by-"), "{stderr}");
        } else {
            assert_eq!(code, 0, "{holder}: taken over:\n{stderr}");
            assert!(stderr.contains("taking over a stale run lock"), "{stderr}");
            assert!(!object(&server, "stale/state.json.lock", None));
        }
    }
}

#[test]
fn object_store_errors_name_the_url_and_the_fix_never_a_credential_even_at_vv() {
    let server = S3Server::start();
    server.create_bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    let env = env(&server);
    let emu = "embedded";
    let unreachable = format!("http://127.0.0.1:{}", tributary_testkit::free_port());

    // The issue's case: the short form, endpoint and AWS_ALLOW_HTTP only in the environment.
    let short = dir.path().join("short.toml");
    fs::write(
        &short,
        fs::read_to_string(pipeline(dir.path(), emu, &server.endpoint, "short", 500))
            .unwrap()
            .replace(
                &format!(
                    "[pipeline.state]\npath = \"s3://lake/short/state.json\"\nendpoint = \"{}\"\nallow_http = true",
                    server.endpoint
                ),
                "state = \"s3://lake/short/state.json\"",
            ),
    )
    .unwrap();
    let missing = fs::read_to_string(pipeline(dir.path(), emu, &server.endpoint, "x", 500))
        .unwrap()
        .replace("s3://lake/x/state.json", "s3://nolake/x/state.json");
    let missing_file = dir.path().join("missing.toml");
    fs::write(&missing_file, missing).unwrap();
    let missing_sink = fs::read_to_string(pipeline(dir.path(), emu, &server.endpoint, "y", 500))
        .unwrap()
        .replace("s3://lake/y/raw", "s3://nolake/y/raw");
    let missing_sink_file = dir.path().join("missing-sink.toml");
    fs::write(&missing_sink_file, missing_sink).unwrap();
    let down = pipeline(dir.path(), emu, &unreachable, "z", 500);

    let cases: [(&str, &Path, Vec<&str>); 4] = [
        (
            "plain HTTP from the environment",
            &short,
            vec![
                "s3://lake/short/state.json",
                &server.endpoint,
                "allow_http = true",
                "only for a local endpoint",
            ],
        ),
        (
            "state bucket missing",
            &missing_file,
            vec![
                "s3://nolake/x/state.json.lock",
                "the bucket does not exist",
                "create it",
            ],
        ),
        (
            "sink bucket missing",
            &missing_sink_file,
            vec![
                "sinks.lake",
                "s3://nolake/y/raw",
                "the bucket does not exist",
            ],
        ),
        (
            "endpoint unreachable",
            &down,
            vec!["cannot reach the store", &unreachable, "check `endpoint`"],
        ),
    ];
    for (case, file, expect) in cases {
        let (code, stdout, stderr) = run(tributary()
            .envs(env.clone())
            .env("AWS_ENDPOINT_URL", &server.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .args(["-vv", "run"])
            .arg(file));
        assert_eq!(code, 1, "{case}:\n{stderr}");
        let error = stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("{case}: no error line:\n{stderr}"));
        for e in expect {
            assert!(error.contains(e), "{case}: `{e}` missing from:\n{error}");
        }
        no_secret(case, &[&stdout, &stderr]);
    }

    // And a run that works, at -vv: the secret is in no log line, nor in the state.
    let ok = pipeline(dir.path(), emu, &server.endpoint, "ok", 500);
    let (code, stdout, stderr) = run(tributary().envs(env.clone()).args(["-vv", "run"]).arg(&ok));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.lines().count() > 20, "-vv logs: {stderr}");
    no_secret("ok", &[&stdout, &stderr]);
    let (code, shown, _) = run(tributary().envs(env).args(["state", "show"]).arg(&ok));
    assert_eq!(code, 0);
    no_secret("state", &[&shown]);
}

/// The take-over race: several runs find the same dead run's lock at once. Each replaces it only
/// on the version it judged stale (a conditional put), so exactly one wins; the others are
/// refused by the winner's lock. Runs are paced (seconds long) so they overlap.
#[test]
fn of_runs_racing_to_take_over_a_dead_lock_on_s3_exactly_one_wins() {
    let graph = Emu::start(EmulatorConfig::default());
    let emu = graph.get().base_url().to_owned();
    let server = S3Server::start();
    server.create_bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    let env = env(&server);
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let file = pipeline(dir.path(), &emu, &server.endpoint, "race", 2);
    let stale = format!(
        r#"{{"pid": {dead_pid}, "host": "{host}", "run_id": "dead", "started": "2026-01-01T00:00:00Z"}}"#
    );
    assert!(object(&server, "race/state.json.lock", Some(&stale)));
    let runs: Vec<_> = (0..4)
        .map(|_| {
            tributary()
                .envs(env.clone())
                .args(["run"])
                .arg(&file)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<(i32, String)> = runs
        .into_iter()
        .map(|r| {
            let out = r.wait_with_output().unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect();
    let won: Vec<_> = outcomes.iter().filter(|(c, _)| *c == 0).collect();
    assert_eq!(
        won.len(),
        1,
        "exactly one run takes the lock: {outcomes:#?}"
    );
    for (code, stderr) in &outcomes {
        if *code != 0 {
            assert_eq!(*code, 1, "{stderr}");
            assert!(stderr.contains("another run holds the state"), "{stderr}");
        }
    }
    let rows = committed(&server, "race");
    let distinct: BTreeSet<&String> = rows.iter().collect();
    assert_eq!(distinct.len(), rows.len(), "no row twice");
}

/// The Delta sink with its table and the state both on the same S3 server: a run killed around
/// the Delta commit is finished exactly once by the next (the write-ahead record lives in the
/// state on S3), read back by `deltalake`.
#[test]
fn a_delta_table_with_its_state_on_s3_is_committed_exactly_once_across_kills() {
    let graph = Emu::start(EmulatorConfig::default());
    let emu = graph.get().base_url().to_owned();
    let server = S3Server::start();
    server.create_bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    let env = env(&server);
    let delta = |prefix: &str| {
        let text = fs::read_to_string(pipeline(dir.path(), &emu, &server.endpoint, prefix, 500))
            .unwrap()
            .replace("type = \"parquet\"", "type = \"delta\"")
            .replace("max_rows_per_file = 120\n", "");
        let file = dir.path().join(format!("{prefix}-delta.toml"));
        fs::write(&file, text).unwrap();
        file
    };
    let read = |prefix: &str| -> Vec<String> {
        let script = r#"
import sys, json, deltalake
opts = {"AWS_ENDPOINT_URL": sys.argv[1], "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}
t = deltalake.DeltaTable(sys.argv[2], storage_options=opts).to_pyarrow_table(columns=["id", "updated_time"])
for i, u in zip(t.column("id").to_pylist(), t.column("updated_time").to_pylist()):
    print(f"{i}|{u}")
"#;
        let uri = format!("s3://lake/{prefix}/raw");
        let out = tributary_testkit::run_python(script, &[&server.endpoint, &uri]);
        let mut rows: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        rows.sort();
        rows
    };
    let reference = delta("dref");
    let (code, _, stderr) = run(tributary()
        .envs(env.clone())
        .args(["-q", "run"])
        .arg(&reference));
    assert_eq!(code, 0, "{stderr}");
    let truth = read("dref");
    assert!(truth.len() > 100, "{} rows", truth.len());
    assert_eq!(truth.iter().collect::<BTreeSet<_>>().len(), truth.len());
    for (i, point) in [
        "runtime.pending_written",
        "delta.before_commit",
        "delta.committed",
        "runtime.committed",
    ]
    .iter()
    .enumerate()
    {
        let prefix = format!("dcrash{i}");
        let file = delta(&prefix);
        let out = tributary()
            .envs(env.clone())
            .env("TRIBUTARY_CRASH_AT", point)
            .args(["-q", "run"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "{point}: killed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (code, _, stderr) = run(tributary().envs(env.clone()).args(["-q", "run"]).arg(&file));
        assert_eq!(code, 0, "{point}: the rerun succeeds:\n{stderr}");
        assert_eq!(read(&prefix), truth, "{point}: exactly once");
    }
}
