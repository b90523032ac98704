//! The runtime: moves batches from sources through transforms into sinks.
//!
//! - **One task per source and per sink.** Transforms run inline in the task of the source that
//!   produced the batch (they are cheap per-batch functions; a task hop would only add latency).
//!   A streaming transform (see [`Transform::push`]) is started once before any source, and
//!   flushed by the task that closes its last input edge, after every upstream ended cleanly,
//!   so output that arrives after the last input still reaches the sinks before the barrier.
//! - **Bounded channels** (`[pipeline] buffer` batches) sit in front of every sink. A full channel
//!   makes the source task wait, and a waiting source task stops polling its stream — which, for
//!   a pull-based source, means no further API page is fetched. So the slowest sink paces the
//!   whole pipeline and memory stays bounded whatever the data volume.
//! - **Batch semantics.** The run ends when every source is exhausted (or no sink wants more),
//!   every channel is drained, and every sink has finished.
//! - **Commit barrier.** A sink's `finish` (its commit) is called only after *every* source ended
//!   cleanly and *every* sink accepted *every* batch. If anything failed, or the run was
//!   interrupted, all sinks are dropped unfinished: none of them commits. Sinks that cannot
//!   stage (standard output, an `exec` child whose exit is its commit) finish first; sinks that
//!   stage ([`Sink::stages`](crate::plugin::Sink::stages): files, tables) finish only if all of
//!   those succeeded, so a child failing at the end leaves nothing committed elsewhere.
//! - **State and exactly-once** (with `[pipeline] state`, see [`crate::state`]): the run takes the
//!   state's lock, rolls forward a commit a crashed run left `pending`, hands each source its
//!   stored watermarks ([`RunContext::checkpoint`]), and at the barrier asks every sink to
//!   [`prepare`](crate::plugin::Sink::prepare) instead of `finish`. Then: write-ahead record
//!   (`pending`: plans, new watermarks, run record) → commit every plan → state with watermarks
//!   advanced and `pending` cleared → lock removed. A crash at any point either commits nothing
//!   (before the record) or is rolled forward by the next run (after it).

mod report;
mod route;
mod shared;
mod sinks;
mod sources;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use report::SinkOutcome;
pub use report::{RunReport, SinkRunReport, SourceRunReport};
use route::wire;
use shared::RunShared;
use sinks::spawn_sinks;
use sources::{join_sources, spawn_sources};

use crate::checkpoint::Checkpoint;
use crate::component::ComponentId;
use crate::config::Pipeline;
use crate::error::RunError;
use crate::failpoint;
use crate::plugin::{Services, new_run_id};
use crate::state::{PendingCommit, PendingPlan, RunRecord, State, StateStore, Version};
use crate::telemetry::Telemetry;

/// How to run a pipeline.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Cancel this to interrupt the run (Ctrl-C, SIGTERM): sources stop, nothing is committed.
    pub interrupt: CancellationToken,
    /// In-process services plugins may start (the embedded emulator).
    pub services: Services,
    /// Use this run id instead of a fresh one.
    pub run_id: Option<String>,
    /// Live counters (progress bars read them while the run goes on).
    pub telemetry: Arc<Telemetry>,
    /// Read and transform, but let sinks write nothing (`tributary run --dry-run`).
    pub dry_run: bool,
    /// Stop each source after this many rows (for trial runs: `tributary run --limit N`). The
    /// sinks still commit what they received.
    pub limit: Option<u64>,
    /// Ignore the stored watermarks for this run (`tributary run --full-refresh`); the state is
    /// still written at the end.
    pub full_refresh: bool,
    /// This worker's share of the work (`tributary run --shard K/N`). It tags the run id (so
    /// concurrent workers' file names never collide) and selects a state file of its own.
    pub shard: Option<crate::shard::Shard>,
}

