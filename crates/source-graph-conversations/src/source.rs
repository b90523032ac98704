//! [`GraphConversationsSource`]: the plugin's runtime. Threads become RecordBatches in the
//! canonical schema, one batch per API page, built column by column with Arrow builders (no
//! per-row JSON beyond `extra_json`, which is copied from the raw response bytes).

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, ListArray, ListBuilder, StringBuilder, StructArray,
    TimestampMillisecondBuilder,
};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use tracing::info;
use tributary_core::RunError;
use tributary_core::canonical::{
    self, conversations_schema, message_fields, participant_fields, participant_type,
};
use tributary_core::plugin::{
    BatchStream, CheckResult, ReadScope, RunContext, Source, ValueDomain,
};
use tributary_core::telemetry::{Counters, Telemetry};

use crate::client::{
    ClientOptions, ConversationsRequest, DEFAULT_MAX_CONCURRENCY, DEFAULT_UNITS_PER_PAGE, Folder,
    GraphClient, GraphError, ManagedPage, Message, PageAccess, Participant, Platform,
    SourceMetrics, Thread, UnitKey, UnitObserver, UnitProbe,
};
use crate::config::{Discovery, Mode};

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
const BATCHES_IN_FLIGHT: usize = 4;

/// Which optional columns the user asked for (the rest stay null).
#[derive(Clone, Debug, Default)]
pub struct Columns {
    names: HashSet<String>,
    messages: bool,
}

impl Columns {
    /// `fields`: the requested UnifiedThread fields; `messages`: whether messages were requested.
    pub fn new(fields: &[String], messages: bool) -> Columns {
        Columns {
            names: fields.iter().cloned().collect(),
            messages,
        }
    }

    fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

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
                configured_by: format!("sources.{}.platforms", self.id),
            },
            ValueDomain {
                column: canonical::col::FOLDER.into(),
                values: self
                    .folders
                    .iter()
                    .map(|f| f.as_str().to_string())
                    .collect(),
                configured_by: format!("sources.{}.folders", self.id),
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
                return self.check_all_pages(&client, discovery, folder).await;
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
        let mut this = *self;
        this.options.observer = Some(Arc::new(TelemetryObserver {
            telemetry: ctx.telemetry.clone(),
            component: ctx.component("sources"),
        }));
        let mut incremental = Incremental::new(ctx.checkpoint.clone());
        let shard = ctx.shard;
        let services = ctx.services.clone();
        let cancel = ctx.cancel.clone();
        let component = format!("sources.{}", ctx.id);
        let setup_component = component.clone();
        let telemetry = ctx.telemetry.clone();
        let setup = async move {
            // The embedded emulator's guard must live as long as the stream: it is moved into
            // the per-page closure below and dropped with it.
            let (base_url, guard) = match this.base_url {
                Some(url) => (url, None),
                None => {
                    let handle = services.start(EMBEDDED_SERVICE).await?;
                    info!(url = %handle.url, "started the embedded Graph emulator");
                    (handle.url, Some(handle.guard))
                }
            };
            let mut options = this.options;
            options.base_url = base_url;
            let client = GraphClient::new(options)
                .map_err(|e| RunError::component(setup_component.clone(), e))?;
            let mut request = this.request;
            if let Some(discovery) = &this.discovery {
                let listed = client
                    .managed_pages(&discovery.token)
                    .await
                    .map_err(|e| RunError::component(setup_component.clone(), e))?;
                request.pages = read_discovered(listed, discovery)
                    .map_err(|e| RunError::component(setup_component.clone(), e))?;
                if this.concurrency.is_none() {
                    request.concurrency = default_concurrency(request.pages.len());
                }
            }
            if this.mode == Mode::Incremental {
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
            telemetry.plan(&setup_component, units as u64);
            let pages = client.conversations(request);
            Ok::<_, RunError>((guard, pages, this.columns, this.metrics, incremental))
        };
        futures::stream::once(setup)
            .map_ok(move |(guard, pages, columns, metrics, mut incremental)| {
                let component = component.clone();
                let mut guard = Some(guard);
                pages
                    .filter_map(move |page| {
                        let page = page.map(|mut p| {
                            tributary_core::failpoint::hit("source.page");
                            incremental.page(&mut p);
                            p
                        });
                        let out = match page {
                            Err(e) => Some(Err(RunError::component(component.clone(), e))),
                            Ok(p) if p.threads.is_empty() => None,
                            Ok(p) => Some(Ok(p)),
                        };
                        futures::future::ready(out)
                    })
                    // Arrow building is CPU work: on the blocking pool, so it runs beside the
                    // decoding of the next pages instead of inside the one task that polls every
                    // unit. `buffered` keeps the pages' order.
                    .map(move |page| {
                        let columns = columns.clone();
                        async move {
                            let p = page?;
                            tokio::task::spawn_blocking(move || {
                                threads_to_batch(&p.threads, Utc::now(), &columns)
                                    .map_err(RunError::from)
                            })
                            .await
                            .map_err(|e| RunError::msg(format!("building a batch failed: {e}")))?
                        }
                    })
                    .buffered(BATCHES_IN_FLIGHT)
                    .chain(
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
                            // Keeps the emulator (if any) up until every page was read.
                            drop(guard.take());
                            None
                        })
                        .filter_map(futures::future::ready),
                    )
            })
            .try_flatten()
            .take_until(cancel.cancelled_owned())
            .boxed()
    }
}

