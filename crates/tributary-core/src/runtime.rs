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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::Checkpoint;
use crate::component::ComponentId;
use crate::config::{NodeId, Pipeline};
use crate::error::RunError;
use crate::failpoint;
use crate::plugin::{RunContext, Services, SinkReport, Transform, new_run_id};
use crate::state::{PendingCommit, PendingPlan, RunRecord, State, StateStore, Version};
use crate::telemetry::{Counters, Telemetry, UnitReport};

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

/// What one source produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceRunReport {
    /// The source's id.
    pub id: String,
    /// Batches read.
    pub batches: u64,
    /// Rows read.
    pub rows: u64,
    /// Whether the source was read to its end (not cut by `--limit` or an early stop): only
    /// then are its new watermarks stored.
    #[serde(skip)]
    pub complete: bool,
}

/// What one sink committed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SinkRunReport {
    /// The sink's id.
    pub id: String,
    /// The plugin.
    pub plugin: String,
    /// What it committed.
    pub report: SinkReport,
}

/// The outcome of a successful run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// This run's id.
    pub run_id: String,
    /// Per source.
    pub sources: Vec<SourceRunReport>,
    /// Per sink, in file order.
    pub sinks: Vec<SinkRunReport>,
    /// Every unit's counters (per Graph page/platform/folder, per sink).
    pub units: Vec<UnitReport>,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Wall time.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Where a batch goes after a node: through a transform, or into a sink's channel.
enum Route {
    Transform {
        id: String,
        transform: Arc<dyn Transform>,
        next: Vec<Route>,
        /// Input edges of this transform not closed yet, across every source task (shared by
        /// all routes into the same transform): the task that closes the last one flushes it.
        open_edges: Arc<AtomicUsize>,
    },
    Sink {
        tx: Option<mpsc::Sender<RecordBatch>>,
    },
}

impl Route {
    /// Whether some sink downstream still wants data.
    fn alive(&self) -> bool {
        match self {
            Route::Transform { next, .. } => next.iter().any(Route::alive),
            Route::Sink { tx } => tx.is_some(),
        }
    }
}

/// Sends `batch` down every route, waiting on full channels (backpressure).
async fn deliver(routes: &mut [Route], batch: RecordBatch) -> Result<(), RunError> {
    for route in routes.iter_mut() {
        match route {
            Route::Transform {
                id,
                transform,
                next,
                ..
            } => {
                if !next.iter().any(Route::alive) {
                    continue;
                }
                let out = transform
                    .push(batch.clone())
                    .await
                    .map_err(|e| RunError::component(ComponentId::transform(id.as_str()), e))?;
                for out in out.into_iter().filter(|b| b.num_rows() > 0) {
                    Box::pin(deliver(next, out)).await?;
                }
            }
            Route::Sink { tx } => {
                if let Some(sender) = tx
                    && sender.send(batch.clone()).await.is_err()
                {
                    // The sink wants no more (or failed; its own task reports that).
                    *tx = None;
                }
            }
        }
    }
    Ok(())
}

/// Closes a source task's routes after its source ended cleanly: every transform whose last
/// open input edge this was is flushed ([`Transform::flush`]) into its downstream routes before
/// those are closed in turn, so a transform below another sees all of its output first.
async fn close(routes: &mut [Route]) -> Result<(), RunError> {
    for route in routes.iter_mut() {
        if let Route::Transform {
            id,
            transform,
            next,
            open_edges,
        } = route
        {
            let last = open_edges.fetch_sub(1, Ordering::AcqRel) == 1;
            if last && next.iter().any(Route::alive) {
                let component = ComponentId::transform(id.as_str()).to_string();
                while let Some(out) = transform
                    .flush()
                    .await
                    .map_err(|e| RunError::component(&component, e))?
                {
                    if out.num_rows() > 0 {
                        Box::pin(deliver(next, out)).await?;
                    }
                }
            }
            Box::pin(close(next)).await?;
        }
    }
    Ok(())
}

