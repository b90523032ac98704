//! The data-lake layer shared by the file sinks (`parquet`, `ndjson`): where files go, how they
//! are laid out, and how a run's files become visible all at once.
//!
//! ```no_run
//! # async fn demo(batch: arrow::record_batch::RecordBatch, factory: impl
//! #     tributary_lake::EncoderFactory) -> Result<(), tributary_core::RunError> {
//! use tributary_lake::{PartitionSpec, PartitionedWriter, RotationOptions, StoreOptions, TargetSpec};
//! use tributary_core::plugin::RunContext;
//!
//! // build(): pure parsing and validation.
//! let spec = TargetSpec::parse("s3://lake/raw/conversations", StoreOptions::default())
//!     .map_err(|e| tributary_core::RunError::msg(e.to_string()))?;
//! let layout = PartitionSpec::new(&["platform".into(), "updated_date".into()], &batch.schema())
//!     .map_err(|e| tributary_core::RunError::msg(e.to_string()))?;
//! // start(): I/O begins.
//! let ctx = RunContext::for_test("lake");
//! let mut writer = PartitionedWriter::start(factory, spec.open()?, layout, RotationOptions::default(), &ctx).await?;
//! writer.write(&batch).await?;          // staged under _tributary/staging/<run>/, invisible
//! let report = writer.finish().await?;  // renamed into place, then the manifest is written
//! # let _ = report; Ok(()) }
//! ```
//!
//! The one design decision to know: **every file is written under a staging name that lake
//! readers ignore and is renamed into place only in `finish()`** ([`commit`]). The layout:
//!
//! ```text
//! <base>/platform=instagram/folder=inbox/updated_date=2026-11-25/part-<run_id>-00000.zstd.parquet
//! <base>/_tributary/staging/<run_id>/<uuid>.tmp      while the run is in flight
//! <base>/_tributary/manifests/<run_id>.json          written after the run's files are committed
//! <base>/_tributary/commits/<run_id>.json            a commit in flight (runs without a state)
//! ```
//!
//! - [`TargetSpec`] (from `tributary_core::store`, shared with the state store): a local directory
//!   or `file://`/`s3://`/`gs://`/`az://` URL → an `ObjectStore` and a base prefix.
//! - [`partition`]: Hive partition keys from columns (and `updated_date` derived from
//!   `updated_time`), escaped so no value can leave the base path; columnar batch splitting.
//! - [`writer`]: the partitioned, rotating, bounded writer manager over a [`FileEncoder`] that
//!   each format implements.
//! - [`commit`]: the resumable commit plan and the run manifest.
//! - [`generation`]: `write_mode` (append, overwrite, overwrite_partitions, error_if_exists) and
//!   how a committed run replaces the files the sink wrote before, crash-safely.

pub mod commit;
pub mod generation;
pub mod partition;
pub mod plan;
pub mod sink;
pub mod size;
pub mod writer;

pub use commit::{CommitPlan, Manifest, ManifestFile, PartitionValue, StagedFile};
pub use generation::{WriteMode, Writer};
pub use partition::{PartitionKey, PartitionSpec};
pub use plan::{COMMITTER, LakePlan, commit_plan};
pub use sink::LakeSink;
pub use size::ByteSize;
pub use tributary_core::store::{StoreOptions, Target, TargetSpec, describe_store_error};
pub use writer::{
    EncoderFactory, FileEncoder, PartitionedWriter, RotationOptions, require_positive,
};
