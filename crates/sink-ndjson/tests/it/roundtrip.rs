//! Round trips: the files, read by tools nobody here wrote, equal the input rows.

use std::process::Command;

use serde_json::{Map, Value, json};
use tributary_core::canonical::conversations_schema;
use tributary_core::plugin::RunContext;

use crate::data::{self, PY_PRELUDE};
use crate::{build, files_under, run, s};

/// The row as written with `explicit_nulls = false`: every null left out, at every depth.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn expected_lines(rows: &[Value]) -> Vec<Value> {
    let schema = conversations_schema();
    rows.iter()
        .map(|r| without_nulls(&data::complete(r, &schema)))
        .collect()
}

fn ndjson_files(root: &std::path::Path, ext: &str) -> Vec<String> {
    files_under(root)
        .into_iter()
        .filter(|f| f.ends_with(ext))
        .collect()
}

const READ_PY_AND_DUCKDB: &str = r#"
path = sys.argv[1]
with open(path, "rb") as f:
    raw = f.read()
lines = raw.decode("utf-8").split("\n")
assert lines[-1] == "", "the file ends with a newline"
py = [json.loads(l) for l in lines[:-1]]
import duckdb
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
t = con.execute(f"SELECT * FROM read_json('{path}', format = 'newline_delimited', maximum_object_size = 1048576)").to_arrow_table()
types = {f.name: str(f.type) for f in t.schema}
emit({"python": py, "duckdb": [norm(r) for r in t.to_pylist()], "duckdb_types": types})
"#;

