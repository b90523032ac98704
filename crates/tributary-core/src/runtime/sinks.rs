//! The sink tasks and the commit barrier: each sink writes its channel, then waits for the commit
//! decision of its round.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::record_batch::RecordBatch;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::report::{SinkOutcome, SinkRunReport};
use super::shared::RunShared;
use crate::component::ComponentId;
use crate::error::RunError;
use crate::plugin::{RunContext, SinkReport};
use crate::telemetry::Counters;

/// The commit decision broadcast to sink tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    Pending,
    Commit,
    Abort,
}

/// The running sink tasks, in two commit rounds, and the channels of the commit barrier.
pub(super) struct SinkTasks {
    /// Sinks that cannot stage their output (standard output, an `exec` child whose exit is its
    /// commit) — and, in a two-phase run, every sink, since preparing commits nothing that
    /// matters until the state records it.
    first: JoinSet<(usize, Option<SinkOutcome>)>,
    decide_first: watch::Sender<Decision>,
    /// Sinks that stage ([`Sink::stages`]), finished only once every sink of the first round
    /// finished: without a state, a failing `exec` sink then leaves nothing committed.
    second: JoinSet<(usize, Option<SinkOutcome>)>,
    decide_second: watch::Sender<Decision>,
    /// One message per sink once it stopped writing (its input ended, it failed, or it wants no
    /// more): the barrier waits for all of them.
    drained: mpsc::Receiver<()>,
}

/// Spawns one task per sink: it writes until its channel closes, then waits for the commit
/// decision of its round. Owns the sinks' receivers.
pub(super) fn spawn_sinks(
    sinks: Vec<crate::config::SinkNode>,
    receivers: Vec<mpsc::Receiver<RecordBatch>>,
    shared: &Arc<RunShared>,
    two_phase: bool,
) -> SinkTasks {
    let (decide_first, first_decision) = watch::channel(Decision::Pending);
    let (decide_second, second_decision) = watch::channel(Decision::Pending);
    let (drained_tx, drained) = mpsc::channel::<()>(sinks.len().max(1));
    let mut first = JoinSet::new();
    let mut second = JoinSet::new();
    for ((index, node), rx) in sinks.into_iter().enumerate().zip(receivers) {
        let task = SinkTask {
            index,
            id: node.id,
            plugin: node.plugin,
            shared: shared.clone(),
            two_phase,
        };
        if !two_phase && node.sink.stages() {
            let decision = second_decision.clone();
            second.spawn(task.run(node.sink, rx, drained_tx.clone(), decision));
        } else {
            let decision = first_decision.clone();
            first.spawn(task.run(node.sink, rx, drained_tx.clone(), decision));
        }
    }
    SinkTasks {
        first,
        decide_first,
        second,
        decide_second,
        drained,
    }
}

impl SinkTasks {
    /// The commit barrier: once every sink stopped writing, nobody can fail any more before the
    /// commit, so the verdict is known. Commits (or aborts) the first round, then the second,
    /// and returns the sinks' outcomes in file order.
    pub(super) async fn barrier(mut self, shared: &RunShared) -> Vec<SinkOutcome> {
        while self.drained.recv().await.is_some() {}
        let verdict = |shared: &RunShared| {
            if shared.failure.is_cancelled() {
                Decision::Abort
            } else {
                Decision::Commit
            }
        };
        let _ = self.decide_first.send(verdict(shared));
        let mut outcomes = join_sinks(&mut self.first, shared).await;
        let _ = self.decide_second.send(verdict(shared));
        outcomes.extend(join_sinks(&mut self.second, shared).await);
        outcomes.sort_by_key(|(i, _)| *i);
        outcomes.into_iter().map(|(_, o)| o).collect()
    }
}

pub(super) async fn join_sinks(
    tasks: &mut JoinSet<(usize, Option<SinkOutcome>)>,
    shared: &RunShared,
) -> Vec<(usize, SinkOutcome)> {
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, Some(outcome))) => outcomes.push((index, outcome)),
            Ok((_, None)) => {}
            Err(e) => shared.fail(RunError::msg(format!("a sink task panicked: {e}"))),
        }
    }
    outcomes
}