impl GraphConversationsSource {
    /// `tributary check` for `pages = "all"`: one line for the listing, then one line per
    /// listed Page (its platforms checked together), skipped Pages included as FAIL with the
    /// fix (the run skips them with a warning; `check` passes only if every Page is readable).
    async fn check_all_pages(
        &self,
        client: &GraphClient,
        discovery: &Discovery,
        folder: Folder,
    ) -> Vec<CheckResult> {
        let listed = match client.managed_pages(&discovery.token).await {
            Ok(l) => l,
            Err(e) => {
                return vec![CheckResult {
                    target: "GET /me/accounts".into(),
                    ok: false,
                    fix: e.fix(),
                    detail: e.to_string(),
                }];
            }
        };
        let selection = select_pages(listed, discovery);
        let mut out = vec![CheckResult {
            target: "GET /me/accounts".into(),
            ok: !selection.read.is_empty(),
            detail: format!(
                "the token lists {} Pages: {} to read, {} skipped, {} excluded",
                selection.listed,
                selection.read.len(),
                selection.skipped.len(),
                selection.excluded
            ),
            fix: selection.read.is_empty().then(|| {
                "use the token of a person with the MESSAGING task on the Pages to read".into()
            }),
        }];
        for s in &selection.skipped {
            out.push(CheckResult {
                target: page_label(&s.id, s.name.as_deref()),
                ok: false,
                detail: format!("skipped: {}", s.reason),
                fix: Some(format!(
                    "give the token's person the {} task on the Page, or add \"{}\" to `exclude_pages`",
                    discovery.require_tasks.join(" and "),
                    s.id
                )),
            });
        }
        let checks = selection.read.iter().map(|(page, name)| async move {
            let target = page_label(&page.page_id, name.as_deref());
            for &platform in &self.platforms {
                if let Err(e) = client.check_access(page, platform, folder).await {
                    return CheckResult {
                        target,
                        ok: false,
                        fix: e.fix(),
                        detail: format!("{platform}: {e}"),
                    };
                }
            }
            let platforms: Vec<&str> = self.platforms.iter().map(|p| p.as_str()).collect();
            CheckResult {
                target,
                ok: true,
                detail: format!(
                    "Page token accepted; {folder} conversations are readable ({})",
                    platforms.join(", ")
                ),
                fix: None,
            }
        });
        out.extend(futures::future::join_all(checks).await);
        out
    }
}

fn page_label(id: &str, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("page {id} ({n})"),
        None => format!("page {id}"),
    }
}

/// Units in flight when `concurrency` is not set.
fn default_concurrency(pages: usize) -> usize {
    (pages * DEFAULT_UNITS_PER_PAGE).clamp(1, DEFAULT_MAX_CONCURRENCY)
}

