//! Whole pipelines through the command line, against the embedded emulator, read back by DuckDB.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use crate::{embedded_truth, root, run, tributary};

/// Copies `pipelines/NAME` into a fresh directory (outputs are relative to it).
fn workdir(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    fs::copy(root().join("pipelines").join(name), &file).unwrap();
    (dir, file)
}

fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
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
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out
}

fn duckdb(sql: &str) -> String {
    let script = "import duckdb,sys\nfor row in duckdb.sql(sys.argv[1]).fetchall(): print('|'.join(str(v) for v in row))";
    let out = tributary_testkit::run_python(script, &[sql]);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_demo_writes_every_thread_once_and_duckdb_reads_it() {
    let (dir, file) = workdir("demo.toml");
    let report = dir.path().join("report.json");
    let (code, stdout, stderr) = run(tributary()
        .current_dir(dir.path())
        .arg("run")
        .arg(&file)
        .arg("--report")
        .arg(&report));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("page_id"),
        "the console table is printed:\n{stdout}"
    );

    let truth = embedded_truth();
    let base = dir.path().join("out/demo/conversations");
    let glob = format!("{}/**/*.parquet", base.display());
    let counted = duckdb(&format!(
        "select count(*), count(distinct id), count(distinct platform || folder) from read_parquet('{glob}', hive_partitioning=1)"
    ));
    let n = truth.threads.len();
    assert_eq!(
        counted,
        format!("{n}|{n}|8"),
        "every thread exactly once, both platforms x 4 folders"
    );
    // The ids and their partitions are exactly the emulator's.
    let listed = duckdb(&format!(
        "select id, platform, folder from read_parquet('{glob}', hive_partitioning=1) order by id"
    ));
    let mut expected: Vec<String> = truth
        .threads
        .iter()
        .map(|t| format!("{}|{}|{}", t.id, t.platform.as_str(), t.folder.as_str()))
        .collect();
    expected.sort();
    let mut got: Vec<&str> = listed.lines().collect();
    got.sort();
    assert_eq!(got, expected);

    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(report).unwrap()).unwrap();
    let lake = report["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "lake")
        .unwrap();
    assert_eq!(lake["report"]["rows"], n as u64);
    assert_eq!(
        lake["report"]["files"].as_u64().unwrap() as usize,
        parquet_files(&base).len()
    );
}

#[test]
fn the_fan_out_example_writes_instagram_inbox_threads_and_every_message() {
    let (dir, file) = workdir("ig-inbox-and-messages.toml");
    let (code, _, stderr) = run(tributary().current_dir(dir.path()).arg("run").arg(&file));
    assert_eq!(code, 0, "{stderr}");
    let truth = embedded_truth();
    let ig_inbox = truth
        .threads
        .iter()
        .filter(|t| t.platform.as_str() == "instagram" && t.folder.as_str() == "inbox")
        .count();
    let messages: usize = truth
        .threads
        .iter()
        .map(|t| t.message_ids.len().min(20))
        .sum();
    let convs = duckdb(&format!(
        "select count(*), count(distinct platform), min(folder) from read_parquet('{}/out/ig_inbox/**/*.parquet')",
        dir.path().display()
    ));
    assert_eq!(convs, format!("{ig_inbox}|1|inbox"));
    let msgs = duckdb(&format!(
        "select count(*), count(distinct id) from read_parquet('{}/out/messages/**/*.parquet')",
        dir.path().display()
    ));
    assert_eq!(
        msgs,
        format!("{messages}|{messages}"),
        "one row per message of every thread"
    );
}

/// A pipeline over the embedded emulator, `rate` calls per second per page, with `rest` (TOML)
/// after its source table: more keys of `[sources.pages]`, then the sinks.
pub(crate) fn pipeline_with(dir: &Path, rate: u32, rest: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[sources.pages]
type = "graph_conversations"
base_url = "embedded"
pages = ["104857600000001", "104857600000002", "104857600000003", "104857600000004"]
access_token = "${{FB_PAGE_TOKEN:-demo-token}}"
requests_per_second_per_page = {rate}
{rest}
"#
    );
    let file = dir.join("p.toml");
    fs::write(&file, text).unwrap();
    file
}

#[test]
fn a_failing_sink_fails_the_run_with_exit_1_and_no_sink_commits() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let sinks = format!(
        "[sinks.good]\ntype = \"parquet\"\ninputs = [\"pages\"]\npath = \"{}\"\n\n[sinks.bad]\ntype = \"parquet\"\ninputs = [\"pages\"]\npath = \"/dev/null/cannot\"\n",
        good.display()
    );
    let file = pipeline_with(dir.path(), 50, &sinks);
    let (code, _, stderr) = run(tributary().arg("run").arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("sinks.bad"),
        "the error names the failing sink:\n{stderr}"
    );
    assert!(
        parquet_files(&good).is_empty(),
        "the healthy sink committed nothing"
    );
}

#[test]
fn ctrl_c_stops_the_run_with_exit_1_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // One call per second per page: the run takes far longer than the test waits.
    let sinks = format!(
        "[sinks.lake]\ntype = \"parquet\"\ninputs = [\"pages\"]\npath = \"{}\"\n",
        lake.display()
    );
    let file = pipeline_with(dir.path(), 1, &sinks);
    let mut child = tributary()
        .arg("run")
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // Wait until the source is running, then interrupt.
    for line in lines.by_ref() {
        if line.unwrap().contains("embedded Graph emulator") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(1), "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("nothing from this run was committed")),
        "{rest:?}"
    );
    assert!(
        parquet_files(&lake).is_empty(),
        "no visible parquet file after an interrupt"
    );
}

#[test]
fn an_invalid_token_fails_with_an_actionable_message_that_never_shows_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_with(
        dir.path(),
        50,
        "[sinks.out]\ntype = \"stdout\"\ninputs = [\"pages\"]\n",
    );
    let canary = "EAAB-canary-4f9d2c-not-a-real-token";
    let (code, stdout, stderr) = run(tributary()
        .env("FB_PAGE_TOKEN", canary)
        .args(["-vv", "run"])
        .arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        !stderr.contains(canary) && !stdout.contains(canary),
        "the token leaked:\n{stderr}"
    );
    assert!(
        stderr.contains("190"),
        "names the Graph error code:\n{stderr}"
    );
    assert!(stderr.contains("104857600000"), "names the page:\n{stderr}");
}
