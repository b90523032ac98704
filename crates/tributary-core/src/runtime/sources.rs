//! The source tasks: pull, transform inline, deliver into the sinks' channels.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use tokio::task::JoinSet;

use super::report::SourceRunReport;
use super::route::{Route, close, deliver};
use super::shared::RunShared;
use crate::component::ComponentId;
use crate::error::RunError;
use crate::telemetry::Counters;

/// Spawns one task per source: pull, transform inline, deliver. Owns the sources' routes (and
/// so the senders of the sink channels).
pub(super) fn spawn_sources(
    sources: Vec<crate::config::SourceNode>,
    routes: Vec<Vec<Route>>,
    shared: &Arc<RunShared>,
    limit: Option<u64>,
) -> JoinSet<SourceRunReport> {
    let mut tasks = JoinSet::new();
    for (node, routes) in sources.into_iter().zip(routes) {
        tasks.spawn(run_source(node, routes, shared.clone(), limit));
    }
    tasks
}

pub(super) async fn run_source(
    node: crate::config::SourceNode,
    mut routes: Vec<Route>,
    shared: Arc<RunShared>,
    limit: Option<u64>,
) -> SourceRunReport {
    let component = ComponentId::source(&node.id).to_string();
    let counters = shared.telemetry.counters(&component, "");
    let mut report = SourceRunReport {
        id: node.id.clone(),
        batches: 0,
        rows: 0,
        complete: false,
    };
    if !routes.iter().any(Route::alive) {
        return report;
    }
    let mut stream = node.source.open(&shared.ctx(&node.id));
    let mut clean = false;
    loop {
        let next = tokio::select! {
            biased;
            _ = shared.failure.cancelled() => break,
            next = stream.next() => next,
        };
        let batch = match next {
            None => {
                report.complete = true;
                clean = true;
                break;
            }
            Some(Err(e)) => {
                shared.fail(RunError::component(&component, e));
                break;
            }
            Some(Ok(batch)) => batch,
        };
        let (batch, limit_reached) = match limit {
            Some(limit) => {
                let left = limit.saturating_sub(report.rows) as usize;
                (
                    batch.slice(0, batch.num_rows().min(left)),
                    batch.num_rows() >= left,
                )
            }
            None => (batch, false),
        };
        report.batches += 1;
        report.rows += batch.num_rows() as u64;
        Counters::add(&counters.rows, batch.num_rows() as u64);
        if batch.num_rows() == 0 {
            // Sources may yield empty batches (an empty API page); sinks never see them.
        } else if let Err(e) = deliver(&mut routes, batch).await {
            shared.fail(e);
            break;
        }
        if !routes.iter().any(Route::alive) {
            tracing::debug!(source = %component, "no sink wants more data; stopping early");
            break;
        }
        if limit_reached {
            tracing::info!(source = %component, rows = report.rows, "row limit reached; stopping the source");
            clean = true;
            break;
        }
    }
    // Streaming transforms hand over what they still hold once all their inputs ended.
    if clean
        && !shared.failure.is_cancelled()
        && let Err(e) = close(&mut routes).await
    {
        shared.fail(e);
    }
    counters.done.store(true, Ordering::Relaxed);
    report
}

pub(super) async fn join_sources(
    mut tasks: JoinSet<SourceRunReport>,
    shared: &RunShared,
) -> Vec<SourceRunReport> {
    let mut reports = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(report) => reports.push(report),
            Err(e) => shared.fail(RunError::msg(format!("a source task panicked: {e}"))),
        }
    }
    reports
}
