//! The self-contained commit plan of a lake sink, as stored in the state's write-ahead record.
//!
//! [`LakePlan`] carries everything needed to finish a prepared run without the sink: where the
//! table is (an absolute local directory or the object-store URL, plus the client options — never
//! credentials: those come from the environment), the staged → final pairs, and the manifest.
//! [`commit_plan`] is idempotent: running it twice, or after a crash half-way, ends in the same
//! committed table.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use object_store::{ObjectStoreExt, PutPayload};

use super::commit::{CommitPlan, Manifest, STAGING_DIR, remove_empty_dirs};
use super::generation::{
    COMMITS_DIR, Retired, Writer, delete_retired, intent_path, list_under, remove_intent,
};
use tributary_core::error::RunError;
use tributary_core::failpoint;
use tributary_core::plugin::SinkReport;
use tributary_core::store::{StoreOptions, Target, TargetSpec};

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
    /// What this run's files replace (`write_mode = "overwrite"`/`"overwrite_partitions"`):
    /// deleted only after the new files and manifest are in place (see
    /// [`super::generation`]). Empty for appends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retire: Vec<Retired>,
}

impl LakePlan {
    /// As JSON, for [`tributary_core::plugin::Prepared::plan`].
    pub fn to_json(&self) -> Result<serde_json::Value, RunError> {
        serde_json::to_value(self)
            .map_err(|e| RunError::msg(format!("cannot serialize a commit plan: {e}")))
    }

    /// Renames every staged file into place, writes the manifest, deletes the generation it
    /// replaces, tidies the staging directory. Used by the runtime, whose state holds the
    /// write-ahead record.
    pub async fn commit(&self) -> Result<SinkReport, RunError> {
        let spec = TargetSpec::parse(&self.location, self.options.clone()).map_err(|e| {
            RunError::msg(format!(
                "cannot reopen {} to commit: {}",
                self.location, e.message
            ))
        })?;
        let target = spec.open()?;
        let report = self.commit_on(&target, false).await?;
        tracing::info!(
            sink = %self.manifest.sink,
            rows = report.rows,
            files = report.files,
            bytes = report.bytes,
            location = %self.manifest.location,
            "sink committed"
        );
        Ok(report)
    }

    /// [`LakePlan::commit`] on an open target. With `lake_record`, the plan is first written to
    /// `_tributary/commits/<run>.json` (the write-ahead record of a run without a state) and
    /// removed at the end. Idempotent.
    pub async fn commit_on(
        &self,
        target: &Target,
        lake_record: bool,
    ) -> Result<SinkReport, RunError> {
        if lake_record {
            write_intent(target, self).await?;
        }
        self.plan.commit(target.store.as_ref()).await?;
        failpoint::hit("commit.renamed");
        let mut manifest = self.manifest.clone();
        manifest.committed_at = Utc::now();
        manifest.write(target).await?;
        failpoint::hit("commit.manifest");
        if !self.retire.is_empty() {
            let deleted = delete_retired(target, &self.retire).await.map_err(|e| {
                RunError::msg(format!(
                    "the new files of run {} are committed, but the generation they replace is                      not fully deleted: {e}. The next run finishes it",
                    manifest.run_id
                ))
            })?;
            tracing::info!(
                sink = %manifest.sink,
                runs = self.retire.len(),
                files = deleted,
                "deleted the generation this run replaces"
            );
        }
        if lake_record {
            remove_intent(target, &manifest.run_id).await?;
            if let Some(root) = &target.local_root {
                // Only when empty: another writer's record keeps it.
                let _ = std::fs::remove_dir(root.join(COMMITS_DIR));
            }
        }
        if let Some(root) = &target.local_root {
            let dir = root.join(STAGING_DIR).join(&manifest.run_id);
            remove_empty_dirs(&dir);
            let _ = std::fs::remove_dir(&dir);
        }
        Ok(SinkReport {
            rows: manifest.rows,
            files: manifest.files.len() as u64,
            bytes: manifest.bytes,
            location: Some(manifest.location.clone()),
        })
    }
}

/// The file sinks' committer (`SinkPlugin::COMMITTER = Some(tributary_lake::COMMITTER)`): the
/// runtime commits their plans, and rolls a crashed commit forward, through it.
pub const COMMITTER: (&str, tributary_core::plugin::CommitFn) = (KIND, commit_json);

/// [`commit_plan`] as a [`tributary_core::plugin::CommitFn`].
fn commit_json(
    plan: serde_json::Value,
) -> futures::future::BoxFuture<'static, Result<SinkReport, RunError>> {
    Box::pin(async move { commit_plan(&plan).await })
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

/// Finishes the commits of `writer` that a killed run left in `_tributary/commits/` (step 1
/// reached, step 4 not). Returns how many it finished.
pub async fn finish_interrupted(target: &Target, writer: &Writer) -> Result<usize, RunError> {
    let listed = list_under(target, COMMITS_DIR, COMMITS_DIR).await?;
    let mut finished = 0;
    for meta in listed {
        let shown = target.display_path(&target.relative(&meta.location));
        let bytes = match target.store.get(&meta.location).await {
            Ok(got) => got.bytes().await,
            Err(e) => Err(e),
        };
        let plan = match bytes {
            Ok(b) => serde_json::from_slice::<LakePlan>(&b),
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => {
                return Err(RunError::msg(format!("cannot read {shown}: {e}")));
            }
        };
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(record = %shown, error = %e, "an interrupted commit record cannot be read; it is left alone");
                continue;
            }
        };
        if !writer.wrote(&plan.manifest) {
            continue;
        }
        tracing::warn!(run_id = %plan.manifest.run_id, "the previous run of this sink stopped while committing; finishing its commit first");
        plan.commit_on(target, true).await.map_err(|e| {
            RunError::msg(format!(
                "cannot finish the commit of run {} that was interrupted: {e}. If its files \
                 cannot be recovered, delete {shown} (its data is then not committed) and rerun",
                plan.manifest.run_id
            ))
        })?;
        finished += 1;
    }
    Ok(finished)
}

/// Writes the write-ahead record of `plan` (step 1).
pub async fn write_intent(target: &Target, plan: &LakePlan) -> Result<(), RunError> {
    let path = intent_path(target, &plan.manifest.run_id);
    let json = serde_json::to_vec_pretty(plan)
        .map_err(|e| RunError::msg(format!("cannot serialize a commit record: {e}")))?;
    target
        .store
        .put(&path, PutPayload::from(json))
        .await
        .map_err(|e| {
            RunError::msg(format!(
                "cannot write the commit record {} (nothing of this run is visible): {e}",
                target.display_path(&target.relative(&path))
            ))
        })?;
    failpoint::hit("commit.intent");
    Ok(())
}
