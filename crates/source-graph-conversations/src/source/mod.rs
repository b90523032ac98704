//! [`GraphConversationsSource`]: the plugin's runtime. Threads become RecordBatches in the
//! canonical schema, one batch per API page.
//!
//! The rooms: `discovery` (which Pages `pages = "all"` reads), `incremental` (watermarks in and
//! out of the checkpoint), `progress` (the client's events to the runtime's telemetry) and
//! `batch` (threads to Arrow). This file only wires them into the [`Source`] trait; none of
//! them imports another.

mod batch;
mod discovery;
mod incremental;
mod progress;

use std::any::Any;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use tracing::info;
use tributary_core::RunError;
use tributary_core::canonical::{self, conversations_schema};
use tributary_core::component::ComponentId;
use tributary_core::plugin::{
    BatchStream, CheckResult, ReadScope, RunContext, Services, Source, ValueDomain,
};

use crate::client::{
    ClientOptions, ConversationsRequest, Folder, GraphClient, GraphError, Platform, SourceMetrics,
};
use crate::columns::BatchPage;
use crate::config::{Discovery, Mode};

pub use batch::{Columns, threads_to_batch};
pub use incremental::unit_key;

use discovery::{check_all_pages, discover};
use incremental::Incremental;
use progress::TelemetryObserver;

/// The name `base_url = "embedded"` asks the runtime to start.
pub const EMBEDDED_SERVICE: &str = "graph-emulator";

/// A built `graph_conversations` source, ready to open.
pub struct GraphConversationsSource {
    pub(crate) id: String,
    /// `None`: start the embedded emulator at `open`.
    pub(crate) base_url: Option<String>,
    pub(crate) options: ClientOptions,
    pub(crate) request: ConversationsRequest,
    pub(crate) platforms: Vec<Platform>,
    pub(crate) folders: Vec<Folder>,
    pub(crate) columns: Columns,
    pub(crate) mode: Mode,
    /// `pages = "all"`: the Pages are listed at `open`/`check` (build does no I/O).
    pub(crate) discovery: Option<Discovery>,
    /// `concurrency` as configured (`None`: 2 units per Page, counted after discovery).
    pub(crate) concurrency: Option<usize>,
    pub(crate) metrics: Arc<SourceMetrics>,
}

impl std::fmt::Debug for GraphConversationsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphConversationsSource")
            .field("id", &self.id)
            .field("base_url", &self.base_url)
            .field("pages", &self.request.pages.len())
            .field("all_pages", &self.discovery.is_some())
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl GraphConversationsSource {
    /// Live counters (API calls, retries, throttles, threads per unit), filled once opened.
    pub fn metrics(&self) -> Arc<SourceMetrics> {
        self.metrics.clone()
    }
}

/// Pages turned into Arrow batches at once (each on a blocking thread).
impl Source for GraphConversationsSource {
    fn schema(&self) -> SchemaRef {
        conversations_schema()
    }

    fn domains(&self) -> Vec<ValueDomain> {
        vec![
            ValueDomain {
                column: canonical::col::PLATFORM.into(),
                values: self
                    .platforms
                    .iter()
                    .map(|p| p.as_str().to_string())
                    .collect(),
                configured_by: ComponentId::source(&self.id).key("platforms"),
            },
            ValueDomain {
                column: canonical::col::FOLDER.into(),
                values: self
                    .folders
                    .iter()
                    .map(|f| f.as_str().to_string())
                    .collect(),
                configured_by: ComponentId::source(&self.id).key("folders"),
            },
        ]
    }

    fn read_scope(&self) -> ReadScope {
        match self.mode {
            Mode::Full => ReadScope::Everything,
            Mode::Incremental => ReadScope::SinceState,
        }
    }

    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Vec<CheckResult>> {
        Box::pin(async move {
            let (base_url, _guard) = match &self.base_url {
                Some(url) => (url.clone(), None),
                None => match ctx.services.start(EMBEDDED_SERVICE).await {
                    Ok(h) => (h.url, Some(h.guard)),
                    Err(e) => {
                        return vec![CheckResult {
                            target: "base_url = \"embedded\"".into(),
                            ok: false,
                            detail: e.to_string(),
                            fix: None,
                        }];
                    }
                },
            };
            let mut options = self.options.clone();
            options.base_url = base_url.clone();
            options.metrics = None;
            // A check should answer quickly: a couple of retries for a blip, no more.
            options.retry.max_retries = options.retry.max_retries.min(2);
            let client = match GraphClient::new(options) {
                Ok(c) => c,
                Err(e) => {
                    return vec![CheckResult {
                        target: base_url,
                        ok: false,
                        detail: e.to_string(),
                        fix: None,
                    }];
                }
            };
            let folder = self.folders.first().copied().unwrap_or(Folder::Inbox);
            if let Some(discovery) = &self.discovery {
                return check_all_pages(&client, discovery, &self.platforms, folder).await;
            }
            let checks = self.request.pages.iter().flat_map(|page| {
                let client = &client;
                self.platforms.iter().map(move |&platform| async move {
                    let target = format!("page {} {platform}", page.page_id);
                    match client.check_access(page, platform, folder).await {
                        Ok(_) => CheckResult {
                            target,
                            ok: true,
                            detail: format!("token accepted; {folder} conversations are readable"),
                            fix: None,
                        },
                        Err(e) => CheckResult {
                            target,
                            ok: false,
                            fix: e.fix(),
                            detail: e.to_string(),
                        },
                    }
                })
            });
            futures::future::join_all(checks).await
        })
    }

