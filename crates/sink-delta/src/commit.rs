//! The delta sink's two-phase commit, second half: [`DeltaPlan::commit`] adds a plan's files to
//! the table's log in one commit (merging first with `mode = "merge"`).
//!
//! The commit is idempotent through Delta's own mechanism for it, the application transaction
//! (`txn`) action: every commit carries `txn(app_id, version)` for this pipeline, sink and
//! shard, and a plan whose version the table already records for its app id is not committed
//! again. That is what lets the runtime roll a commit forward after a crash without ever
//! appending the same rows twice.

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use tributary_core::RunError;
use tributary_core::plugin::SinkReport;

use crate::config::Mode;
use crate::merge;
use crate::plan::DeltaPlan;

/// Commits a plan stored as JSON (the runtime's entry point; see `SinkPlugin::COMMITTER`).
pub fn commit_json(plan: serde_json::Value) -> BoxFuture<'static, Result<SinkReport, RunError>> {
    Box::pin(async move {
        let plan: DeltaPlan = serde_json::from_value(plan)
            .map_err(|e| RunError::msg(format!("a Delta commit plan is damaged: {e}")))?;
        plan.commit().await
    })
}

/// Is this commit failure a lost race the merge can redo on the newer version?
fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_)
        }
    )
}

/// What one attempt commits: its actions, the report it makes, and the read predicate recorded
/// in the commit (merges only).
struct Attempt {
    actions: Vec<Action>,
    report: SinkReport,
    predicate: Option<String>,
}

