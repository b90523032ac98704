//! A typed client for `GET /{version}/{page-id}/conversations`, usable without the plugin.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use source_graph_conversations::client::{
//!     ClientOptions, ConversationsRequest, GraphClient, PageAccess,
//! };
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = GraphClient::new(ClientOptions::new("https://graph.facebook.com"))?;
//! let request = ConversationsRequest::new(vec![PageAccess::new("104857600000001", "TOKEN")]);
//! let threads: Vec<_> = client.conversations(request).threads().try_collect().await?;
//! println!("{} threads", threads.len());
//! # Ok(()) }
//! ```
//!
//! The one thing to know: work is split in units — (page, platform, folder) — that run
//! concurrently (bounded by `concurrency`), while the pages of one unit are read in order. Each
//! Page has one [`pacing`] schedule shared by its units, so a run stays under Meta's 2 calls per
//! second per Page and sees no throttle.

mod accounts;
pub(crate) mod decoder;
mod error;
mod http;
mod metrics;
pub(crate) mod model;
pub mod pacing;
pub mod secure;
mod seen;
mod walk;

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use secrecy::SecretString;
use url::Url;

pub use accounts::{ACCOUNTS_FIELDS, ManagedPage};
pub use error::{ApiError, ErrorClass, GraphError, is_throttle_code};
pub(crate) use http::BodyError;
pub use http::RetryPolicy;
pub use metrics::{MetricsSnapshot, SourceMetrics, UnitObserver, UnitProbe};
pub use model::{
    ExtraFields, Folder, Message, Participant, Platform, Thread, UnitKey, parse_graph_time,
};
pub use walk::MAX_REWALKS;

use pacing::Pacer;
use secure::{CleanUrl, check_base_url, origin_of};

/// API version used when none is configured (the one in Meta's current docs and SDK).
pub const DEFAULT_API_VERSION: &str = "v25.0";
/// Calls per second per Page allowed by the Conversations API (Meta, "Messenger Platform rate
/// limits": <https://developers.facebook.com/docs/messenger-platform/overview/rate-limiting>).
pub const DEFAULT_REQUESTS_PER_SECOND_PER_PAGE: f64 = 2.0;
/// Units in flight per Page by default.
pub const DEFAULT_UNITS_PER_PAGE: usize = 2;
/// Cap on the default units in flight (one HTTP connection each).
pub const DEFAULT_MAX_CONCURRENCY: usize = 2048;
/// Retries per request.
pub const DEFAULT_MAX_RETRIES: u32 = 8;
/// First retry wait.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Cap on any single wait: about 10 minutes, what Graph's `estimated_time_to_regain_access`
/// usually asks for.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Graph's default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 25;
/// Meta serves message details only for the newest 20 messages of a thread.
pub const MAX_DETAILED_MESSAGES: usize = 20;

/// How to reach Graph.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// `https://graph.facebook.com`, or `http://127.0.0.1:PORT` for an emulator (plain http is
    /// refused except to loopback).
    pub base_url: String,
    /// Path version, e.g. `v25.0`.
    pub api_version: String,
    /// Adds `appsecret_proof` to every request when set.
    pub app_secret: Option<SecretString>,
    /// Calls per second per Page; `0` disables pacing.
    pub requests_per_second_per_page: f64,
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Ask for gzip-compressed bodies (`Accept-Encoding: gzip`) and inflate them.
    pub gzip: bool,
    /// Counters to update (shared with whoever holds them); a fresh set when `None`.
    pub metrics: Option<Arc<SourceMetrics>>,
    /// Per-unit progress callbacks.
    pub observer: Option<Arc<dyn UnitObserver>>,
}

impl ClientOptions {
    /// Defaults for `base_url`.
    pub fn new(base_url: impl Into<String>) -> ClientOptions {
        ClientOptions {
            base_url: base_url.into(),
            api_version: DEFAULT_API_VERSION.into(),
            app_secret: None,
            requests_per_second_per_page: DEFAULT_REQUESTS_PER_SECOND_PER_PAGE,
            retry: RetryPolicy {
                max_retries: DEFAULT_MAX_RETRIES,
                min_backoff: DEFAULT_MIN_BACKOFF,
                max_backoff: DEFAULT_MAX_BACKOFF,
            },
            timeout: DEFAULT_TIMEOUT,
            gzip: true,
            metrics: None,
            observer: None,
        }
    }
}