#[tokio::test]
async fn python_json_and_duckdb_read_back_every_value_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("export");
    let hard = data::hard_rows();
    let synthetic = data::synthetic_rows(200, 3, 11);
    let ctx = RunContext::for_test("export");
    let report = run(
        build(&format!("path = \"{}\"", s(&root))),
        &ctx,
        &[data::batch(&hard), data::batch(&synthetic)],
    )
    .await;
    let rows = [hard, synthetic].concat();
    assert_eq!(report.rows, rows.len() as u64);
    let files = ndjson_files(&root, ".ndjson");
    assert_eq!(files, [format!("part-{}-00000.ndjson", ctx.run_id)]);
    let file = root.join(&files[0]);
    let raw = std::fs::read(&file).unwrap();
    let text = String::from_utf8(raw.clone()).expect("UTF-8");

    // Text is written as UTF-8, not \u escapes; timestamps are RFC 3339 UTC with milliseconds.
    assert!(text.contains("ZWJ family 👩‍👩‍👧‍👦"), "raw UTF-8");
    assert!(
        !text.contains("\\ud83d") && !text.contains("\\u00e9 literal\\"),
        "no needless escapes"
    );
    assert!(text.contains(r#""updated_time":"2026-11-20T00:28:50.000Z""#));
    assert!(text.contains(r#""updated_time":"1969-12-31T23:59:59.999Z""#));
    // One object per line, keys in schema order (nulls left out), also inside structs.
    let order: Vec<String> = conversations_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let msg_order: Vec<&str> = [
        "id",
        "created_time",
        "from",
        "to",
        "message",
        "sticker",
        "tags",
        "attachments_json",
    ]
    .to_vec();
    let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
    assert_eq!(lines.len(), rows.len());
    for line in &lines {
        let v: Value = serde_json::from_str(line).expect("each line is one JSON object");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut it = order.iter();
        assert!(
            keys.iter().all(|k| it.any(|o| o == *k)),
            "keys out of schema order: {keys:?}"
        );
        for m in v["messages"].as_array().into_iter().flatten() {
            let mk: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
            let mut it = msg_order.iter();
            assert!(
                mk.iter().all(|k| it.any(|o| o == k)),
                "message keys out of order: {mk:?}"
            );
        }
    }

    let out =
        tributary_testkit::run_python(&format!("{PY_PRELUDE}{READ_PY_AND_DUCKDB}"), &[s(&file)]);
    let out: Value = serde_json::from_slice(&out.stdout).expect("reader output is JSON");
    data::assert_same_rows(
        "python json",
        out["python"].as_array().unwrap().clone(),
        expected_lines(&rows),
    );

    // DuckDB infers its own schema from the lines: keys never written (always-null columns)
    // are unknown to it, and it reads absent keys as null. Compared without nulls on both
    // sides: every value equal, and null exactly where the input was null.
    let types = &out["duckdb_types"];
    assert!(
        types["updated_time"].as_str().unwrap().contains("tz="),
        "DuckDB reads the Z as UTC: {types}"
    );
    let duck: Vec<Value> = out["duckdb"]
        .as_array()
        .unwrap()
        .iter()
        .map(without_nulls)
        .collect();
    data::assert_same_rows("duckdb read_json", duck, expected_lines(&rows));
}

#[tokio::test]
async fn explicit_nulls_writes_every_key_in_schema_order() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = RunContext::for_test("export");
    run(
        build(&format!(
            "path = \"{}\"\nexplicit_nulls = true",
            s(dir.path())
        )),
        &ctx,
        &[data::batch(&data::hard_rows())],
    )
    .await;
    let file = dir.path().join(&ndjson_files(dir.path(), ".ndjson")[0]);
    let script = "import sys, json\nkeys = [list(json.loads(l).keys()) for l in open(sys.argv[1], encoding='utf-8')]\nprint(json.dumps(keys))";
    let out = tributary_testkit::run_python(script, &[s(&file)]);
    let keys: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    let order: Vec<String> = conversations_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(keys.len(), data::hard_rows().len());
    assert!(keys.iter().all(|k| *k == order), "{:?}", keys[0]);
}

#[tokio::test]
async fn gzip_and_zstd_files_decompress_with_the_system_tools() {
    for (table_extra, ext, tool) in [
        ("compression = \"gzip\"", ".ndjson.gz", "gzip"),
        (
            "compression = \"zstd\"\ncompression_level = 9",
            ".ndjson.zst",
            "zstd",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        let rows = [data::hard_rows(), data::synthetic_rows(300, 2, 3)].concat();
        let ctx = RunContext::for_test("export");
        let table = format!(
            "path = \"{}\"\npartition_by = [\"platform\"]\nmax_rows_per_file = 100\n{table_extra}",
            s(&root)
        );
        run(build(&table), &ctx, &[data::batch(&rows)]).await;
        let files = ndjson_files(&root, ext);
        assert!(files.len() >= 3, "rotated into several files: {files:?}");
        let mut got = Vec::new();
        for f in &files {
            let platform = f
                .split('/')
                .next()
                .unwrap()
                .strip_prefix("platform=")
                .expect("hive dir");
            let out = Command::new(tool)
                .args(["-d", "-c"])
                .arg(root.join(f))
                .output()
                .unwrap_or_else(|e| panic!("`{tool}` is required (apt-get install {tool}): {e}"));
            assert!(
                out.status.success(),
                "{tool} -d failed on {f}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            for line in String::from_utf8(out.stdout).expect("UTF-8").lines() {
                let mut v: Value = serde_json::from_str(line).unwrap();
                assert!(
                    v.get("platform").is_none(),
                    "partition columns live in the path"
                );
                v.as_object_mut()
                    .unwrap()
                    .insert("platform".into(), json!(platform));
                got.push(v);
            }
        }
        data::assert_same_rows(tool, got, expected_lines(&rows));
    }
}

#[tokio::test]
async fn nothing_is_visible_until_finish_and_a_dropped_run_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out.gz"); // gzip inferred from the path
    let mut sink = build(&format!("path = \"{}\"\nmax_rows_per_file = 3", s(&root)));
    let ctx = RunContext::for_test("export");
    sink.start(&ctx).await.unwrap();
    sink.write(&data::batch(&data::hard_rows())).await.unwrap();
    let before = files_under(&root);
    assert!(
        !before.is_empty()
            && before
                .iter()
                .all(|f| f.starts_with("_tributary/staging/") && f.ends_with(".tmp")),
        "{before:?}"
    );
    drop(sink);
    assert!(ndjson_files(&root, ".gz").is_empty());

    let ctx = RunContext::for_test("export");
    let report = run(
        build(&format!("path = \"{}\"", s(&root))),
        &ctx,
        &[data::batch(&data::hard_rows())],
    )
    .await;
    let after = files_under(&root);
    assert_eq!(ndjson_files(&root, ".ndjson.gz").len() as u64, report.files);
    assert!(
        after.contains(&format!("_tributary/manifests/{}.json", ctx.run_id)),
        "{after:?}"
    );
}
