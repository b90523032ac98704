//! Integration tests of the `delta` sink: tables read back by the Python `deltalake` package
//! (delta-rs' Python binding, but its own reader stack: pyarrow) and `polars.read_delta`;
//! merges, concurrent writers, the two-phase commit's idempotence, schema checks, and a round
//! trip through a real S3-compatible server.

// Test code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod s3;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema};
use serde_json::Value;
use sink_delta::{Delta, DeltaConfig};
use tributary_core::canonical::conversations_schema;
use tributary_core::plugin::{BuildContext, BuildInput, RunContext, Sink, SinkPlugin};
use tributary_testkit::batches::canonical;
use tributary_testkit::sinks::{run, s};

/// Builds the sink from a TOML table, as the pipeline loader would.
pub fn build(toml_table: &str, schema: arrow::datatypes::SchemaRef) -> Box<dyn Sink> {
    try_build(toml_table, schema).expect("builds")
}

fn try_build(
    toml_table: &str,
    schema: arrow::datatypes::SchemaRef,
) -> Result<Box<dyn Sink>, tributary_core::BuildError> {
    let config: DeltaConfig = toml::from_str(toml_table).expect("config parses");
    let input = BuildInput {
        schema,
        domains: Vec::new(),
    };
    Delta::build(config, &input, &BuildContext::sink("test", "table"))
}

/// Python that reads the table at argv[1] with `deltalake` and polars and prints a summary.
pub const READ: &str = r#"
import sys, json, os
from deltalake import DeltaTable
import pyarrow as pa
import polars as pl
uri = sys.argv[1]
opts = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
dt = DeltaTable(uri, storage_options=opts)
t = dt.to_pyarrow_table()
rows = t.select(["page_id", "platform", "folder", "id", "updated_time", "message_count"]).to_pylist()
keys = sorted(f"{r['page_id']}|{r['platform']}|{r['folder']}|{r['id']}|{r['updated_time'].isoformat()}|{r['message_count']}" for r in rows)
adds = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
parts = []
for a in adds:
    pv = {k[len('partition.'):]: v for k, v in a.items() if k.startswith('partition.')}
    parts.append({"path": a["path"], "values": {k: str(v) for k, v in pv.items()}})
pol = pl.read_delta(uri, storage_options=opts)
messages = t.column("messages").to_pylist()
out = {
    "version": dt.version(),
    "rows": t.num_rows,
    "keys": keys,
    "partition_columns": dt.metadata().partition_columns,
    "files": parts,
    "polars_rows": pol.height,
    "polars_ids": sorted(pol["id"].to_list()),
    "message_lengths": sorted(len(m or []) for m in messages),
    "updated_time_type": str(t.schema.field("updated_time").type),
    "history": [h.get("operation") for h in dt.history()],
}
print(json.dumps(out))
sys.stdout.flush()
# pyarrow's S3 client may abort at interpreter exit, after the output is flushed.
os._exit(0)
"#;