/// The Graph client. Cheap to clone; clones share pacing and metrics.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.inner.base.as_str())
            .field("api_version", &self.inner.api_version)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    http: reqwest::Client,
    base: Url,
    /// `scheme://host:port` of `base`: the only origin `next` links may point to.
    origin: String,
    api_version: String,
    app_secret: Option<SecretString>,
    retry: RetryPolicy,
    rate: f64,
    pacers: Mutex<HashMap<String, Arc<Pacer>>>,
    /// Paused by `X-App-Usage` (an app-wide budget); never paces by itself.
    app_gate: Pacer,
    metrics: Arc<SourceMetrics>,
    observer: Option<Arc<dyn UnitObserver>>,
}

impl Inner {
    pub(crate) fn pacer(&self, page_id: &str) -> Arc<Pacer> {
        // A poisoned map is still the right map: a fresh pacer per call would turn pacing off.
        tributary_core::sync::lock(&self.pacers)
            .entry(page_id.to_string())
            .or_insert_with(|| Arc::new(Pacer::new(self.rate)))
            .clone()
    }
}

impl GraphClient {
    /// Checks the options and builds the HTTP client (no request is sent).
    pub fn new(options: ClientOptions) -> Result<GraphClient, GraphError> {
        let base = check_base_url(&options.base_url).map_err(GraphError::Setup)?;
        if !is_valid_version(&options.api_version) {
            return Err(GraphError::Setup(format!(
                "api_version `{}` is not like `v25.0`",
                options.api_version
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if options.gzip {
            // Inflated by `http::inflate`: reqwest's own `gzip` feature would turn on
            // decompression for every reqwest client in the binary, object stores included
            // (which then lose Content-Length on compressed objects).
            headers.insert(
                reqwest::header::ACCEPT_ENCODING,
                reqwest::header::HeaderValue::from_static("gzip"),
            );
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(30)))
            // Redirects would carry the token to wherever they point.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "tributary-graph-conversations/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| {
                GraphError::Setup(format!("cannot build the HTTP client: {}", e.without_url()))
            })?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                origin: origin_of(&base),
                base,
                api_version: options.api_version,
                app_secret: options.app_secret,
                retry: options.retry,
                rate: options.requests_per_second_per_page,
                pacers: Mutex::default(),
                app_gate: Pacer::new(0.0),
                metrics: options.metrics.unwrap_or_default(),
                observer: options.observer,
            }),
        })
    }

    /// Counters of everything this client did (shared, live).
    pub fn metrics(&self) -> Arc<SourceMetrics> {
        self.inner.metrics.clone()
    }

    /// The first URL of a unit's walk (credential-free).
    pub fn first_url(
        &self,
        request: &ConversationsRequest,
        unit: &UnitKey,
    ) -> Result<CleanUrl, GraphError> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| GraphError::Setup("the base URL cannot have a path".into()))?
            .pop_if_empty()
            .extend([
                self.inner.api_version.as_str(),
                unit.page_id.as_str(),
                "conversations",
            ]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("platform", unit.platform.as_str());
            q.append_pair("folder", unit.folder.as_str());
            q.append_pair("fields", &request.fields_param());
            q.append_pair("limit", &request.page_size.max(1).to_string());
            if let Some(user) = &request.user_id {
                q.append_pair("user_id", user);
            }
        }
        Ok(CleanUrl::new(url))
    }

    /// `tributary check`: one cheap request (`limit=1`, `fields=id,updated_time`) proving that
    /// `page`'s token can list `platform` conversations in `folder`. Returns how many threads
    /// that request saw (0 or 1). Reads no data beyond that.
    pub async fn check_access(
        &self,
        page: &PageAccess,
        platform: Platform,
        folder: Folder,
    ) -> Result<usize, GraphError> {
        let unit = UnitKey {
            page_id: page.page_id.clone(),
            platform,
            folder,
        };
        let mut request = ConversationsRequest::new(Vec::new());
        request.fields = Vec::new();
        request.page_size = 1;
        let url = self.first_url(&request, &unit)?;
        let pacer = self.inner.pacer(&page.page_id);
        let caller = http::Caller {
            unit: &unit,
            label: &unit,
            token: &page.access_token,
            pacer: &pacer,
            probe: &metrics::NoProbe,
        };
        let (edge, _): (model::Edge<model::ThreadNode>, _) =
            self.inner.get_json(&caller, url, http::Shrink::No).await?;
        Ok(edge.data.len())
    }

    /// Streams every API page of every unit of `request`. Lazy: nothing is sent until polled.
    /// Ends after the first error.
    pub fn conversations(&self, request: ConversationsRequest) -> ConversationPages {
        let decoder = decoder::Typed {
            messages_max: request.messages.as_ref().map(|m| m.max),
        };
        let (pages, watermarks) = self.walk(request, decoder);
        ConversationPages {
            inner: pages
                .map_ok(|p| ThreadPage {
                    unit: p.unit,
                    threads: p.rows,
                    unit_done: p.unit_done,
                })
                .boxed(),
            watermarks,
            metrics: self.inner.metrics.clone(),
        }
    }

    /// Every unit of `request` walked with `decoder`, interleaved, failing fast.
    #[allow(clippy::type_complexity)]
    pub(crate) fn walk<D: decoder::ListDecoder>(
        &self,
        request: ConversationsRequest,
        decoder: D,
    ) -> (
        BoxStream<'static, Result<walk::WalkPage<D::Rows>, GraphError>>,
        Arc<Watermarks>,
    ) {
        let watermarks = Arc::new(Watermarks::default());
        let shared = Arc::new(walk::WalkShared {
            inner: self.inner.clone(),
            decoder: Arc::new(decoder),
            messages_max: request.messages.as_ref().map(|m| m.max),
            max_pages: request.max_pages_per_unit,
            seen: Arc::default(),
            watermarks: watermarks.clone(),
        });
        let mut walks = Vec::new();
        let mut setup_error = None;
        // Interleave pages: the i-th unit of every page comes before the (i+1)-th of any, so
        // the units in flight spread over all Pages and every Page's pacer is kept busy.
        for &folder in &request.folders {
            for &platform in &request.platforms {
                for page in &request.pages {
                    let unit = UnitKey {
                        page_id: page.page_id.clone(),
                        platform,
                        folder,
                    };
                    match self.first_url(&request, &unit) {
                        Ok(first) => {
                            let stop_at = request.stop_at.get(&unit).copied();
                            walks.push(walk::UnitWalk::new(
                                shared.clone(),
                                unit,
                                page.access_token.clone(),
                                first,
                                stop_at,
                            ));
                        }
                        Err(e) => setup_error = setup_error.or(Some(e)),
                    }
                }
            }
        }
        let inner: BoxStream<'static, Result<walk::WalkPage<D::Rows>, GraphError>> =
            match setup_error {
                Some(e) => futures::stream::once(async move { Err(e) }).boxed(),
                None => futures::stream::iter(walks)
                    .map(|w| w.into_stream().boxed())
                    .flatten_unordered(request.concurrency.max(1))
                    // Fail fast: after the first error, stop every unit.
                    .scan(false, |failed, item| {
                        let out = if *failed {
                            None
                        } else {
                            *failed = item.is_err();
                            Some(item)
                        };
                        futures::future::ready(out)
                    })
                    .boxed(),
            };
        (inner, watermarks)
    }
}