/// A listed Page that is not read, and why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub id: String,
    pub name: Option<String>,
    pub reason: String,
}

/// What `pages = "all"` reads out of a `/me/accounts` listing.
#[derive(Debug)]
pub(crate) struct Selection {
    /// Pages listed.
    pub listed: usize,
    /// Pages to read with their Page token, in listing order, with their names.
    pub read: Vec<(PageAccess, Option<String>)>,
    /// Pages skipped (missing tasks or no Page token).
    pub skipped: Vec<Skipped>,
    /// Pages in `exclude_pages`.
    pub excluded: usize,
}

/// Applies `exclude_pages` and `require_tasks` to a listing.
pub(crate) fn select_pages(listed: Vec<ManagedPage>, d: &Discovery) -> Selection {
    let mut out = Selection {
        listed: listed.len(),
        read: Vec::new(),
        skipped: Vec::new(),
        excluded: 0,
    };
    for page in listed {
        if d.exclude.contains(&page.id) {
            out.excluded += 1;
            continue;
        }
        let missing: Vec<&str> = d
            .require_tasks
            .iter()
            .filter(|t| !page.tasks.iter().any(|have| have.eq_ignore_ascii_case(t)))
            .map(String::as_str)
            .collect();
        let reason = if !missing.is_empty() {
            Some(format!(
                "the token's person lacks the {} task",
                missing.join(" and ")
            ))
        } else if page.access_token.is_none() {
            Some("GET /me/accounts returned no Page token for it".to_string())
        } else if !crate::config::is_page_id(&page.id) {
            Some("its id is not a Page id".to_string())
        } else {
            None
        };
        match (reason, page.access_token) {
            (None, Some(token)) => {
                if let Some(ig) = &page.instagram_business_account {
                    // Informational: Instagram threads are read on the Page id.
                    tracing::debug!(page = %page.id, instagram_account = %ig, "Page has a linked Instagram account");
                }
                out.read.push((
                    PageAccess {
                        page_id: page.id,
                        access_token: token,
                    },
                    page.name,
                ));
            }
            (reason, _) => out.skipped.push(Skipped {
                id: page.id,
                name: page.name,
                reason: reason.unwrap_or_default(),
            }),
        }
    }
    out
}

/// The Pages a run reads for `pages = "all"`; warns once about the skipped ones.
fn read_discovered(
    listed: Vec<ManagedPage>,
    discovery: &Discovery,
) -> Result<Vec<PageAccess>, GraphError> {
    let selection = select_pages(listed, discovery);
    if !selection.skipped.is_empty() {
        let names: Vec<String> = selection
            .skipped
            .iter()
            .map(|s| format!("{}: {}", page_label(&s.id, s.name.as_deref()), s.reason))
            .collect();
        tracing::warn!(
            skipped = selection.skipped.len(),
            "skipping {} of the token's Pages that cannot be read: {} (give the token's person \
             the task, or list them in `exclude_pages` to silence this)",
            selection.skipped.len(),
            names.join("; ")
        );
    }
    info!(
        listed = selection.listed,
        read = selection.read.len(),
        skipped = selection.skipped.len(),
        excluded = selection.excluded,
        "listed the token's Pages (GET /me/accounts)"
    );
    if selection.read.is_empty() {
        let reason = if selection.listed == 0 {
            "the token manages no Pages (the listing is empty)".to_string()
        } else {
            format!(
                "none of the {} Pages it lists can be read ({} skipped, {} excluded)",
                selection.listed,
                selection.skipped.len(),
                selection.excluded
            )
        };
        return Err(GraphError::Accounts {
            reason,
            fix: Some(
                "use the token of a person with the MESSAGING task on the Pages (with \
                 pages_show_list), or check `exclude_pages` and `require_tasks`"
                    .into(),
            ),
            error: None,
        });
    }
    Ok(selection.read.into_iter().map(|(p, _)| p).collect())
}

/// The key of a unit in the state: `<page_id>/<platform>/<folder>`.
pub fn unit_key(unit: &UnitKey) -> String {
    format!(
        "{}/{}/{}",
        unit.page_id,
        unit.platform.as_str(),
        unit.folder.as_str()
    )
}