    fn open(self: Box<Self>, ctx: &RunContext) -> BatchStream {
        let component = ComponentId::source(&ctx.id).to_string();
        let cancel = ctx.cancel.clone();
        futures::stream::once((*self).setup(ctx, component.clone()))
            .map_ok(move |reading| reading.batches(component.clone()))
            .try_flatten()
            .take_until(cancel.cancelled_owned())
            .boxed()
    }
}

/// Keeps an embedded service up for as long as it is held.
type ServiceGuard = Box<dyn Any + Send + Sync>;

impl GraphConversationsSource {
    /// `open`'s first phase, run when the stream is first polled: connect, settle which Pages
    /// and from which watermarks, and announce the units. It owns what it needs from `ctx`,
    /// since the stream outlives the borrow.
    fn setup(
        mut self,
        ctx: &RunContext,
        component: String,
    ) -> impl Future<Output = Result<Reading, RunError>> + Send + 'static {
        self.options.observer = Some(Arc::new(TelemetryObserver::new(
            ctx.telemetry.clone(),
            ComponentId::source(&ctx.id).to_string(),
        )));
        let mut incremental = Incremental::new(ctx.checkpoint.clone());
        let shard = ctx.shard;
        let services = ctx.services.clone();
        let telemetry = ctx.telemetry.clone();
        async move {
            let (client, guard) =
                connect(self.base_url, self.options, &services, &component).await?;
            let mut request = self.request;
            if let Some(discovery) = &self.discovery {
                discover(&client, discovery, &mut request, self.concurrency)
                    .await
                    .map_err(|e| RunError::component(component.clone(), e))?;
            }
            if self.mode == Mode::Incremental {
                incremental.load(&mut request);
            }
            if let Some(shard) = shard {
                // A stable hash share of the pages (for `pages = "all"`, of the discovered
                // list): N workers cover every page exactly once.
                request.pages.retain(|p| shard.owns(&p.page_id));
                info!(%shard, pages = request.pages.len(), "reading this shard's pages");
            }
            // Progress bars show units done of this total.
            let units = request.pages.len() * request.platforms.len() * request.folders.len();
            telemetry.plan(&component, units as u64);
            Ok(Reading {
                guard,
                pages: client.conversation_batches(request, self.columns),
                metrics: self.metrics,
                incremental,
            })
        }
    }
}

/// The Graph client on the configured URL, or on the embedded emulator started for this run
/// (with the guard that keeps it up).
async fn connect(
    base_url: Option<String>,
    mut options: ClientOptions,
    services: &Services,
    component: &str,
) -> Result<(GraphClient, Option<ServiceGuard>), RunError> {
    let (base_url, guard) = match base_url {
        Some(url) => (url, None),
        None => {
            let handle = services.start(EMBEDDED_SERVICE).await?;
            info!(url = %handle.url, "started the embedded Graph emulator");
            (handle.url, Some(handle.guard))
        }
    };
    options.base_url = base_url;
    let client =
        GraphClient::new(options).map_err(|e| RunError::component(component.to_string(), e))?;
    Ok((client, guard))
}

/// What `open`'s setup hands to its reading phase.
struct Reading {
    /// The embedded emulator's guard (if any) must live as long as the stream: it is dropped
    /// only after the last page was read.
    guard: Option<ServiceGuard>,
    pages: BoxStream<'static, Result<BatchPage, GraphError>>,
    metrics: Arc<SourceMetrics>,
    incremental: Incremental,
}

impl Reading {
    /// `open`'s second phase: API pages become batches, in order, then the run's counters are
    /// logged once.
    fn batches(
        self,
        component: String,
    ) -> impl Stream<Item = Result<RecordBatch, RunError>> + Send + 'static {
        let Reading {
            guard,
            pages,
            metrics,
            incremental,
        } = self;
        new_threads(pages, incremental, component)
            .map_ok(|page| page.batch)
            .chain(finished(metrics, guard))
    }
}

/// The pages with threads to write: threads already committed are dropped, watermarks recorded,
/// and a page left empty yields no batch.
fn new_threads(
    pages: BoxStream<'static, Result<BatchPage, GraphError>>,
    mut incremental: Incremental,
    component: String,
) -> impl Stream<Item = Result<BatchPage, RunError>> + Send + 'static {
    pages.filter_map(move |page| {
        let page = page
            .map_err(|e| RunError::component(component.clone(), e))
            .and_then(|mut p| {
                tributary_core::failpoint::hit("source.page");
                incremental.page(&mut p)?;
                Ok(p)
            });
        let out = match page {
            Ok(p) if p.batch.num_rows() == 0 => None,
            other => Some(other),
        };
        futures::future::ready(out)
    })
}

/// The end of the stream: the run's counters in one log line, then the emulator (if any) may
/// stop, since every page was read.
fn finished(
    metrics: Arc<SourceMetrics>,
    guard: Option<ServiceGuard>,
) -> impl Stream<Item = Result<RecordBatch, RunError>> + Send + 'static {
    futures::stream::once(async move {
        let m = metrics.snapshot();
        info!(
            api_calls = m.api_calls,
            retries = m.retries,
            throttles = m.throttles,
            threads = m.threads,
            duplicates = m.duplicates,
            units = m.units_done,
            "graph_conversations finished"
        );
        drop(guard);
        None
    })
    .filter_map(futures::future::ready)
}
