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
//!   interrupted, all sinks are dropped unfinished: none of them commits.
//! - **State and exactly-once** (with `[pipeline] state`, see [`crate::state`]): the run takes the
//!   state's lock, rolls forward a commit a crashed run left `pending`, hands each source its
//!   stored watermarks ([`RunContext::checkpoint`]), and at the barrier asks every sink to
//!   [`prepare`](crate::plugin::Sink::prepare) instead of `finish`. Then: write-ahead record
//!   (`pending`: plans, new watermarks, run record) → commit every plan → state with watermarks
//!   advanced and `pending` cleared → lock removed. A crash at any point either commits nothing
//!   (before the record) or is rolled forward by the next run (after it).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{NodeId, Pipeline};
use crate::error::RunError;
use crate::failpoint;
use crate::plugin::{RunContext, Services, SinkReport, Transform, new_run_id};
use crate::state::{Checkpoint, PendingCommit, PendingPlan, RunRecord, State, StateStore, Version};
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
                    .map_err(|e| RunError::component(format!("transforms.{id}"), e))?;
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
                let component = format!("transforms.{id}");
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

async fn run_with(
    pipeline: Pipeline,
    options: RunOptions,
    run_id: String,
    mut stateful: Option<Stateful<'_>>,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let two_phase = stateful.is_some();
    let checkpoints: std::collections::BTreeMap<String, Arc<Checkpoint>> = pipeline
        .sources
        .iter()
        .map(|s| {
            let stored = match &stateful {
                Some(st) if !options.full_refresh => {
                    st.state.sources.get(&s.id).cloned().unwrap_or_default()
                }
                _ => Default::default(),
            };
            (s.id.clone(), Arc::new(Checkpoint::new(stored)))
        })
        .collect();
    let telemetry = options.telemetry.clone();
    // `failure` stops everything when any component fails; `interrupt` comes from outside.
    let failure = options.interrupt.child_token();
    let first_error: Arc<std::sync::Mutex<Option<RunError>>> = Arc::default();
    let fail = {
        let first_error = first_error.clone();
        let failure = failure.clone();
        move |e: RunError| {
            if let Ok(mut slot) = first_error.lock()
                && slot.is_none()
            {
                *slot = Some(e);
            }
            failure.cancel();
        }
    };
    let pipeline_name = pipeline.name.clone();
    let ctx_for = |id: &str| RunContext {
        pipeline: pipeline_name.clone(),
        id: id.to_owned(),
        run_id: run_id.clone(),
        cancel: failure.clone(),
        services: options.services.clone(),
        telemetry: telemetry.clone(),
        dry_run: options.dry_run,
        checkpoint: checkpoints.get(id).cloned().unwrap_or_default(),
        shard: options.shard,
    };

    let capacity = pipeline.settings.buffer.max(1);
    let (senders, receivers): (Vec<_>, Vec<_>) = pipeline
        .sinks
        .iter()
        .map(|_| mpsc::channel::<RecordBatch>(capacity))
        .unzip();
    let open_edges: Vec<Arc<AtomicUsize>> =
        pipeline.transforms.iter().map(|_| Arc::default()).collect();
    let source_routes: Vec<Vec<Route>> = (0..pipeline.sources.len())
        .map(|i| routes_from(&pipeline, NodeId::Source(i), &senders, &open_edges))
        .collect();
    drop(senders);
    // Streaming transforms start their resources (an external process) before any data flows;
    // one that cannot start fails the run before any sink has started, so nothing is written.
    for t in &pipeline.transforms {
        t.transform
            .start(&ctx_for(&t.id))
            .await
            .map_err(|e| RunError::component(format!("transforms.{}", t.id), e))?;
    }

    let Pipeline {
        sources,
        sinks,
        committers,
        ..
    } = pipeline;

    // Sink tasks: write until their channel closes, then wait for the commit decision.
    let (decide, decision) = watch::channel(Decision::Pending);
    let (drained_tx, mut drained_rx) = mpsc::channel::<()>(sinks.len().max(1));
    let mut sink_tasks = JoinSet::new();
    for ((index, node), mut rx) in sinks.into_iter().enumerate().zip(receivers) {
        let ctx = ctx_for(&node.id);
        let fail = fail.clone();
        let mut decision = decision.clone();
        let failure = failure.clone();
        let drained_tx = drained_tx.clone();
        let counters = telemetry.counters(&format!("sinks.{}", node.id), "");
        sink_tasks.spawn(async move {
            let component = format!("sinks.{}", node.id);
            let mut sink = node.sink;
            let written: Result<(), RunError> = async {
                sink.start(&ctx).await?;
                loop {
                    let batch = tokio::select! {
                        _ = failure.cancelled() => return Ok(()),
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
            .await;
            // Closing the receiver tells upstream tasks this sink is done.
            drop(rx);
            if let Err(e) = written {
                fail(RunError::component(&component, e));
            }
            let _ = drained_tx.send(()).await;
            drop(drained_tx);
            let verdict = loop {
                let now = *decision.borrow_and_update();
                if now != Decision::Pending {
                    break now;
                }
                if decision.changed().await.is_err() {
                    break Decision::Abort;
                }
            };
            if verdict != Decision::Commit {
                // Dropped unfinished: commits nothing.
                drop(sink);
                return (index, None);
            }
            let outcome = if two_phase {
                sink.prepare().await.map(|p| (p.report, p.plan))
            } else {
                sink.finish().await.map(|r| (r, None))
            };
            match outcome {
                Ok((report, plan)) => {
                    // A sink's `rows` is what it wrote (its report): while it ran, the counter
                    // showed the rows handed to it, which a sink may not all write (a table's
                    // `max_rows`), and the report's units must agree with its sinks.
                    counters.rows.store(report.rows, std::sync::atomic::Ordering::Relaxed);
                    Counters::add(&counters.files, report.files);
                    Counters::add(&counters.bytes, report.bytes);
                    counters.done.store(true, std::sync::atomic::Ordering::Relaxed);
                    if ctx.dry_run {
                        // Nothing was committed: saying so would contradict the sink's own
                        // "dry run: nothing written".
                        tracing::info!(sink = %component, rows = report.rows, files = report.files, "sink finished (dry run: nothing committed)");
                    } else if plan.is_none() {
                        tracing::info!(sink = %component, rows = report.rows, files = report.files, bytes = report.bytes, location = report.location.as_deref().unwrap_or(""), "sink committed");
                    }
                    (index, Some((SinkRunReport { id: node.id, plugin: node.plugin.to_owned(), report }, plan)))
                }
                Err(e) => {
                    fail(RunError::component(&component, e));
                    (index, None)
                }
            }
        });
    }
    drop(decision);

    // Source tasks: pull, transform inline, deliver.
    let mut source_tasks = JoinSet::new();
    for (node, mut routes) in sources.into_iter().zip(source_routes) {
        let ctx = ctx_for(&node.id);
        let fail = fail.clone();
        let failure = failure.clone();
        let limit = options.limit;
        let counters = telemetry.counters(&format!("sources.{}", node.id), "");
        source_tasks.spawn(async move {
            let component = format!("sources.{}", node.id);
            let mut report = SourceRunReport {
                id: node.id.clone(),
                batches: 0,
                rows: 0,
                complete: false,
            };
            if !routes.iter().any(Route::alive) {
                return report;
            }
            let mut stream = node.source.open(&ctx);
            let mut clean = false;
            loop {
                let next = tokio::select! {
                    biased;
                    _ = failure.cancelled() => break,
                    next = stream.next() => next,
                };
                let batch = match next {
                    None => {
                        report.complete = true;
                        clean = true;
                        break;
                    }
                    Some(Err(e)) => {
                        fail(RunError::component(&component, e));
                        break;
                    }
                    Some(Ok(batch)) => batch,
                };
                let (batch, limit_reached) = match limit {
                    Some(limit) => {
                        let left = limit.saturating_sub(report.rows) as usize;
                        (batch.slice(0, batch.num_rows().min(left)), batch.num_rows() >= left)
                    }
                    None => (batch, false),
                };
                report.batches += 1;
                report.rows += batch.num_rows() as u64;
                Counters::add(&counters.rows, batch.num_rows() as u64);
                if batch.num_rows() == 0 {
                    // Sources may yield empty batches (an empty API page); sinks never see them.
                } else if let Err(e) = deliver(&mut routes, batch).await {
                    fail(e);
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
                && !failure.is_cancelled()
                && let Err(e) = close(&mut routes).await
            {
                fail(e);
            }
            counters.done.store(true, std::sync::atomic::Ordering::Relaxed);
            report
        });
    }

    let mut source_reports = Vec::new();
    while let Some(joined) = source_tasks.join_next().await {
        match joined {
            Ok(report) => source_reports.push(report),
            Err(e) => fail(RunError::msg(format!("a source task panicked: {e}"))),
        }
    }
    // Every sender is gone now, so each sink drains its channel and reports. Only when all of
    // them have stopped writing can we know nobody failed: that is the commit barrier.
    drop(drained_tx);
    while drained_rx.recv().await.is_some() {}
    let verdict = if failure.is_cancelled() {
        Decision::Abort
    } else {
        Decision::Commit
    };
    let _ = decide.send(verdict);

    let mut sink_reports = Vec::new();
    while let Some(joined) = sink_tasks.join_next().await {
        match joined {
            Ok((index, Some(report))) => sink_reports.push((index, report)),
            Ok((_, None)) => {}
            Err(e) => fail(RunError::msg(format!("a sink task panicked: {e}"))),
        }
    }
    sink_reports.sort_by_key(|(i, _)| *i);

    if let Some(e) = first_error.lock().ok().and_then(|mut slot| slot.take()) {
        return Err(e);
    }
    if options.interrupt.is_cancelled() {
        return Err(RunError::Interrupted);
    }
    if let Some(st) = stateful.as_mut() {
        failpoint::hit("runtime.prepared");
        let complete: std::collections::BTreeSet<&str> = source_reports
            .iter()
            .filter(|r| r.complete)
            .map(|r| r.id.as_str())
            .collect();
        let pending = PendingCommit {
            run: RunRecord {
                run_id: run_id.clone(),
                started: started_at,
                ended: chrono::Utc::now(),
                rows: sink_reports
                    .iter()
                    .map(|(_, (r, _))| (r.id.clone(), r.report.rows))
                    .collect(),
                full_refresh: options.full_refresh,
            },
            plans: sink_reports
                .iter()
                .filter_map(|(_, (r, plan))| {
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
        };
        // The write-ahead record: from here on, a crash is rolled forward by the next run.
        st.state.pending = Some(pending.clone());
        st.version = st.store.store(&st.state, &st.version).await?;
        failpoint::hit("runtime.pending_written");
        for p in &pending.plans {
            committers.commit(&p.plan).await.map_err(|e| {
                RunError::component(
                    format!("sinks.{}", p.sink),
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
    }
    Ok(RunReport {
        pipeline: pipeline_name,
        run_id,
        sources: source_reports,
        sinks: sink_reports.into_iter().map(|(_, (r, _))| r).collect(),
        units: telemetry.snapshot(),
        dry_run: options.dry_run,
        elapsed: started.elapsed(),
    })
}
