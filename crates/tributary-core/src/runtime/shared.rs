//! What every task of one run shares.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::checkpoint::Checkpoint;
use crate::error::RunError;
use crate::plugin::{RunContext, Services};
use crate::telemetry::Telemetry;

/// What every task of one run shares: the failure switch, the first error, and what each
/// component's [`RunContext`] is made of.
pub(super) struct RunShared {
    pub(super) pipeline: String,
    pub(super) run_id: String,
    pub(super) services: Services,
    pub(super) telemetry: Arc<Telemetry>,
    pub(super) dry_run: bool,
    pub(super) shard: Option<crate::shard::Shard>,
    /// Stops everything when any component fails; a child of the caller's `interrupt`.
    pub(super) failure: CancellationToken,
    pub(super) first_error: std::sync::Mutex<Option<RunError>>,
    pub(super) checkpoints: BTreeMap<String, Arc<Checkpoint>>,
}

impl RunShared {
    /// Records `e` if it is the run's first error, and stops every task.
    pub(super) fn fail(&self, e: RunError) {
        let mut slot = crate::sync::lock(&self.first_error);
        if slot.is_none() {
            *slot = Some(e);
        }
        self.failure.cancel();
    }

    /// The first error, if anything failed.
    pub(super) fn take_error(&self) -> Option<RunError> {
        crate::sync::lock(&self.first_error).take()
    }

    /// The context handed to component `id`.
    pub(super) fn ctx(&self, id: &str) -> RunContext {
        RunContext {
            pipeline: self.pipeline.clone(),
            id: id.to_owned(),
            run_id: self.run_id.clone(),
            cancel: self.failure.clone(),
            services: self.services.clone(),
            telemetry: self.telemetry.clone(),
            dry_run: self.dry_run,
            checkpoint: self.checkpoints.get(id).cloned().unwrap_or_default(),
            shard: self.shard,
        }
    }
}