/// Watermarks in and out of the run's checkpoint.
///
/// In `mode = "incremental"` the stored watermark of each unit becomes its `stop_at` (the walk
/// keeps threads *at* the watermark: two threads can share a second), and threads at the
/// watermark whose id was already committed (`ids_at_watermark`) are dropped here, so output is
/// exactly once per `(id, updated_time)`. In both modes, every unit read to the end records its
/// newest `updated_time` and the ids at it: a `full` run leaves watermarks a later incremental
/// run can start from.
struct Incremental {
    checkpoint: Arc<tributary_core::state::Checkpoint>,
    stored: std::collections::HashMap<UnitKey, (DateTime<Utc>, HashSet<String>)>,
    seen: std::collections::HashMap<UnitKey, (DateTime<Utc>, std::collections::BTreeSet<String>)>,
}

impl Incremental {
    fn new(checkpoint: Arc<tributary_core::state::Checkpoint>) -> Self {
        Self {
            checkpoint,
            stored: Default::default(),
            seen: Default::default(),
        }
    }

    /// Turns the stored watermarks into the request's `stop_at`.
    fn load(&mut self, request: &mut ConversationsRequest) {
        let marks = self.checkpoint.watermarks();
        for page in &request.pages {
            for platform in &request.platforms {
                for folder in &request.folders {
                    let unit = UnitKey {
                        page_id: page.page_id.clone(),
                        platform: *platform,
                        folder: *folder,
                    };
                    let Some(mark) = marks.get(&unit_key(&unit)) else {
                        continue;
                    };
                    match DateTime::parse_from_rfc3339(&mark.watermark) {
                        Ok(at) => {
                            let at = at.with_timezone(&Utc);
                            request.stop_at.insert(unit.clone(), at);
                            let ids = mark.ids_at_watermark.iter().cloned().collect();
                            self.stored.insert(unit, (at, ids));
                        }
                        Err(e) => {
                            tracing::warn!(unit = %unit, watermark = %mark.watermark, error = %e, "ignoring an unreadable stored watermark: this unit is read in full")
                        }
                    }
                }
            }
        }
    }

    fn page(&mut self, page: &mut crate::client::ThreadPage) {
        if let Some((at, ids)) = self.stored.get(&page.unit) {
            page.threads
                .retain(|t| !(t.updated_time == Some(*at) && ids.contains(&t.id)));
        }
        for t in &page.threads {
            let Some(u) = t.updated_time else { continue };
            let entry = self
                .seen
                .entry(page.unit.clone())
                .or_insert_with(|| (u, Default::default()));
            if u > entry.0 {
                *entry = (u, Default::default());
            }
            if u == entry.0 {
                entry.1.insert(t.id.clone());
            }
        }
        let Some(high) = page.unit_done.as_ref().and_then(|d| d.high_watermark) else {
            return;
        };
        let mut ids: std::collections::BTreeSet<String> = match self.seen.get(&page.unit) {
            Some((at, ids)) if *at == high => ids.clone(),
            _ => Default::default(),
        };
        if let Some((at, stored)) = self.stored.get(&page.unit)
            && *at == high
        {
            ids.extend(stored.iter().cloned());
        }
        self.checkpoint.advance(
            unit_key(&page.unit),
            tributary_core::state::UnitMark {
                watermark: high.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                ids_at_watermark: ids.into_iter().collect(),
            },
        );
    }
}

/// Forwards the client's per-unit events to the runtime's telemetry (progress bars, summary).
#[derive(Debug)]
struct TelemetryObserver {
    telemetry: Arc<Telemetry>,
    component: String,
}

impl UnitObserver for TelemetryObserver {
    fn probe(&self, unit: &UnitKey) -> Arc<dyn UnitProbe> {
        let name = format!("{} {} {}", unit.page_id, unit.platform, unit.folder);
        Arc::new(TelemetryProbe(
            self.telemetry.counters(&self.component, &name),
        ))
    }
}

struct TelemetryProbe(Arc<Counters>);