/// Reads the table with Python.
pub fn read(uri: &str, storage_options: Option<&Value>) -> Value {
    let opts = storage_options.map(Value::to_string);
    let mut args = vec![uri];
    if let Some(o) = &opts {
        args.push(o);
    }
    let out = tributary_testkit::run_python(READ, &args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "reader output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The key lines the reader prints for `batch`'s rows.
fn keys_of(batch: &RecordBatch) -> Vec<String> {
    let col = |name: &str| {
        arrow::compute::cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap()
    };
    let (p, pl, f, id, n) = (
        col("page_id"),
        col("platform"),
        col("folder"),
        col("id"),
        col("message_count"),
    );
    let t = batch
        .column_by_name("updated_time")
        .unwrap()
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .unwrap();
    let s = |a: &ArrayRef, i: usize| {
        a.as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(i)
            .to_owned()
    };
    let mut out: Vec<String> = (0..batch.num_rows())
        .map(|i| {
            let time = chrono::DateTime::from_timestamp_millis(t.value(i))
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%:z");
            format!(
                "{}|{}|{}|{}|{time}|{}",
                s(&p, i),
                s(&pl, i),
                s(&f, i),
                s(&id, i),
                s(&n, i)
            )
        })
        .collect();
    out.sort();
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

fn table_url(dir: &std::path::Path) -> String {
    s(dir).to_owned()
}

#[tokio::test]
async fn creates_appends_and_readers_see_every_row_in_the_right_partition() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let config = format!(
        "path = \"{}\"\npartition_by = [\"platform\", \"folder\"]",
        s(&path)
    );
    let first = canonical(500, 3);
    let report = run(
        build(&config, conversations_schema()),
        &RunContext::for_test("table"),
        std::slice::from_ref(&first),
    )
    .await;
    assert_eq!(report.rows, 500);
    assert!(
        report.files >= 8,
        "one file per partition at least: {report:?}"
    );
    let got = read(&table_url(&path), None);
    assert_eq!(got["version"], 1, "create, then one append: {got}");
    assert_eq!(got["rows"], 500);
    assert_eq!(got["polars_rows"], 500);
    assert_eq!(strings(&got["keys"]), keys_of(&first));
    assert_eq!(
        got["partition_columns"],
        serde_json::json!(["platform", "folder"])
    );
    assert_eq!(got["updated_time_type"], "timestamp[us, tz=UTC]");
    assert!(
        got["message_lengths"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n == 3),
        "nested messages survive"
    );
    // Every file lives under the directories of its partition values.
    for f in got["files"].as_array().unwrap() {
        let p = f["path"].as_str().unwrap();
        let v = &f["values"];
        assert!(
            p.starts_with(&format!(
                "platform={}/folder={}/",
                v["platform"].as_str().unwrap(),
                v["folder"].as_str().unwrap()
            )),
            "{f}"
        );
    }

    // A second run appends.
    let second = tributary_testkit::batches::canonical_in_runs(100, 1, 25);
    let report = run(
        build(&config, conversations_schema()),
        &RunContext::for_test("table"),
        std::slice::from_ref(&second),
    )
    .await;
    assert_eq!(report.rows, 100);
    let got = read(&table_url(&path), None);
    assert_eq!(got["version"], 2);
    assert_eq!(got["rows"], 600);
}

/// `canonical(n, 1)` with `message_count` and `updated_time` replaced for rows `range`.
fn with_changes(
    base: &RecordBatch,
    rows: std::ops::Range<usize>,
    shift_ms: i64,
    count: i64,
) -> RecordBatch {
    let batch = base.slice(rows.start, rows.len());
    let schema = batch.schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| -> ArrayRef {
            match f.name().as_str() {
                "updated_time" => {
                    let t = batch
                        .column(i)
                        .as_any()
                        .downcast_ref::<TimestampMillisecondArray>()
                        .unwrap();
                    Arc::new(
                        TimestampMillisecondArray::from_iter_values(
                            t.values().iter().map(|v| v + shift_ms),
                        )
                        .with_timezone_opt(t.timezone().map(str::to_owned)),
                    )
                }
                "message_count" => arrow::compute::cast(
                    &(Arc::new(arrow::array::Int64Array::from(vec![
                        count;
                        batch.num_rows()
                    ])) as ArrayRef),
                    f.data_type(),
                )
                .unwrap(),
                _ => batch.column(i).clone(),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

#[tokio::test]
async fn merge_updates_rows_keeps_the_newest_and_never_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let config = format!(
        "path = \"{}\"\npartition_by = [\"platform\"]\nmode = \"merge\"",
        s(&path)
    );
    let base = canonical(400, 1);
    run(
        build(&config, conversations_schema()),
        &RunContext::for_test("table"),
        std::slice::from_ref(&base),
    )
    .await;
    // Second run: rows 0..100 updated a day later (count 777), rows 100..150 re-sent with an
    // older updated_time (count 111: must lose), rows 150..400 not sent, plus 50 new threads.
    let newer = with_changes(&base, 0..100, 86_400_000, 777);
    let older = with_changes(&base, 100..150, -86_400_000, 111);
    let fresh = {
        let more = canonical(450, 1);
        more.slice(400, 50)
    };
    let report = run(
        build(&config, conversations_schema()),
        &RunContext::for_test("table"),
        &[newer.clone(), older, fresh.clone()],
    )
    .await;
    assert_eq!(report.rows, 150, "100 updates and 50 new rows went in");

    let got = read(&table_url(&path), None);
    assert_eq!(got["rows"], 450, "no duplicates: {got}");
    assert_eq!(got["polars_rows"], 450);
    let mut want = keys_of(&newer);
    want.extend(keys_of(&base.slice(100, 300)));
    want.extend(keys_of(&fresh));
    want.sort();
    assert_eq!(strings(&got["keys"]), want);

    // Re-running the same merge changes nothing.
    run(
        build(&config, conversations_schema()),
        &RunContext::for_test("table"),
        std::slice::from_ref(&newer),
    )
    .await;
    let again = read(&table_url(&path), None);
    assert_eq!(strings(&again["keys"]), want, "idempotent");
}

#[tokio::test]
async fn a_prepared_plan_commits_once_however_often_it_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let config = format!("path = \"{}\"", s(&path));
    let mut sink = build(&config, conversations_schema());
    let ctx = RunContext::for_test("table");
    sink.start(&ctx).await.unwrap();
    sink.write(&canonical(50, 1)).await.unwrap();
    let prepared = sink.prepare().await.unwrap();
    let plan = prepared.plan.expect("a plan");
    assert_eq!(plan["kind"], "delta/1");
    // Prepared but not committed: readers see an empty table.
    assert_eq!(read(&table_url(&path), None)["rows"], 0);
    let registry = {
        let mut r = tributary_core::registry::Registry::new();
        r.sink::<Delta>();
        r
    };
    let committers = registry.committers();
    // Commit, then commit again as a roll-forward after a crash would.
    let first = committers.commit(&plan).await.unwrap();
    let second = committers.commit(&plan).await.unwrap();
    assert_eq!(first.rows, 50);
    assert_eq!(second.rows, 50);
    let got = read(&table_url(&path), None);
    assert_eq!(got["rows"], 50, "committed exactly once: {got}");
    assert_eq!(got["version"], 1);
    // Secrets never go into plans: the plan names the table and options only.
    let text = plan.to_string();
    assert!(!text.contains("SECRET"), "{text}");
}

#[tokio::test]
async fn concurrent_writers_to_one_table_lose_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let config = format!("path = \"{}\"\npartition_by = [\"platform\"]", s(&path));
    let all = canonical(800, 1);
    let tasks: Vec<_> = (0..4u32)
        .map(|k| {
            let part = all.slice(k as usize * 200, 200);
            let config = config.clone();
            tokio::spawn(async move {
                let mut ctx = RunContext::for_test("table");
                ctx.shard = Some(tributary_core::shard::Shard::new(k, 4).unwrap());
                // Each worker commits several times while the others do too (sinks are
                // single-use: one per run).
                let mut rows = 0;
                for chunk in 0..4 {
                    let sink = build(&config, conversations_schema());
                    rows += run(sink, &ctx, &[part.slice(chunk * 50, 50)]).await.rows;
                }
                rows
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 800);
    let got = read(&table_url(&path), None);
    assert_eq!(got["rows"], 800, "{got}");
    assert_eq!(strings(&got["keys"]), keys_of(&all));
    assert_eq!(got["version"], 16, "16 appends after the create: {got}");
}

#[tokio::test]
async fn a_table_with_another_schema_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let config = format!("path = \"{}\"", s(&path));
    run(
        build(&config, conversations_schema()),
        &RunContext::for_test("table"),
        &[canonical(10, 1)],
    )
    .await;
    let other = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("page_id", DataType::Utf8, false),
    ]));
    let mut sink = build(&config, other);
    let e = sink
        .start(&RunContext::for_test("table"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("different schema"), "{e}");
    assert!(e.contains("`id` is Utf8 in the table but Int64"), "{e}");
    assert!(e.contains("Nothing was written"), "{e}");
    let partitioned = format!("{config}\npartition_by = [\"platform\"]");
    let mut sink = build(&partitioned, conversations_schema());
    let e = sink
        .start(&RunContext::for_test("table"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("partitioned by []"), "{e}");
    assert_eq!(read(&table_url(&path), None)["version"], 1);
}

#[tokio::test]
async fn a_dry_run_and_an_abandoned_run_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let config = format!("path = \"{}\"", s(&path));
    let mut ctx = RunContext::for_test("table");
    ctx.dry_run = true;
    let report = run(
        build(&config, conversations_schema()),
        &ctx,
        &[canonical(10, 1)],
    )
    .await;
    assert_eq!(report.rows, 10);
    assert!(
        !path.join("_delta_log").exists(),
        "a dry run creates no table"
    );
    // Written, then dropped without finish (a failed run): the table has no rows.
    let mut sink = build(&config, conversations_schema());
    sink.start(&RunContext::for_test("table")).await.unwrap();
    sink.write(&canonical(10, 1)).await.unwrap();
    drop(sink);
    let got = read(&table_url(&path), None);
    assert_eq!(got["rows"], 0, "{got}");
}

#[test]
fn bad_configs_are_refused_at_build_with_the_key() {
    let schema = conversations_schema();
    let e = try_build("path = \"gs://b/t\"", schema.clone())
        .err()
        .expect("refused");
    assert_eq!(e.key.as_deref(), Some("path"));
    let e = try_build(
        "path = \"t\"\npartition_by = [\"platfrom\"]",
        schema.clone(),
    )
    .err()
    .expect("refused");
    assert!(
        e.help.as_deref().unwrap_or("").contains("platform"),
        "{e:?}"
    );
    let e = try_build(
        "path = \"t\"\ncompression = \"snappy\"\ncompression_level = 5",
        schema.clone(),
    )
    .err()
    .expect("refused");
    assert_eq!(e.key.as_deref(), Some("compression_level"));
    let no_key = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
    let e = try_build("path = \"t\"\nmode = \"merge\"", no_key)
        .err()
        .expect("refused");
    assert!(e.message.contains("page_id"), "{e:?}");
}

#[tokio::test]
async fn workers_racing_to_create_the_table_create_it_once() {
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let config = format!("path = \"{}\"", s(&path));
        let tasks: Vec<_> = (0..4u32)
            .map(|k| {
                let config = config.clone();
                tokio::spawn(async move {
                    let mut ctx = RunContext::for_test("table");
                    ctx.shard = Some(tributary_core::shard::Shard::new(k, 4).unwrap());
                    let batch = canonical(40, 1).slice(k as usize * 10, 10);
                    run(build(&config, conversations_schema()), &ctx, &[batch]).await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let got = read(&table_url(&path), None);
        let creates = got["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| *o == "CREATE TABLE")
            .count();
        assert_eq!(creates, 1, "{}", got["history"]);
        assert_eq!(got["rows"], 40);
    }
}

#[tokio::test]
async fn concurrent_merges_into_one_table_are_all_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let config = format!(
        "path = \"{}\"\npartition_by = [\"platform\"]\nmode = \"merge\"",
        s(&path)
    );
    let base = canonical(400, 1);
    run(
        build(&config, conversations_schema()),
        &RunContext::for_test("table"),
        std::slice::from_ref(&base),
    )
    .await;
    // Four workers each update their quarter at the same time: every merge rewrites files of
    // the same partitions, so commits conflict and merges are redone on newer versions.
    let tasks: Vec<_> = (0..4u32)
        .map(|k| {
            let config = config.clone();
            let update = with_changes(
                &base,
                k as usize * 100..(k as usize + 1) * 100,
                3_600_000,
                500 + i64::from(k),
            );
            tokio::spawn(async move {
                let mut ctx = RunContext::for_test("table");
                ctx.shard = Some(tributary_core::shard::Shard::new(k, 4).unwrap());
                run(build(&config, conversations_schema()), &ctx, &[update]).await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let got = read(&table_url(&path), None);
    let mut want: Vec<String> = (0..4)
        .flat_map(|k| {
            keys_of(&with_changes(
                &base,
                k * 100..(k + 1) * 100,
                3_600_000,
                500 + k as i64,
            ))
        })
        .collect();
    want.sort();
    assert_eq!(got["rows"], 400, "{}", got["history"]);
    assert_eq!(strings(&got["keys"]), want);
}