/// Runs `pipeline` to completion.
///
/// Returns the report when every sink committed; otherwise the first error (and nothing was
/// committed, except where a sink's own `finish` failed after others had finished: that error
/// names the sink).
pub async fn run(pipeline: Pipeline, options: RunOptions) -> Result<RunReport, RunError> {
    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| match options.shard {
            Some(shard) => format!("{}-{}", new_run_id(), shard.tag()),
            None => new_run_id(),
        });
    let (location, store_options) = match (&pipeline.settings.state, options.dry_run) {
        (Some(state), false) => {
            let location = match options.shard {
                Some(shard) => shard.state_location(state.path()),
                None => state.path().to_owned(),
            };
            (location, state.store_options())
        }
        _ => return run_with(pipeline, options, run_id, None).await,
    };
    let store = StateStore::open_with(&location, store_options)?;
    let lock = store.lock(&run_id).await?;
    let outcome = async {
        let (mut state, mut version) = store.load(&pipeline.name).await?;
        if let Some(pending) = state.pending.take() {
            version =
                roll_forward(&store, &pipeline.committers, &mut state, version, pending).await?;
        }
        let stateful = Stateful {
            store: &store,
            state,
            version,
        };
        run_with(pipeline, options, run_id, Some(stateful)).await
    }
    .await;
    if outcome.is_ok() {
        failpoint::hit("runtime.state_final");
    }
    lock.release().await;
    outcome
}

/// The state of a run that keeps one.
struct Stateful<'a> {
    store: &'a StateStore,
    state: State,
    version: Version,
}

/// Finishes the commit a crashed run recorded in `pending`.
async fn roll_forward(
    store: &StateStore,
    committers: &crate::plugin::Committers,
    state: &mut State,
    version: Version,
    pending: PendingCommit,
) -> Result<Version, RunError> {
    tracing::warn!(
        run_id = %pending.run.run_id,
        sinks = pending.plans.len(),
        "the previous run stopped while committing; finishing its commit first"
    );
    for p in &pending.plans {
        committers.commit(&p.plan).await.map_err(|e| {
            RunError::msg(format!(
                "cannot finish the commit of run {} (sinks.{}) that a crash interrupted: {e}. The state {} still records it as pending; fix the cause and rerun",
                pending.run.run_id,
                p.sink,
                store.display()
            ))
        })?;
    }
    failpoint::hit("rollforward.done");
    let run_id = pending.run.run_id.clone();
    state.apply(pending);
    let version = store.store(state, &version).await?;
    tracing::info!(run_id = %run_id, "rolled the interrupted run forward: its files and watermarks are committed");
    Ok(version)
}

/// Runs the pipeline's phases: wire → start transforms → spawn sinks → spawn sources → barrier
/// (sinks finish or prepare) → commit with state → report.
async fn run_with(
    pipeline: Pipeline,
    options: RunOptions,
    run_id: String,
    mut stateful: Option<Stateful<'_>>,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let two_phase = stateful.is_some();
    let stored = stateful
        .as_ref()
        .filter(|_| !options.full_refresh)
        .map(|st| &st.state);
    let shared = Arc::new(RunShared {
        pipeline: pipeline.name.clone(),
        run_id: run_id.clone(),
        services: options.services.clone(),
        telemetry: options.telemetry.clone(),
        dry_run: options.dry_run,
        shard: options.shard,
        failure: options.interrupt.child_token(),
        first_error: std::sync::Mutex::default(),
        checkpoints: checkpoints(&pipeline, stored),
    });
    let (receivers, source_routes) = wire(&pipeline);
    start_transforms(&pipeline.transforms, &shared).await?;
    let Pipeline {
        sources,
        sinks,
        committers,
        ..
    } = pipeline;
    let sinks = spawn_sinks(sinks, receivers, &shared, two_phase);
    let source_tasks = spawn_sources(sources, source_routes, &shared, options.limit);
    let source_reports = join_sources(source_tasks, &shared).await;
    let sink_outcomes = sinks.barrier(&shared).await;

    if let Some(e) = shared.take_error() {
        return Err(e);
    }
    if options.interrupt.is_cancelled() {
        return Err(RunError::Interrupted);
    }
    if let Some(st) = stateful.as_mut() {
        let record = RunRecord {
            run_id: run_id.clone(),
            started: started_at,
            ended: chrono::Utc::now(),
            rows: sink_outcomes
                .iter()
                .map(|(r, _)| (r.id.clone(), r.report.rows))
                .collect(),
            full_refresh: options.full_refresh,
        };
        let pending = pending_commit(record, &sink_outcomes, &source_reports, &shared.checkpoints);
        commit_with_state(st, pending, &committers).await?;
    }
    Ok(RunReport {
        pipeline: shared.pipeline.clone(),
        run_id,
        sources: source_reports,
        sinks: sink_outcomes.into_iter().map(|(r, _)| r).collect(),
        units: shared.telemetry.snapshot(),
        dry_run: options.dry_run,
        elapsed: started.elapsed(),
    })
}

