//! The graph wired for a run: one bounded channel in front of each sink, and each source's routes
//! through the transforms into those channels (backpressure and streaming-transform flushes).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;

use crate::component::ComponentId;
use crate::config::{NodeId, Pipeline};
use crate::error::RunError;
use crate::plugin::Transform;

/// Where a batch goes after a node: through a transform, or into a sink's channel.
pub(super) enum Route {
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
    pub(super) fn alive(&self) -> bool {
        match self {
            Route::Transform { next, .. } => next.iter().any(Route::alive),
            Route::Sink { tx } => tx.is_some(),
        }
    }
}

/// Sends `batch` down every route, waiting on full channels (backpressure).
pub(super) async fn deliver(routes: &mut [Route], batch: RecordBatch) -> Result<(), RunError> {
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
pub(super) async fn close(routes: &mut [Route]) -> Result<(), RunError> {
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

pub(super) fn routes_from(
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

/// Wires the graph: one bounded channel in front of each sink, and each source's routes. The
/// senders live only in the routes, so a sink's channel closes when every route into it is
/// gone (its sources ended): that is how a sink learns its input is complete.
pub(super) fn wire(pipeline: &Pipeline) -> (Vec<mpsc::Receiver<RecordBatch>>, Vec<Vec<Route>>) {
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