fn is_valid_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let ok =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// A Page and the token that reads it.
#[derive(Clone, Debug)]
pub struct PageAccess {
    /// Page (or Instagram-linked Page) id.
    pub page_id: String,
    /// Page access token.
    pub access_token: SecretString,
}

impl PageAccess {
    /// A Page and its token.
    pub fn new(page_id: impl Into<String>, access_token: impl Into<String>) -> PageAccess {
        PageAccess {
            page_id: page_id.into(),
            access_token: SecretString::from(access_token.into()),
        }
    }
}

/// The nested `messages` expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagesRequest {
    /// Newest messages per thread (at most [`MAX_DETAILED_MESSAGES`]).
    pub max: usize,
    /// Message fields.
    pub fields: Vec<String>,
}

/// What to read.
#[derive(Clone, Debug)]
pub struct ConversationsRequest {
    /// Pages and their tokens.
    pub pages: Vec<PageAccess>,
    /// Platforms to list.
    pub platforms: Vec<Platform>,
    /// Folders to list.
    pub folders: Vec<Folder>,
    /// Only the thread with this person (PSID or IGSID).
    pub user_id: Option<String>,
    /// UnifiedThread fields (`id` and `updated_time` are always added: dedupe and watermarks
    /// need them).
    pub fields: Vec<String>,
    /// Nested messages, if wanted.
    pub messages: Option<MessagesRequest>,
    /// `limit` of each list request (halved on "reduce the amount of data").
    pub page_size: u32,
    /// Units in flight at once.
    pub concurrency: usize,
    /// Per-unit watermarks: threads strictly older are not read (incremental runs).
    pub stop_at: BTreeMap<UnitKey, DateTime<Utc>>,
    /// Error out after this many API pages in one unit (a guard against runaway paging).
    pub max_pages_per_unit: Option<u64>,
}

