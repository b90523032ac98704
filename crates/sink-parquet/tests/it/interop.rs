//! The files are read by DuckDB, pyarrow and polars, and every value is compared with what
//! was written.

use serde_json::{Value, json};
use tributary_core::canonical::conversations_schema;
use tributary_core::plugin::RunContext;
use tributary_lake::Manifest;

use crate::data::{self, PY_PRELUDE};
use crate::{build, files_under, run, s};

const READ_ALL: &str = r#"
root = sys.argv[1]
out = {}
import duckdb
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
rel = con.execute(f"SELECT * FROM read_parquet('{root}/**/*.parquet', hive_partitioning = 1)")
out["duckdb"] = [norm(r) for r in rel.to_arrow_table().to_pylist()]
import pyarrow.dataset as ds
out["pyarrow"] = [norm(r) for r in ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pylist()]
import polars as pl
out["polars"] = [norm(r) for r in pl.scan_parquet(f"{root}/**/*.parquet", hive_partitioning=True).collect().to_dicts()]

import glob, pyarrow.parquet as pq
meta = {"files": 0, "arrow_schema": True, "codecs": set(), "dictionary": {}, "stats": True, "row_groups": 0, "timestamp": None}
for f in sorted(glob.glob(f"{root}/**/*.parquet", recursive=True)):
    pf = pq.ParquetFile(f)
    md = pf.metadata
    meta["files"] += 1
    meta["arrow_schema"] &= b"ARROW:schema" in (md.metadata or {})
    meta["row_groups"] += md.num_row_groups
    for rg in range(md.num_row_groups):
        for c in range(md.num_columns):
            col = md.row_group(rg).column(c)
            meta["codecs"].add(col.compression)
            meta["dictionary"].setdefault(col.path_in_schema, False)
            if any("DICTIONARY" in e for e in col.encodings):
                meta["dictionary"][col.path_in_schema] = True
            if col.path_in_schema in ("page_id", "id"):  # never null: min/max always exist
                meta["stats"] &= col.statistics is not None and col.statistics.has_min_max
    meta["timestamp"] = str(pf.schema_arrow.field("updated_time").type)
    meta["messages"] = str(pf.schema_arrow.field("messages").type)
meta["codecs"] = sorted(meta["codecs"])
out["meta"] = meta
emit(out)
"#;

/// What a Hive-partitioned reader returns for `row`: every column, plus `updated_date`.
pub fn expected(rows: &[Value]) -> Vec<Value> {
    let schema = conversations_schema();
    rows.iter()
        .map(|r| {
            let mut v = data::complete(r, &schema);
            let date = data::date_of(&v["updated_time"]);
            v.as_object_mut()
                .expect("object")
                .insert("updated_date".into(), date);
            v
        })
        .collect()
}

#[tokio::test]
async fn duckdb_pyarrow_and_polars_read_back_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let hard = data::hard_rows();
    let synthetic = data::synthetic_rows(700, 5, 7);
    let table = format!(
        r#"
        path = "{}"
        partition_by = ["platform", "folder", "updated_date"]
        row_group_rows = 5
        max_rows_per_file = 120
        max_open_files = 4
        "#,
        s(&root)
    );
    let ctx = RunContext::for_test("lake");
    let sink = build(&table, conversations_schema());
    let report = run(sink, &ctx, &[data::batch(&hard), data::batch(&synthetic)]).await;
    let total = (hard.len() + synthetic.len()) as u64;
    assert_eq!(report.rows, total);

    // Layout: Hive directories, unique names, nothing left in staging, one manifest.
    let files = files_under(&root);
    let parquet: Vec<&String> = files.iter().filter(|f| f.ends_with(".parquet")).collect();
    assert_eq!(parquet.len() as u64, report.files);
    for f in &parquet {
        let name = f.rsplit('/').next().unwrap();
        assert!(f.starts_with("platform="), "{f}");
        assert!(
            f.contains("/folder=") && f.contains("/updated_date="),
            "{f}"
        );
        assert!(name.starts_with(&format!("part-{}-", ctx.run_id)), "{f}");
        assert!(name.ends_with(".zstd.parquet"), "{f}");
    }
    assert!(
        files
            .iter()
            .any(|f| f.contains("updated_date=__HIVE_DEFAULT_PARTITION__/"))
    );
    assert!(files.iter().any(|f| f.contains("updated_date=1969-12-31/")));
    assert!(!files.iter().any(|f| f.contains("staging")), "{files:?}");
    let manifest_name = format!("_tributary/manifests/{}.json", ctx.run_id);
    assert_eq!(files.len(), parquet.len() + 1, "{files:?}");
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(root.join(&manifest_name)).unwrap()).unwrap();
    assert_eq!(manifest.rows, total);
    assert_eq!(manifest.files.len(), parquet.len());
    let on_disk: u64 = parquet
        .iter()
        .map(|f| std::fs::metadata(root.join(f)).unwrap().len())
        .sum();
    assert_eq!(manifest.bytes, on_disk);
    // Rotation: no file exceeds max_rows_per_file.
    assert!(manifest.files.iter().all(|f| f.rows <= 120 && f.rows > 0));

    let out = tributary_testkit::run_python(&format!("{PY_PRELUDE}{READ_ALL}"), &[s(&root)]);
    let out: Value = serde_json::from_slice(&out.stdout).expect("reader output is JSON");
    let want = expected(&[hard, synthetic].concat());
    for reader in ["duckdb", "pyarrow", "polars"] {
        let got = out[reader]
            .as_array()
            .unwrap_or_else(|| panic!("{reader}: no rows"))
            .clone();
        data::assert_same_rows(reader, got, want.clone());
    }

    let meta = &out["meta"];
    assert_eq!(meta["files"], json!(parquet.len()));
    assert_eq!(
        meta["arrow_schema"],
        json!(true),
        "the Arrow schema is embedded"
    );
    assert_eq!(meta["codecs"], json!(["ZSTD"]));
    assert_eq!(meta["stats"], json!(true), "min/max statistics are written");
    assert!(
        meta["row_groups"].as_u64().unwrap() > meta["files"].as_u64().unwrap(),
        "row_group_rows splits files"
    );
    assert_eq!(
        meta["dictionary"]["page_id"],
        json!(true),
        "low-cardinality columns are dictionary-encoded"
    );
    assert_eq!(meta["timestamp"], json!("timestamp[ms, tz=UTC]"));
    assert!(
        meta["messages"]
            .as_str()
            .unwrap()
            .starts_with("list<item: struct<id: string, created_time: timestamp[ms, tz=UTC]"),
        "{}",
        meta["messages"]
    );
}