impl DeltaPlan {
    /// Adds the plan's files to the table's log in one commit (merging first with
    /// `mode = "merge"`). Idempotent.
    pub async fn commit(&self) -> Result<SinkReport, RunError> {
        let mut table = self.load_table().await?;
        self.check_files_exist(&table).await?;
        let attempts = self.attempts();
        for attempt in 1..=attempts {
            if self.already_committed(&table).await? {
                tracing::info!(table = %self.table.display(), run_id = %self.run_id, "this write is already in the Delta table (committed before a crash); not committing it again");
                return Ok(self.planned_report());
            }
            let Attempt {
                actions,
                report,
                predicate,
            } = self.attempt_on(&table).await?;
            let state = table
                .snapshot()
                .map_err(|e| self.table.error("cannot read", e))?;
            tributary_core::failpoint::hit("delta.before_commit");
            let committed = CommitBuilder::from(self.properties())
                .with_actions(actions)
                .build(Some(state), table.log_store(), self.operation(predicate))
                .await;
            match committed {
                Ok(done) => {
                    tributary_core::failpoint::hit("delta.committed");
                    tracing::info!(table = %self.table.display(), version = done.version(), rows = report.rows, files = report.files, "Delta commit");
                    return Ok(report);
                }
                Err(e) if attempt < attempts && is_conflict(&e) => {
                    tracing::info!(table = %self.table.display(), attempt, mode = ?self.mode, "a concurrent writer changed the table; redoing the commit on the newer version");
                    table
                        .update_state()
                        .await
                        .map_err(|e| self.table.error("cannot read", e))?;
                }
                Err(e) if is_conflict(&e) => return Err(self.contention_error(&e)),
                Err(e) => return Err(self.table.error("cannot commit to", e)),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The table to commit to: it must still be there, since the run's files are in it.
    async fn load_table(&self) -> Result<DeltaTable, RunError> {
        self.table.load().await?.ok_or_else(|| {
            RunError::msg(format!(
                "the Delta table {} has disappeared since the run wrote its files; nothing was committed",
                self.table.display()
            ))
        })
    }

    /// How many times the commit is tried: only a merge or an overwrite is redone on a newer
    /// version (an append's retries happen inside delta-rs, see [`Self::properties`]).
    fn attempts(&self) -> usize {
        match self.mode {
            Mode::Append => 1,
            Mode::Merge => self.merge_retries.max(1),
            // Each attempt reads the table's files anew (see `attempt_on`).
            Mode::Overwrite => self.commit_retries.max(1),
        }
    }

    /// The report of a commit that adds exactly the plan's files.
    fn planned_report(&self) -> SinkReport {
        self.report(
            self.rows,
            self.adds.len() as u64,
            self.adds.iter().map(|a| a.size as u64).sum(),
        )
    }

    fn report(&self, rows: u64, files: u64, bytes: u64) -> SinkReport {
        SinkReport {
            rows,
            files,
            bytes,
            location: Some(self.table.display()),
        }
    }

    /// Whether `table` already holds this write (its app id's version is ours or newer).
    async fn already_committed(&self, table: &DeltaTable) -> Result<bool, RunError> {
        let state = table
            .snapshot()
            .map_err(|e| self.table.error("cannot read", e))?;
        let done = state
            .transaction_version(table.log_store().as_ref(), &self.app_id)
            .await
            .map_err(|e| self.table.error("cannot read", e))?;
        // Exactly ours: a newer version is another run's commit (say an overlapping run without
        // a shared state lock), which says nothing about whether this one landed.
        Ok(done == Some(self.txn_version))
    }

    /// Refuses to commit `add`s whose files are gone (a roll-forward long after the crash,
    /// after a VACUUM or a wiped directory): the table would point at missing files.
    async fn check_files_exist(&self, table: &DeltaTable) -> Result<(), RunError> {
        let store = table.object_store();
        for add in &self.adds {
            let path = object_store::path::Path::from_url_path(&add.path)
                .map_err(|e| RunError::msg(format!("a Delta commit plan is damaged: {e}")))?;
            if let Err(e) = store.head(&path).await {
                return Err(RunError::msg(format!(
                    "run {} wrote {} into the Delta table {}, but it is gone ({e}), so it cannot be \
                     committed. Drop the pending commit with `tributary state reset FILE \
                     --discard-pending` and run again to extract the data anew",
                    self.run_id,
                    add.path,
                    self.table.display()
                )));
            }
        }
        Ok(())
    }

    /// The actions of one attempt on the version `table` has loaded: the mode decides what
    /// besides the plan's files goes into the commit.
    async fn attempt_on(&self, table: &DeltaTable) -> Result<Attempt, RunError> {
        let plain = |actions| Attempt {
            actions,
            report: self.planned_report(),
            predicate: None,
        };
        Ok(match self.mode {
            Mode::Append => plain(self.adds.iter().cloned().map(Action::Add).collect()),
            Mode::Overwrite => {
                let mut actions = self.remove_all(table).await?;
                actions.extend(self.adds.iter().cloned().map(Action::Add));
                plain(actions)
            }
            Mode::Merge => {
                let merged = merge::merge(table, self).await?;
                Attempt {
                    report: self.report(merged.rows, merged.files, merged.bytes),
                    actions: merged.actions,
                    predicate: Some(merge::PREDICATE.to_owned()),
                }
            }
        })
    }

    /// `remove` actions for every file of the table as `table` has it (`mode = "overwrite"`):
    /// with the run's `add`s in the same commit, readers switch from the old table to the new
    /// one at once.
    async fn remove_all(&self, table: &DeltaTable) -> Result<Vec<Action>, RunError> {
        let files: Vec<_> = table
            .get_active_add_actions_by_predicate(None)
            .try_collect()
            .await
            .map_err(|e| self.table.error("cannot list the files of", e))?;
        Ok(files
            .iter()
            .map(|view| Action::Remove(view.remove_action(true)))
            .collect())
    }

    /// The operation the commit records in the table's history.
    fn operation(&self, predicate: Option<String>) -> DeltaOperation {
        DeltaOperation::Write {
            mode: match self.mode {
                Mode::Overwrite => SaveMode::Overwrite,
                Mode::Append | Mode::Merge => SaveMode::Append,
            },
            partition_by: (!self.partition_by.is_empty()).then(|| self.partition_by.clone()),
            predicate,
        }
    }

    /// The commit's retries inside delta-rs, its application transaction (what makes it
    /// idempotent) and the run it comes from.
    fn properties(&self) -> CommitProperties {
        // A merge read the table as of `table`'s version; delta-rs' conflict checker (without
        // DataFusion) would let it commit over a concurrent OPTIMIZE that compacted a file the
        // merge rewrites (`dataChange = false` removes are not checked), bringing the old
        // rows back. So a merge commits only on the version it read, and is redone otherwise.
        // An overwrite likewise removes exactly the files of the version it read: a file a
        // concurrent writer added after it would survive a rebased commit, so it is redone.
        let retries = match self.mode {
            Mode::Append => self.commit_retries,
            Mode::Merge | Mode::Overwrite => 0,
        };
        CommitProperties::default()
            .with_max_retries(retries)
            .with_application_transaction(Transaction::new(&self.app_id, self.txn_version))
            .with_metadata([
                ("tributary.run_id".to_owned(), self.run_id.clone().into()),
                ("tributary.app_id".to_owned(), self.app_id.clone().into()),
            ])
    }

    /// The error of a commit that kept losing the race to other writers.
    fn contention_error(&self, e: &DeltaTableError) -> RunError {
        RunError::msg(format!(
            "cannot commit to the Delta table {}: other writers kept changing it ({e}). \
             Nothing of this run is visible; rerun (with `[pipeline] state` the \
             pending commit is finished first), or raise `commit_retries` / \
             `merge_retries`",
            self.table.display()
        ))
    }
}