impl UnitProbe for TelemetryProbe {
    fn api_call(&self) {
        Counters::add(&self.0.api_calls, 1);
    }
    fn retry(&self, wait: std::time::Duration, throttle: bool) {
        Counters::add(&self.0.retries, 1);
        if throttle {
            Counters::add(&self.0.throttles, 1);
            Counters::add(&self.0.wait_ms, millis(wait));
        }
        self.0.wait_for(wait);
    }
    fn waited(&self, wait: std::time::Duration) {
        Counters::add(&self.0.wait_ms, millis(wait));
    }
    fn pause(&self, wait: std::time::Duration) {
        self.0.wait_for(wait);
    }
    fn rows(&self, n: u64) {
        Counters::add(&self.0.rows, n);
    }
    fn done(&self) {
        self.0
            .done
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Builds one canonical batch from threads (columns not in `columns` are null).
pub fn threads_to_batch(
    threads: &[Thread],
    extracted_at: DateTime<Utc>,
    columns: &Columns,
) -> Result<RecordBatch, ArrowError> {
    let n = threads.len();
    let str_col = |f: &dyn Fn(&Thread) -> Option<&str>, wanted: bool| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 16);
        for t in threads {
            b.append_option(if wanted { f(t) } else { None });
        }
        Arc::new(b.finish())
    };
    let mut page_id = StringBuilder::with_capacity(n, n * 16);
    let mut platform = StringBuilder::with_capacity(n, n * 9);
    let mut folder = StringBuilder::with_capacity(n, n * 6);
    let mut id = StringBuilder::with_capacity(n, n * 24);
    let mut updated = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut message_count = Int64Builder::with_capacity(n);
    let mut unread_count = Int64Builder::with_capacity(n);
    let mut can_reply = BooleanBuilder::with_capacity(n);
    let mut is_subscribed = BooleanBuilder::with_capacity(n);
    let mut participants = ParticipantLists::default();
    let mut senders = ParticipantLists::default();
    let mut former = ParticipantLists::default();
    let mut messages = MessageLists::default();
    let mut extra = StringBuilder::with_capacity(n, 0);
    let mut extracted = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let at = extracted_at.timestamp_millis();
    for t in threads {
        page_id.append_value(&t.page_id);
        platform.append_value(t.platform.as_str());
        folder.append_value(t.folder.as_str());
        id.append_value(&t.id);
        updated.append_option(
            t.updated_time
                .filter(|_| columns.has("updated_time"))
                .map(|t| t.timestamp_millis()),
        );
        message_count.append_option(t.message_count.filter(|_| columns.has("message_count")));
        unread_count.append_option(t.unread_count.filter(|_| columns.has("unread_count")));
        can_reply.append_option(t.can_reply.filter(|_| columns.has("can_reply")));
        is_subscribed.append_option(t.is_subscribed.filter(|_| columns.has("is_subscribed")));
        participants.append(
            t.participants
                .as_deref()
                .filter(|_| columns.has("participants")),
        );
        senders.append(t.senders.as_deref().filter(|_| columns.has("senders")));
        former.append(
            t.former_participants
                .as_deref()
                .filter(|_| columns.has("former_participants")),
        );
        messages.append(t.messages.as_deref().filter(|_| columns.messages));
        extra.append_option(t.extra_json());
        extracted.append_value(at);
    }
    let columns_out: Vec<ArrayRef> = vec![
        Arc::new(page_id.finish()),
        Arc::new(platform.finish()),
        Arc::new(folder.finish()),
        Arc::new(id.finish()),
        Arc::new(updated.finish()),
        str_col(&|t| t.link.as_deref(), columns.has("link")),
        str_col(&|t| t.snippet.as_deref(), columns.has("snippet")),
        str_col(&|t| t.name.as_deref(), columns.has("name")),
        str_col(&|t| t.subject.as_deref(), columns.has("subject")),
        str_col(
            &|t| t.scoped_thread_key.as_deref(),
            columns.has("scoped_thread_key"),
        ),
        str_col(&|t| t.wallpaper.as_deref(), columns.has("wallpaper")),
        Arc::new(message_count.finish()),
        Arc::new(unread_count.finish()),
        Arc::new(can_reply.finish()),
        Arc::new(is_subscribed.finish()),
        participants.finish()?,
        senders.finish()?,
        former.finish()?,
        messages.finish()?,
        Arc::new(extra.finish()),
        Arc::new(extracted.finish()),
    ];
    RecordBatch::try_new(conversations_schema(), columns_out)
}