#[tokio::test]
async fn hostile_partition_values_stay_inside_the_table_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    let values = [
        "../../escape",
        "a/b",
        "x=y",
        "100%",
        "%2F",
        "日本 😀",
        "C:\\dir",
        "q?*#~[]{}|^<>`\"'",
        "..",
    ];
    let rows: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({"page_id": v, "platform": "instagram", "folder": "inbox", "id": format!("t{i}"),
                   "extracted_at": "2026-11-25T10:15:00.000Z"})
        })
        .collect();
    let ctx = RunContext::for_test("lake");
    let sink = build(
        &format!("path = \"{}\"\npartition_by = [\"page_id\"]", s(&root)),
        conversations_schema(),
    );
    run(sink, &ctx, &[data::batch(&rows)]).await;

    // Nothing was written outside the table directory.
    let outside: Vec<String> = files_under(dir.path())
        .into_iter()
        .filter(|f| !f.starts_with("t/"))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
    let dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        dirs.iter().filter(|d| d.starts_with("page_id=")).count(),
        values.len(),
        "{dirs:?}"
    );

    let script = format!(
        "{PY_PRELUDE}\nroot = sys.argv[1]\nimport duckdb, pyarrow.dataset as ds\n\
         a = [r['page_id'] for r in ds.dataset(root, format='parquet', partitioning='hive').to_table(columns=['page_id']).to_pylist()]\n\
         d = [r[0] for r in duckdb.sql(f\"SELECT page_id FROM read_parquet('{{root}}/**/*.parquet', hive_partitioning = 1, hive_types_autocast = 0)\").fetchall()]\n\
         emit({{'pyarrow': sorted(a), 'duckdb': sorted(d)}})"
    );
    let out = tributary_testkit::run_python(&script, &[s(&root)]);
    let out: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut want: Vec<&str> = values.to_vec();
    want.sort();
    assert_eq!(out["pyarrow"], json!(want), "pyarrow decodes the escapes");
    assert_eq!(out["duckdb"], json!(want), "duckdb decodes the escapes");
}

#[tokio::test]
async fn snappy_and_uncompressed_files_are_named_and_encoded_as_configured() {
    for (codec, tag, pq) in [
        ("snappy", "snappy", "SNAPPY"),
        ("none", "uncompressed", "UNCOMPRESSED"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let ctx = RunContext::for_test("lake");
        let sink = build(
            &format!("path = \"{}\"\ncompression = \"{codec}\"", s(dir.path())),
            conversations_schema(),
        );
        run(sink, &ctx, &[data::batch(&data::hard_rows())]).await;
        let files = files_under(dir.path());
        let f = files
            .iter()
            .find(|f| f.ends_with(".parquet"))
            .expect("a file");
        assert!(f.ends_with(&format!(".{tag}.parquet")), "{f}");
        let script = "import sys, pyarrow.parquet as pq\nprint(pq.ParquetFile(sys.argv[1]).metadata.row_group(0).column(0).compression)";
        let out = tributary_testkit::run_python(script, &[s(&dir.path().join(f))]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pq);
    }
}