impl ConversationsRequest {
    /// Both platforms, all folders, the default fields, page size 25, 2 units per page in flight.
    pub fn new(pages: Vec<PageAccess>) -> ConversationsRequest {
        let concurrency = (pages.len() * DEFAULT_UNITS_PER_PAGE).clamp(1, DEFAULT_MAX_CONCURRENCY);
        ConversationsRequest {
            pages,
            platforms: Platform::ALL.to_vec(),
            folders: Folder::ALL.to_vec(),
            user_id: None,
            fields: DEFAULT_THREAD_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            messages: None,
            page_size: DEFAULT_PAGE_SIZE,
            concurrency,
            stop_at: BTreeMap::new(),
            max_pages_per_unit: None,
        }
    }

    /// The `fields=` value: requested fields plus `id`, `updated_time`, and the messages
    /// expansion `messages.limit(n){...}`.
    pub fn fields_param(&self) -> String {
        let mut names: Vec<&str> = vec!["id", "updated_time"];
        for f in &self.fields {
            if !names.contains(&f.as_str()) && f != "messages" {
                names.push(f);
            }
        }
        let mut out = names.join(",");
        if let Some(m) = &self.messages {
            out.push_str(&format!(
                ",messages.limit({}){{{}}}",
                m.max.max(1),
                m.fields.join(",")
            ));
        }
        out
    }
}

/// Thread fields requested by default: every column of the canonical schema (`subject` is
/// left out: it no longer exists from v23.0 and would fail the request).
pub const DEFAULT_THREAD_FIELDS: &[&str] = &[
    "id",
    "updated_time",
    "link",
    "snippet",
    "name",
    "scoped_thread_key",
    "wallpaper",
    "message_count",
    "unread_count",
    "can_reply",
    "is_subscribed",
    "participants",
    "senders",
    "former_participants",
];

/// Every UnifiedThread field known to Graph
/// (<https://developers.facebook.com/docs/graph-api/reference/conversation>), `messages` excluded
/// (it has its own setting).
pub const KNOWN_THREAD_FIELDS: &[&str] = &[
    "id",
    "updated_time",
    "link",
    "snippet",
    "name",
    "subject",
    "scoped_thread_key",
    "wallpaper",
    "message_count",
    "unread_count",
    "can_reply",
    "is_subscribed",
    "participants",
    "senders",
    "former_participants",
    "folder",
    "is_owner",
    "linked_group",
];

/// Message fields with a column in the canonical schema.
pub const KNOWN_MESSAGE_FIELDS: &[&str] = &[
    "id",
    "created_time",
    "from",
    "to",
    "message",
    "sticker",
    "tags",
    "attachments",
];

/// Default message fields.
pub const DEFAULT_MESSAGE_FIELDS: &[&str] = &["id", "created_time", "from", "to", "message"];

/// Decodes one list response body (`{"data":[...],"paging":{...}}`) into threads of `unit`,
/// plus the raw `paging.next` link. The same decoder the client uses; handy for fixtures and
/// benchmarks. Nested `messages` are kept as served (their own paging is not followed).
pub fn parse_list_page(
    body: &[u8],
    unit: &UnitKey,
) -> Result<(Vec<Thread>, Option<String>), serde_json::Error> {
    let page: model::Edge<model::ThreadNode> = serde_json::from_slice(body)?;
    let next = page.next().map(str::to_owned);
    let mut threads = Vec::with_capacity(page.data.len());
    for node in page.data {
        let id = node
            .id
            .clone()
            .ok_or_else(|| serde::de::Error::custom("a conversation without `id`"))?;
        let (mut thread, messages) = node.into_thread(unit, id);
        thread.messages = messages.map(|m| m.data);
        threads.push(thread);
    }
    Ok((threads, next))
}

