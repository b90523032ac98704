//! # sink-delta: `type = "delta"`
//!
//! Appends (or merges) the pipeline's rows into a [Delta Lake](https://delta.io) table on a
//! local directory or S3 (and S3-compatible stores), with [delta-rs](https://docs.rs/deltalake)'
//! optimistic concurrency, so many workers (`tributary run --shard K/N`) can feed one table.
//!
//! ```toml
//! [sinks.table]
//! type         = "delta"
//! inputs       = ["pages"]
//! path         = "s3://lake/delta/conversations"   # or ./lake/conversations, file:///...
//! partition_by = ["platform", "folder"]
//! mode         = "merge"                           # or "append" (default), "overwrite"
//! ```
//!
//! - **Creates the table** on the first run (schema from the pipeline, `partition_by`; the
//!   derived `updated_date` becomes a `date` column). Concurrent first runs race safely: one
//!   creates, the others load it.
//! - **Schema checked**: an existing table must have exactly the columns and types the
//!   pipeline writes, and the same partition columns; otherwise the run fails before writing.
//! - **Atomic**: data files are written into the table directory while the run goes on, but a
//!   Delta reader sees only files the log references, and the log gets them in one commit at
//!   the end. A failed or killed run leaves unreferenced files that `VACUUM` removes.
//! - **Concurrent writers**: appends from other workers never conflict; a commit that loses the
//!   race for a version is retried on the next (`commit_retries`).
//! - **Exactly once with `[pipeline] state`**: the sink's two-phase commit hands the runtime a
//!   [`DeltaPlan`]; the state is advanced only after the Delta commit, and every commit carries
//!   a Delta application transaction `txn(tributary/<pipeline>/<sink>[/<shard>], version)`, so a
//!   commit rolled forward after a crash is never applied twice.
//! - **`mode = "overwrite"`**: one commit removes every file of the table and adds the run's
//!   (`SaveMode::Overwrite`), so readers switch from the old table to the new one at once —
//!   the atomic swap a plain directory of files cannot give (see the file sinks' `write_mode`).
//!   The files to remove are read from the version being committed on; a concurrent writer
//!   makes the commit redo on the newer version. Refused with `--shard`: each shard would erase
//!   the others' rows.
//! - **`mode = "merge"`**: an upsert on `(page_id, platform, folder, id)` keeping the newest
//!   `updated_time` (see [`merge`]): re-fetched threads update instead of duplicating.
//!
//! Departure from the other file sinks: no `_tributary/` manifests — the Delta log is the
//! manifest (`commitInfo` records the run id).

pub mod commit;
pub mod config;
pub mod merge;
pub mod plan;
pub mod schema;
pub mod sink;
pub mod table;

pub use config::DeltaConfig;
pub use plan::DeltaPlan;
pub use sink::{DeltaSink, delta_sink};

use tributary_core::BuildError;
use tributary_core::plugin::{BuildContext, BuildInput, CommitFn, Sink, SinkPlugin};

/// The `delta` sink plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delta;

impl SinkPlugin for Delta {
    const NAME: &'static str = "delta";
    const DESCRIPTION: &'static str = "Delta Lake table (local or S3): atomic appends, merges or \
                                       overwrites, safe for concurrent workers";
    type Config = DeltaConfig;
    const COMMITTER: Option<(&'static str, CommitFn)> = Some((plan::KIND, commit::commit_json));

    fn build(
        config: DeltaConfig,
        input: &BuildInput,
        _ctx: &BuildContext,
    ) -> Result<Box<dyn Sink>, BuildError> {
        Ok(Box::new(delta_sink(config, input)?))
    }
}
