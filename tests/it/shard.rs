//! Sharded runs: N worker processes, one emulator, one output prefix.

use std::fs;

use graph_emulator::EmulatorConfig;

use crate::{Emu, tributary};

#[test]
fn four_concurrent_shards_cover_every_page_exactly_once_into_one_prefix() {
    let graph = Emu::start(EmulatorConfig {
        pages: 12,
        ..Default::default()
    });
    let emu = graph.get();
    let truth = emu.ground_truth();
    let dir = tempfile::tempdir().unwrap();
    let pages_file = dir.path().join("pages.csv");
    let mut csv = String::from("name,page_id\n");
    for (i, id) in emu.page_ids().iter().enumerate() {
        csv.push_str(&format!("Page {i},{id}\n"));
    }
    fs::write(&pages_file, csv).unwrap();
    let lake = dir.path().join("lake");
    let pipeline = dir.path().join("p.toml");
    fs::write(
        &pipeline,
        format!(
            r#"
[pipeline]
name = "sharded"
state = "{state}"

[sources.pages]
type = "graph_conversations"
base_url = "{url}"
access_token = "demo-token"
pages_file = "{pages}"
requests_per_second_per_page = 50

[sinks.lake]
type = "parquet"
inputs = ["pages"]
path = "{lake}"
partition_by = ["platform", "folder"]
"#,
            state = dir.path().join("state.json").display(),
            url = emu.base_url(),
            pages = pages_file.display(),
            lake = lake.display(),
        ),
    )
    .unwrap();
    // Workers run at the same time, as a Kubernetes Indexed Job would start them.
    crate::all_succeed_concurrently((0..4).map(|k| {
        let mut cmd = tributary();
        cmd.args(["-q", "run"])
            .arg(&pipeline)
            .args(["--shards", "4"])
            .env("JOB_COMPLETION_INDEX", k.to_string());
        cmd
    }));
    // Each shard kept its own state file; file names carry the shard.
    for k in 0..4 {
        assert!(
            dir.path().join(format!("state.s{k}of4.json")).exists(),
            "state of shard {k}"
        );
    }
    let glob = format!("{}/**/*.parquet", lake.display());
    let script = "import duckdb,sys\nprint(duckdb.sql(f\"select count(*), count(distinct id), count(distinct regexp_extract(filename, '-(s[0-9]of4)-', 1)) from read_parquet('{sys.argv[1]}', hive_partitioning=1, filename=true)\").fetchall()[0])";
    let out = tributary_testkit::run_python(script, &[&glob]);
    let n = truth.threads.len();
    let got = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        got.trim(),
        format!("({n}, {n}, 4)"),
        "every thread once, written by all 4 shards"
    );
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    let (code, _, stderr) =
        crate::run(tributary().args(["run", "pipelines/demo.toml", "--shard", "4/4"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("out of range"), "{stderr}");
    let (code, _, stderr) = crate::run(
        tributary()
            .args(["run", "pipelines/demo.toml", "--shards", "4"])
            .env_remove("JOB_COMPLETION_INDEX"),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("JOB_COMPLETION_INDEX"), "{stderr}");
}