/// One API page of one unit.
#[derive(Debug)]
pub struct ThreadPage {
    /// Where it was read.
    pub unit: UnitKey,
    /// New threads on that page (duplicates and threads older than the watermark removed).
    pub threads: Vec<Thread>,
    /// Set on the unit's last page.
    pub unit_done: Option<UnitDone>,
}

/// A unit that was read to the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitDone {
    /// Newest `updated_time` seen (or the `stop_at` it started from, if nothing newer).
    pub high_watermark: Option<DateTime<Utc>>,
    /// Threads emitted.
    pub threads: u64,
    /// API pages read (re-walks included, nested message pages not).
    pub api_pages: u64,
}

/// High-watermarks of the units read to the end so far (for incremental state).
#[derive(Debug, Default)]
pub struct Watermarks(Mutex<BTreeMap<UnitKey, DateTime<Utc>>>);

impl Watermarks {
    fn set(&self, unit: &UnitKey, t: DateTime<Utc>) {
        let mut m = self.lock();
        let e = m.entry(unit.clone()).or_insert(t);
        *e = (*e).max(t);
    }

    /// The watermark of `unit`, once it is done.
    pub fn get(&self, unit: &UnitKey) -> Option<DateTime<Utc>> {
        self.lock().get(unit).copied()
    }

    /// Every completed unit's watermark.
    pub fn all(&self) -> BTreeMap<UnitKey, DateTime<Utc>> {
        self.lock().clone()
    }

    /// A poisoned map is still the right map: each write is one `max`, never left half done.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<UnitKey, DateTime<Utc>>> {
        tributary_core::sync::lock(&self.0)
    }
}

/// The stream returned by [`GraphClient::conversations`]: API pages of threads.
pub struct ConversationPages {
    inner: BoxStream<'static, Result<ThreadPage, GraphError>>,
    watermarks: Arc<Watermarks>,
    metrics: Arc<SourceMetrics>,
}

impl std::fmt::Debug for ConversationPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationPages").finish_non_exhaustive()
    }
}

impl ConversationPages {
    /// Watermarks of finished units (updated as the stream is polled).
    pub fn watermarks(&self) -> Arc<Watermarks> {
        self.watermarks.clone()
    }

    /// Live counters.
    pub fn metrics(&self) -> Arc<SourceMetrics> {
        self.metrics.clone()
    }

    /// One thread at a time instead of one API page at a time.
    pub fn threads(self) -> impl Stream<Item = Result<Thread, GraphError>> + Send + 'static {
        self.inner.flat_map(|page| match page {
            Ok(p) => futures::stream::iter(p.threads.into_iter().map(Ok).collect::<Vec<_>>()),
            Err(e) => futures::stream::iter(vec![Err(e)]),
        })
    }
}

impl Stream for ConversationPages {
    type Item = Result<ThreadPage, GraphError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_first_url_with_expansion_and_no_token() {
        let client = GraphClient::new(ClientOptions::new("https://graph.facebook.com")).unwrap();
        let mut req = ConversationsRequest::new(vec![PageAccess::new("42", "SECRET-TOKEN")]);
        req.fields = vec!["snippet".into()];
        req.messages = Some(MessagesRequest {
            max: 5,
            fields: vec!["id".into(), "message".into()],
        });
        req.user_id = Some("777".into());
        let unit = UnitKey {
            page_id: "42".into(),
            platform: Platform::Instagram,
            folder: Folder::PageDone,
        };
        let url = client.first_url(&req, &unit).unwrap();
        let s = url.to_string();
        assert!(
            s.starts_with("https://graph.facebook.com/v25.0/42/conversations?"),
            "{s}"
        );
        assert_eq!(url.param("platform").as_deref(), Some("instagram"));
        assert_eq!(url.param("folder").as_deref(), Some("page_done"));
        assert_eq!(
            url.param("fields").as_deref(),
            Some("id,updated_time,snippet,messages.limit(5){id,message}")
        );
        assert_eq!(url.param("user_id").as_deref(), Some("777"));
        assert!(!s.contains("SECRET"));
    }

    #[test]
    fn rejects_bad_versions_and_plain_http() {
        let mut o = ClientOptions::new("https://graph.facebook.com");
        o.api_version = "25".into();
        assert!(GraphClient::new(o).is_err());
        assert!(GraphClient::new(ClientOptions::new("http://graph.facebook.com")).is_err());
        assert!(is_valid_version("v19.0") && !is_valid_version("v19") && !is_valid_version("v1.x"));
    }
}
