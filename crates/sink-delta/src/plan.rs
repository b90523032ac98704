//! The delta sink's two-phase commit, first half: [`DeltaPlan`] is what `prepare` returns — data
//! files already written into the table directory but not yet in the log, so invisible to
//! readers. [`DeltaPlan::commit`] (in [`crate::commit`]) adds them to the log in one commit.
//!
//! The plan is plain data, stored as JSON in the pipeline's state until it is committed, so a
//! later run can roll it forward after a crash.

use deltalake::kernel::Add;
use serde::{Deserialize, Serialize};
use tributary_core::RunError;

use crate::config::{Compression, Mode};
use crate::table::TableLocation;

/// The `kind` of a [`DeltaPlan`] in JSON.
pub const KIND: &str = "delta/1";

/// A prepared, uncommitted write of one delta sink.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeltaPlan {
    /// Always [`KIND`].
    pub kind: String,
    /// The table.
    pub table: TableLocation,
    /// `tributary/<pipeline>/<sink>[/<shard>]`: whose writes these are.
    pub app_id: String,
    /// This write's number for `app_id`; greater than every earlier one.
    pub txn_version: i64,
    /// Append or merge.
    pub mode: Mode,
    /// The table's partition columns.
    pub partition_by: Vec<String>,
    /// The data files written, as Delta `add` actions.
    pub adds: Vec<Add>,
    /// Rows in `adds`.
    pub rows: u64,
    /// `commit_retries`.
    pub commit_retries: usize,
    /// `merge_retries`.
    pub merge_retries: usize,
    /// How data files are compressed (files a merge rewrites are written the same way).
    pub compression: Compression,
    /// `compression_level`.
    pub compression_level: Option<i32>,
    /// `target_file_size` in bytes (files a merge rewrites are split at it too).
    #[serde(default)]
    pub target_file_size: u64,
    /// The run that wrote the files.
    pub run_id: String,
}

impl DeltaPlan {
    /// As JSON, for `Prepared::plan`.
    pub fn to_json(&self) -> Result<serde_json::Value, RunError> {
        serde_json::to_value(self)
            .map_err(|e| RunError::msg(format!("cannot serialize a Delta commit plan: {e}")))
    }
}
