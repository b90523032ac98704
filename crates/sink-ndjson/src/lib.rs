//! # sink-ndjson: `type = "ndjson"`
//!
//! Writes the pipeline's batches as newline-delimited JSON — one object per line, keys in schema
//! order — on a local directory or object storage, optionally Hive-partitioned and compressed.
//!
//! ```toml
//! [sinks.export]
//! type         = "ndjson"
//! inputs       = ["pages"]
//! path         = "./export/conversations"   # or s3://bucket/prefix, gs://, az://, file://
//! partition_by = ["platform"]
//! compression  = "gzip"                     # none (default) | gzip | zstd
//! ```
//!
//! produces `./export/conversations/platform=instagram/part-<run_id>-00000.ndjson.gz` and a run
//! manifest in `_tributary/manifests/<run_id>.json`.
//!
//! The one design decision to know: **nothing is visible before the run succeeds** — the same
//! staged-then-renamed commit as the `parquet` sink, from the shared [`tributary_lake`].
//!
//! The JSON: timestamps are RFC 3339 in UTC with the column's precision
//! (`"2026-11-20T09:28:50.000Z"`); lists and structs are arrays and objects; text is written as
//! UTF-8 (only `"`, `\` and control characters are escaped), so it round-trips byte for byte;
//! null values are left out unless `explicit_nulls = true`.

pub mod config;
pub mod sink;

pub use config::NdjsonConfig;
pub use sink::{NdjsonSink, ndjson_sink};

use tributary_core::BuildError;
use tributary_core::plugin::{BuildContext, BuildInput, CommitFn, Sink, SinkPlugin};

/// The `ndjson` sink plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ndjson;

impl SinkPlugin for Ndjson {
    const NAME: &'static str = "ndjson";
    const DESCRIPTION: &'static str = "Newline-delimited JSON files (optionally gzip/zstd), local or on object storage, committed atomically";
    type Config = NdjsonConfig;
    // Its plans are the lake's: committed (and rolled forward after a crash) by the lake layer.
    const COMMITTER: Option<(&'static str, CommitFn)> = Some(tributary_lake::COMMITTER);

    fn build(
        config: NdjsonConfig,
        input: &BuildInput,
        _ctx: &BuildContext,
    ) -> Result<Box<dyn Sink>, BuildError> {
        Ok(Box::new(ndjson_sink(config, input)?))
    }
}
