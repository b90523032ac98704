//! # sink-parquet: `type = "parquet"`
//!
//! Writes the pipeline's batches as Hive-partitioned Parquet files on a local directory or object
//! storage (S3 and S3-compatible stores, GCS, Azure), for Athena, Trino, Spark, DuckDB, pyarrow
//! and polars.
//!
//! ```toml
//! [sinks.lake]
//! type         = "parquet"
//! inputs       = ["pages"]
//! path         = "s3://lake/raw/conversations"   # or ./lake, file:///data/lake, gs://, az://
//! partition_by = ["platform", "folder", "updated_date"]
//! compression  = "zstd"                          # zstd (default) | snappy | none
//! ```
//!
//! produces
//!
//! ```text
//! s3://lake/raw/conversations/platform=instagram/folder=inbox/updated_date=2026-11-25/part-20261125T101500Z-1a2b3c4d-00000.zstd.parquet
//! s3://lake/raw/conversations/_tributary/manifests/20261125T101500Z-1a2b3c4d.json
//! ```
//!
//! The one design decision to know: **nothing is visible before the run succeeds.** Files are
//! written under `_tributary/staging/<run>/…tmp` and renamed into place in `finish()` (an atomic
//! rename on disk, a server-side copy of a complete object in a bucket), then the run manifest is
//! written. A failed, interrupted or killed run leaves no `*.parquet` file. The protocol, the
//! layout and the bounded writer manager are shared with the `ndjson` sink in
//! [`tributary_lake`].
//!
//! Files embed the Arrow schema (timestamps stay `Timestamp(ms, UTC)`, lists of structs stay
//! lists of structs), carry page and column-chunk statistics, and dictionary-encode the columns
//! where that pays. Partition columns live in directory names only. Memory stays bounded:
//! at most `max_open_files` files are open, each buffering at most one row group.

pub mod config;
pub mod sink;

pub use config::ParquetConfig;
pub use sink::{ParquetSink, parquet_sink};

use tributary_core::BuildError;
use tributary_core::plugin::{BuildContext, BuildInput, CommitFn, Sink, SinkPlugin};

/// The `parquet` sink plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parquet;

impl SinkPlugin for Parquet {
    const NAME: &'static str = "parquet";
    const DESCRIPTION: &'static str = "Hive-partitioned Parquet files on a local directory or object storage, committed atomically";
    type Config = ParquetConfig;
    // Its plans are the lake's: committed (and rolled forward after a crash) by the lake layer.
    const COMMITTER: Option<(&'static str, CommitFn)> = Some(tributary_lake::COMMITTER);

    fn build(
        config: ParquetConfig,
        input: &BuildInput,
        _ctx: &BuildContext,
    ) -> Result<Box<dyn Sink>, BuildError> {
        Ok(Box::new(parquet_sink(config, input)?))
    }
}