/// Validity of list rows plus their offsets.
#[derive(Default)]
struct Offsets {
    offsets: Vec<i32>,
    valid: Vec<bool>,
}

impl Offsets {
    fn push(&mut self, len: usize, valid: bool) -> Result<(), ArrowError> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let last = self.offsets.last().copied().unwrap_or(0);
        let next = i32::try_from(len)
            .ok()
            .and_then(|l| last.checked_add(l))
            .ok_or_else(|| ArrowError::ComputeError("list offsets overflow".into()))?;
        self.offsets.push(next);
        self.valid.push(valid);
        Ok(())
    }

    fn finish(mut self) -> (OffsetBuffer<i32>, Option<NullBuffer>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let nulls = self
            .valid
            .iter()
            .any(|v| !v)
            .then(|| NullBuffer::from(self.valid));
        (OffsetBuffer::new(ScalarBuffer::from(self.offsets)), nulls)
    }
}

/// Flat participant structs (id, name, email, username).
#[derive(Default)]
struct ParticipantStructs {
    id: StringBuilder,
    name: StringBuilder,
    email: StringBuilder,
    username: StringBuilder,
    valid: Vec<bool>,
}

impl ParticipantStructs {
    fn append(&mut self, p: Option<&Participant>) {
        self.id.append_option(p.and_then(|p| p.id.as_deref()));
        self.name.append_option(p.and_then(|p| p.name.as_deref()));
        self.email.append_option(p.and_then(|p| p.email.as_deref()));
        self.username
            .append_option(p.and_then(|p| p.username.as_deref()));
        self.valid.push(p.is_some());
    }

    fn finish(mut self) -> Result<StructArray, ArrowError> {
        let nulls = self
            .valid
            .iter()
            .any(|v| !v)
            .then(|| NullBuffer::from(self.valid));
        StructArray::try_new(
            participant_fields(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.name.finish()),
                Arc::new(self.email.finish()),
                Arc::new(self.username.finish()),
            ],
            nulls,
        )
    }
}

/// `List<Struct<participant>>`.
#[derive(Default)]
struct ParticipantLists {
    offsets: Offsets,
    items: ParticipantStructs,
    error: Option<ArrowError>,
}

impl ParticipantLists {
    fn append(&mut self, list: Option<&[Participant]>) {
        let len = list.map_or(0, <[Participant]>::len);
        for p in list.unwrap_or_default() {
            self.items.append(Some(p));
        }
        if let Err(e) = self.offsets.push(len, list.is_some()) {
            self.error.get_or_insert(e);
        }
    }

    fn finish(self) -> Result<ArrayRef, ArrowError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let (offsets, nulls) = self.offsets.finish();
        let values = self.items.finish()?;
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(participant_type(), true)),
            offsets,
            Arc::new(values),
            nulls,
        )?))
    }
}

/// `List<Struct<message>>`.
#[derive(Default)]
struct MessageLists {
    offsets: Offsets,
    id: StringBuilder,
    created: TimestampMillisecondBuilder,
    from: ParticipantStructs,
    to: ParticipantLists,
    text: StringBuilder,
    sticker: StringBuilder,
    tags: ListBuilder<StringBuilder>,
    attachments: StringBuilder,
    error: Option<ArrowError>,
}