fn routes_from(
    pipeline: &Pipeline,
    node: NodeId,
    senders: &[mpsc::Sender<RecordBatch>],
    open_edges: &[Arc<AtomicUsize>],
) -> Vec<Route> {
    let mut routes = Vec::new();
    for (i, t) in pipeline.transforms.iter().enumerate() {
        for _ in t.inputs.iter().filter(|&&n| n == node) {
            open_edges[i].fetch_add(1, Ordering::Relaxed);
            routes.push(Route::Transform {
                id: t.id.clone(),
                transform: t.transform.clone(),
                next: routes_from(pipeline, NodeId::Transform(i), senders, open_edges),
                open_edges: open_edges[i].clone(),
            });
        }
    }
    for (k, s) in pipeline.sinks.iter().enumerate() {
        for _ in s.inputs.iter().filter(|&&n| n == node) {
            routes.push(Route::Sink {
                tx: Some(senders[k].clone()),
            });
        }
    }
    routes
}

/// The commit decision broadcast to sink tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Pending,
    Commit,
    Abort,
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

/// What every task of one run shares: the failure switch, the first error, and what each
/// component's [`RunContext`] is made of.
struct RunShared {
    pipeline: String,
    run_id: String,
    services: Services,
    telemetry: Arc<Telemetry>,
    dry_run: bool,
    shard: Option<crate::shard::Shard>,
    /// Stops everything when any component fails; a child of the caller's `interrupt`.
    failure: CancellationToken,
    first_error: std::sync::Mutex<Option<RunError>>,
    checkpoints: BTreeMap<String, Arc<Checkpoint>>,
}

impl RunShared {
    /// Records `e` if it is the run's first error, and stops every task.
    fn fail(&self, e: RunError) {
        let mut slot = crate::sync::lock(&self.first_error);
        if slot.is_none() {
            *slot = Some(e);
        }
        self.failure.cancel();
    }

    /// The first error, if anything failed.
    fn take_error(&self) -> Option<RunError> {
        crate::sync::lock(&self.first_error).take()
    }

    /// The context handed to component `id`.
    fn ctx(&self, id: &str) -> RunContext {
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

/// A sink's outcome: its report and, in a two-phase run, the plan that commits it.
type SinkOutcome = (SinkRunReport, Option<serde_json::Value>);

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

/// Wires the graph: one bounded channel in front of each sink, and each source's routes. The
/// senders live only in the routes, so a sink's channel closes when every route into it is
/// gone (its sources ended): that is how a sink learns its input is complete.
fn wire(pipeline: &Pipeline) -> (Vec<mpsc::Receiver<RecordBatch>>, Vec<Vec<Route>>) {
    let capacity = pipeline.settings.buffer.max(1);
    let (senders, receivers): (Vec<_>, Vec<_>) = pipeline
        .sinks
        .iter()
        .map(|_| mpsc::channel::<RecordBatch>(capacity))
        .unzip();
    let open_edges: Vec<Arc<AtomicUsize>> =
        pipeline.transforms.iter().map(|_| Arc::default()).collect();
    let routes = (0..pipeline.sources.len())
        .map(|i| routes_from(pipeline, NodeId::Source(i), &senders, &open_edges))
        .collect();
    (receivers, routes)
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

/// The running sink tasks, in two commit rounds, and the channels of the commit barrier.
struct SinkTasks {
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
fn spawn_sinks(
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
    async fn barrier(mut self, shared: &RunShared) -> Vec<SinkOutcome> {
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

async fn join_sinks(
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
struct SinkTask {
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
async fn wait_for(mut decision: watch::Receiver<Decision>) -> Decision {
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
fn record_finished(counters: &Counters, report: &SinkReport) {
    counters.rows.store(report.rows, Ordering::Relaxed);
    Counters::add(&counters.files, report.files);
    Counters::add(&counters.bytes, report.bytes);
    counters.done.store(true, Ordering::Relaxed);
}

/// Spawns one task per source: pull, transform inline, deliver. Owns the sources' routes (and
/// so the senders of the sink channels).
fn spawn_sources(
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

async fn run_source(
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

async fn join_sources(
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
