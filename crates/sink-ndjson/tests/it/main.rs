//! Integration tests of the `ndjson` sink: what it writes, read by Python's `json`, DuckDB's
//! `read_json` and the system `gzip`/`zstd`, equals what went in.

// The canonical test rows are shared with the parquet sink's tests.
#[path = "../../../sink-parquet/tests/it/data.rs"]
mod data;
mod roundtrip;

use std::path::Path;

use arrow::record_batch::RecordBatch;
use sink_ndjson::{Ndjson, NdjsonConfig};
use tributary_core::plugin::{BuildContext, BuildInput, RunContext, Sink, SinkPlugin, SinkReport};

/// Builds the sink from a TOML table, as the pipeline loader would.
pub fn build(toml_table: &str) -> Box<dyn Sink> {
    let config: NdjsonConfig = toml::from_str(toml_table).expect("config parses");
    let input = BuildInput {
        schema: tributary_core::canonical::conversations_schema(),
        domains: Vec::new(),
    };
    Ndjson::build(
        config,
        &input,
        &BuildContext::new("test", "sinks", "export"),
    )
    .expect("builds")
}

/// `start` → `write` each batch → `finish`.
pub async fn run(mut sink: Box<dyn Sink>, ctx: &RunContext, batches: &[RecordBatch]) -> SinkReport {
    sink.start(ctx).await.expect("start");
    for b in batches {
        sink.write(b).await.expect("write");
    }
    sink.finish().await.expect("finish")
}

/// Every regular file below `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A path as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