impl MessageLists {
    fn append(&mut self, list: Option<&[Message]>) {
        let len = list.map_or(0, <[Message]>::len);
        for m in list.unwrap_or_default() {
            self.id.append_option(m.id.as_deref());
            self.created
                .append_option(m.created_time.map(|t| t.timestamp_millis()));
            self.from.append(m.from.as_ref());
            self.to.append(m.to.as_deref());
            self.text.append_option(m.message.as_deref());
            self.sticker.append_option(m.sticker.as_deref());
            match &m.tags {
                Some(tags) => {
                    for t in tags {
                        self.tags.values().append_value(t);
                    }
                    self.tags.append(true);
                }
                None => self.tags.append(false),
            }
            self.attachments
                .append_option(m.attachments.as_ref().map(|a| a.get()));
        }
        if let Err(e) = self.offsets.push(len, list.is_some()) {
            self.error.get_or_insert(e);
        }
    }

    fn finish(mut self) -> Result<ArrayRef, ArrowError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let created = self.created.with_timezone("UTC").finish();
        let values = StructArray::try_new(
            message_fields(),
            vec![
                Arc::new(self.id.finish()),
                Arc::new(created),
                Arc::new(self.from.finish()?),
                self.to.finish()?,
                Arc::new(self.text.finish()),
                Arc::new(self.sticker.finish()),
                Arc::new(self.tags.finish()),
                Arc::new(self.attachments.finish()),
            ],
            None,
        )?;
        let (offsets, nulls) = self.offsets.finish();
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(
                DataType::Struct(message_fields()),
                true,
            )),
            offsets,
            Arc::new(values),
            nulls,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMillisecondType;

    fn thread(id: &str) -> Thread {
        Thread {
            page_id: "p".into(),
            platform: Platform::Instagram,
            folder: Folder::Other,
            id: id.into(),
            updated_time: crate::client::parse_graph_time("2026-11-20T09:28:50+0000"),
            link: Some("/l".into()),
            snippet: Some("שלום 😀".into()),
            name: None,
            subject: None,
            scoped_thread_key: None,
            wallpaper: None,
            message_count: Some(3),
            unread_count: None,
            can_reply: Some(true),
            is_subscribed: None,
            participants: Some(vec![Participant {
                id: Some("1".into()),
                username: Some("u".into()),
                ..Default::default()
            }]),
            senders: None,
            former_participants: None,
            messages: Some(vec![Message {
                id: Some("m".into()),
                message: Some("hi".into()),
                to: Some(vec![Participant {
                    id: Some("2".into()),
                    ..Default::default()
                }]),
                tags: Some(vec!["inbox".into()]),
                ..Default::default()
            }]),
            extra: vec![(
                "is_owner".into(),
                serde_json::value::RawValue::from_string("true".into()).unwrap(),
            )],
        }
    }

    #[test]
    fn batch_matches_the_canonical_schema_and_nulls_unrequested_columns() {
        let mut t2 = thread("t2");
        t2.participants = None;
        t2.messages = None;
        t2.extra.clear();
        let cols = Columns::new(
            &[
                "snippet".into(),
                "participants".into(),
                "updated_time".into(),
            ],
            true,
        );
        let batch = threads_to_batch(&[thread("t1"), t2], Utc::now(), &cols).unwrap();
        assert_eq!(batch.schema(), conversations_schema());
        assert_eq!(batch.num_rows(), 2);
        let snippet = batch.column_by_name("snippet").unwrap().as_string::<i32>();
        assert_eq!(snippet.value(0), "שלום 😀");
        // `link` was returned but not requested.
        assert_eq!(batch.column_by_name("link").unwrap().null_count(), 2);
        let updated = batch
            .column_by_name("updated_time")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(updated.value(0), 1_795_166_930_000);
        let parts = batch
            .column_by_name("participants")
            .unwrap()
            .as_list::<i32>();
        assert!(parts.is_valid(0) && parts.is_null(1));
        let msgs = batch.column_by_name("messages").unwrap().as_list::<i32>();
        assert_eq!(msgs.value(0).len(), 1);
        let extra = batch
            .column_by_name("extra_json")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(extra.value(0), r#"{"is_owner":true}"#);
        assert!(extra.is_null(1));
    }

    #[test]
    fn empty_batch_is_valid() {
        let batch = threads_to_batch(&[], Utc::now(), &Columns::default()).unwrap();
        assert_eq!(batch.num_rows(), 0);
    }
}
