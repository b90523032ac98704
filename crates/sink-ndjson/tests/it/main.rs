//! Integration tests of the `ndjson` sink: what it writes, read by Python's `json`, DuckDB's
//! `read_json` and the system `gzip`/`zstd`, equals what went in.

// Test code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The canonical test rows are shared with the parquet sink's tests.
#[path = "../../../sink-parquet/tests/it/data.rs"]
mod data;
mod roundtrip;

use sink_ndjson::{Ndjson, NdjsonConfig};
use tributary_core::plugin::{BuildContext, BuildInput, Sink, SinkPlugin};

/// Builds the sink from a TOML table, as the pipeline loader would.
pub fn build(toml_table: &str) -> Box<dyn Sink> {
    let config: NdjsonConfig = toml::from_str(toml_table).expect("config parses");
    let input = BuildInput {
        schema: tributary_core::canonical::conversations_schema(),
        domains: Vec::new(),
    };
    Ndjson::build(config, &input, &BuildContext::sink("test", "export")).expect("builds")
}

pub use tributary_testkit::sinks::{files_under, run, s};