/// One sink's task.
pub(super) struct SinkTask {
    index: usize,
    id: String,
    plugin: &'static str,
    shared: Arc<RunShared>,
    two_phase: bool,
}

impl SinkTask {
    async fn run(
        self,
        mut sink: Box<dyn crate::plugin::Sink>,
        mut rx: mpsc::Receiver<RecordBatch>,
        drained: mpsc::Sender<()>,
        decision: watch::Receiver<Decision>,
    ) -> (usize, Option<SinkOutcome>) {
        let component = ComponentId::sink(&self.id).to_string();
        let ctx = self.shared.ctx(&self.id);
        let counters = self.shared.telemetry.counters(&component, "");
        let written = self.write_all(&mut *sink, &mut rx, &ctx, &counters).await;
        // Closing the receiver tells upstream tasks this sink is done.
        drop(rx);
        if let Err(e) = written {
            self.shared.fail(RunError::component(&component, e));
        }
        let _ = drained.send(()).await;
        drop(drained);
        if wait_for(decision).await != Decision::Commit {
            // Dropped unfinished: commits nothing.
            return (self.index, None);
        }
        let outcome = if self.two_phase {
            sink.prepare().await.map(|p| (p.report, p.plan))
        } else {
            sink.finish().await.map(|r| (r, None))
        };
        match outcome {
            Ok((report, plan)) => {
                record_finished(&counters, &report);
                if ctx.dry_run {
                    // Nothing was committed: saying so would contradict the sink's own
                    // "dry run: nothing written".
                    tracing::info!(sink = %component, rows = report.rows, files = report.files, "sink finished (dry run: nothing committed)");
                } else if plan.is_none() {
                    tracing::info!(sink = %component, rows = report.rows, files = report.files, bytes = report.bytes, location = report.location.as_deref().unwrap_or(""), "sink committed");
                }
                let report = SinkRunReport {
                    id: self.id,
                    plugin: self.plugin.to_owned(),
                    report,
                };
                (self.index, Some((report, plan)))
            }
            Err(e) => {
                self.shared.fail(RunError::component(&component, e));
                (self.index, None)
            }
        }
    }

    /// Starts the sink and writes every batch of its channel, until the channel closes, the run
    /// fails, or the sink wants no more.
    async fn write_all(
        &self,
        sink: &mut dyn crate::plugin::Sink,
        rx: &mut mpsc::Receiver<RecordBatch>,
        ctx: &RunContext,
        counters: &Counters,
    ) -> Result<(), RunError> {
        sink.start(ctx).await?;
        loop {
            let batch = tokio::select! {
                _ = self.shared.failure.cancelled() => return Ok(()),
                batch = rx.recv() => batch,
            };
            let Some(batch) = batch else { return Ok(()) };
            sink.write(&batch).await?;
            Counters::add(&counters.rows, batch.num_rows() as u64);
            if !sink.wants_more() {
                return Ok(());
            }
        }
    }
}

/// Waits for the commit decision of a sink's round (`Abort` if the runtime is gone).
pub(super) async fn wait_for(mut decision: watch::Receiver<Decision>) -> Decision {
    loop {
        let now = *decision.borrow_and_update();
        if now != Decision::Pending {
            return now;
        }
        if decision.changed().await.is_err() {
            return Decision::Abort;
        }
    }
}

/// A sink's counters once it finished: its `rows` is what it wrote (its report). While it ran,
/// the counter showed the rows handed to it, which a sink may not all write (a table's
/// `max_rows`), and the report's units must agree with its sinks.
pub(super) fn record_finished(counters: &Counters, report: &SinkReport) {
    counters.rows.store(report.rows, Ordering::Relaxed);
    Counters::add(&counters.files, report.files);
    Counters::add(&counters.bytes, report.bytes);
    counters.done.store(true, Ordering::Relaxed);
}