/// Each source's stored watermarks (none without a state or on `--full-refresh`), and where it
/// records new ones.
fn checkpoints(pipeline: &Pipeline, stored: Option<&State>) -> BTreeMap<String, Arc<Checkpoint>> {
    pipeline
        .sources
        .iter()
        .map(|s| {
            let marks = stored
                .and_then(|state| state.sources.get(&s.id).cloned())
                .unwrap_or_default();
            (s.id.clone(), Arc::new(Checkpoint::new(marks)))
        })
        .collect()
}

/// Starts the streaming transforms' resources (an external process) before any data flows; one
/// that cannot start fails the run before any sink has started, so nothing is written.
async fn start_transforms(
    transforms: &[crate::config::TransformNode],
    shared: &RunShared,
) -> Result<(), RunError> {
    for t in transforms {
        t.transform
            .start(&shared.ctx(&t.id))
            .await
            .map_err(|e| RunError::component(ComponentId::transform(&t.id), e))?;
    }
    Ok(())
}

/// The write-ahead record of a two-phase run: its record, every sink's plan, and the new
/// watermarks of the sources read to their end.
fn pending_commit(
    run: RunRecord,
    sinks: &[SinkOutcome],
    sources: &[SourceRunReport],
    checkpoints: &BTreeMap<String, Arc<Checkpoint>>,
) -> PendingCommit {
    let complete: std::collections::BTreeSet<&str> = sources
        .iter()
        .filter(|r| r.complete)
        .map(|r| r.id.as_str())
        .collect();
    PendingCommit {
        run,
        plans: sinks
            .iter()
            .filter_map(|(r, plan)| {
                plan.clone().map(|plan| PendingPlan {
                    sink: r.id.clone(),
                    plan,
                })
            })
            .collect(),
        watermarks: checkpoints
            .iter()
            .filter(|(id, _)| complete.contains(id.as_str()))
            .map(|(id, c)| (id.clone(), c.advanced()))
            .filter(|(_, marks)| !marks.is_empty())
            .collect(),
    }
}

/// Commits a prepared two-phase run: write-ahead record → every plan → state with the
/// watermarks advanced and `pending` cleared. A crash after the record is rolled forward by the
/// next run.
async fn commit_with_state(
    st: &mut Stateful<'_>,
    pending: PendingCommit,
    committers: &crate::plugin::Committers,
) -> Result<(), RunError> {
    failpoint::hit("runtime.prepared");
    st.state.pending = Some(pending.clone());
    st.version = st.store.store(&st.state, &st.version).await?;
    failpoint::hit("runtime.pending_written");
    for p in &pending.plans {
        committers.commit(&p.plan).await.map_err(|e| {
            RunError::component(
                ComponentId::sink(&p.sink),
                RunError::msg(format!(
                    "{e} (the state {} records this commit as pending: the next run finishes it)",
                    st.store.display()
                )),
            )
        })?;
    }
    failpoint::hit("runtime.committed");
    st.state.apply(pending);
    st.store.store(&st.state, &st.version).await.map_err(|e| {
        RunError::msg(format!(
            "every sink committed, but {e}; the next run finishes recording it"
        ))
    })?;
    Ok(())
}
