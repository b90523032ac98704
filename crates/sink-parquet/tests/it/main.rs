//! Integration tests of the `parquet` sink: files read back by tools nobody here wrote (DuckDB,
//! pyarrow, polars), an S3 round trip against a real S3-compatible server, and faults.

// Test code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod data;
mod faults;
mod interop;
mod s3;

use sink_parquet::{Parquet, ParquetConfig};
use tributary_core::plugin::{BuildContext, BuildInput, Sink, SinkPlugin};

/// Builds the sink from a TOML table, as the pipeline loader would.
pub fn build(toml_table: &str, schema: arrow::datatypes::SchemaRef) -> Box<dyn Sink> {
    let config: ParquetConfig = toml::from_str(toml_table).expect("config parses");
    let input = BuildInput {
        schema,
        domains: Vec::new(),
    };
    Parquet::build(config, &input, &BuildContext::sink("test", "lake")).expect("builds")
}

pub use tributary_testkit::sinks::{files_under, run, s};
