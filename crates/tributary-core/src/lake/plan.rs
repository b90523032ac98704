//! The self-contained commit plan of a lake sink, as stored in the state's write-ahead record.
//!
//! [`LakePlan`] carries everything needed to finish a prepared run without the sink: where the
//! table is (an absolute local directory or the object-store URL, plus the client options — never
//! credentials: those come from the environment), the staged → final pairs, and the manifest.
//! [`commit_plan`] is idempotent: running it twice, or after a crash half-way, ends in the same
//! committed table.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::commit::{CommitPlan, Manifest, STAGING_DIR, remove_empty_dirs};
use super::target::{StoreOptions, TargetSpec};
use crate::error::RunError;
use crate::plugin::SinkReport;

/// The `kind` of a [`LakePlan`] in JSON.
pub const KIND: &str = "lake/1";

/// A prepared, uncommitted run of one lake sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakePlan {
    /// Always [`KIND`].
    pub kind: String,
    /// The table location: an absolute directory or an `s3://`/`gs://`/`az://` URL.
    pub location: String,
    /// Object-store client options.
    pub options: StoreOptions,
    /// Staged → final pairs.
    pub plan: CommitPlan,
    /// The run manifest to write once every file is in place.
    pub manifest: Manifest,
}

impl LakePlan {
    /// As JSON, for [`crate::plugin::Prepared::plan`].
    pub fn to_json(&self) -> Result<serde_json::Value, RunError> {
        serde_json::to_value(self)
            .map_err(|e| RunError::msg(format!("cannot serialize a commit plan: {e}")))
    }

    /// Renames every staged file into place, writes the manifest, tidies the staging directory.
    pub async fn commit(&self) -> Result<SinkReport, RunError> {
        let spec = TargetSpec::parse(&self.location, self.options.clone()).map_err(|e| {
            RunError::msg(format!(
                "cannot reopen {} to commit: {}",
                self.location, e.message
            ))
        })?;
        let target = spec.open()?;
        self.plan.commit(target.store.as_ref()).await?;
        crate::failpoint::hit("commit.renamed");
        let mut manifest = self.manifest.clone();
        manifest.committed_at = Utc::now();
        manifest.write(&target).await?;
        crate::failpoint::hit("commit.manifest");
        if let Some(root) = &target.local_root {
            let dir = root.join(STAGING_DIR).join(&manifest.run_id);
            remove_empty_dirs(&dir);
            let _ = std::fs::remove_dir(&dir);
        }
        tracing::info!(
            sink = %manifest.sink,
            rows = manifest.rows,
            files = manifest.files.len(),
            bytes = manifest.bytes,
            location = %manifest.location,
            "sink committed"
        );
        Ok(SinkReport {
            rows: manifest.rows,
            files: manifest.files.len() as u64,
            bytes: manifest.bytes,
            location: Some(manifest.location.clone()),
        })
    }
}

/// Commits a plan returned by a lake sink's `prepare` (idempotent; see [`LakePlan::commit`]).
pub async fn commit_plan(plan: &serde_json::Value) -> Result<SinkReport, RunError> {
    let kind = plan.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    if kind != KIND {
        return Err(RunError::msg(format!(
            "unknown commit plan kind `{kind}` (this build commits `{KIND}`)"
        )));
    }
    let plan: LakePlan = serde_json::from_value(plan.clone())
        .map_err(|e| RunError::msg(format!("a commit plan is damaged: {e}")))?;
    plan.commit().await
}
