//! The HTTP side: a hyper HTTP/1.1 server with its own accept loop (so a fault can reset a
//! connection or cut a body), routing, auth, rate limiting, fault injection and the
//! `/__emulator/` admin routes.
//!
//! Each request is answered synchronously into one buffer under short-lived locks; the only
//! `.await`s are the optional latency sleep and the admin routes. No lock is held across an
//! `.await`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::config::{
    ALL_TASKS, EmulatorConfig, InjectedError, Latency, LimiterModel, PAGE_TOKEN_PREFIX,
    PERM_INSTAGRAM_MANAGE_MESSAGES, PERM_PAGES_MESSAGING, TASKS_WITHOUT_MESSAGING, ThrottleCode,
    TokenGrant, TokenStatus, Trigger, TruncateMode,
};
use crate::data::{Dataset, Folder, Overlay, Platform, ThreadKey, UnitKey, UnitView};
use crate::error::GraphError;
use crate::fields::{self, MessageListSel, TField};
use crate::limit::{Bucket, Limits};
use crate::render::{
    Ctx, LinkBase, PagingSpec, decode_cursor, push_message, push_message_list, push_paging,
    push_thread,
};
use crate::truth::{Mutation, PageStats, Stats, push_ndjson_line, truth_json, units};
use crate::util::{hash, push_json_str, unit_f64};

/// Fields a Page has on `/me/accounts`.
const ACCOUNT_FIELDS: [&str; 6] = [
    "id",
    "name",
    "access_token",
    "category",
    "tasks",
    "instagram_business_account",
];

/// The fault-counting unit of `/me/accounts` (no (page, platform, folder) unit has it).
const ACCOUNTS_UNIT: u64 = 3 << 40;

/// 190/463 or 190/467 for a token that is not valid.
fn check_status(status: TokenStatus) -> Result<(), GraphError> {
    match status {
        TokenStatus::Valid => Ok(()),
        TokenStatus::Expired => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            Err(GraphError::expired_token(now))
        }
        TokenStatus::LoggedOut => Err(GraphError::logged_out_token()),
    }
}

/// A response body: complete, deliberately cut (announced length, then an error that makes
/// hyper drop the connection), or streamed (ground truth).
pub(crate) enum RespBody {
    Full(Option<Bytes>),
    /// The first part of a body; after a short pause (so hyper flushes the head and the part)
    /// the body fails, and hyper closes the connection short of the announced length.
    Cut(Option<Bytes>, Pin<Box<tokio::time::Sleep>>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            RespBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            RespBody::Cut(b, pause) => {
                if let Some(b) = b.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                match pause.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "body cut by fault injection",
                    )))),
                }
            }
            RespBody::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, RespBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RespBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            RespBody::Full(None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

/// Mutable bookkeeping, behind one mutex.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub stats: Stats,
    requests: u64,
    limits: Limits,
    app: Option<Bucket>,
    unit_requests: HashMap<u64, u64>,
    throttle_streak: HashMap<u32, u32>,
}

/// Everything a request handler needs; shared by all connections.
pub(crate) struct Shared {
    pub cfg: EmulatorConfig,
    pub ds: Dataset,
    pub origin: String,
    pub overlay: RwLock<Overlay>,
    pub state: Mutex<State>,
    /// When the emulator started (throttle storms are timed from it).
    pub started: Instant,
    /// Graph requests arrived so far (draws their arrival jitter).
    arrivals: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves only counters half-updated; keep serving.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Budget used for usage headers when no rate limit is configured: large, so usage stays
/// low and clients that pause near 85 % are never slowed by a limit that does not exist.
const NOMINAL_RATE: f64 = 1000.0;
/// Usage reported without a rate limit never exceeds this.
const UNLIMITED_USAGE_CAP: u64 = 80;

const K_FAULT: u64 = 0x0066_6175_6c74;
const K_LATENCY: u64 = 0x6c61_7465;
const K_TRACE: u64 = 0x0074_7261_6365;
const K_ARRIVAL: u64 = 0x0061_7272_6976;

/// Per-request facts gathered on the way.
struct Req {
    n: u64,
    fbtrace: String,
    version: String,
    route: &'static str,
    page: Option<u32>,
    platform: Platform,
    unit_code: u64,
    unit_n: u64,
    page_usage: u64,
    /// `estimated_time_to_regain_access` (minutes) for the usage header.
    regain_minutes: f64,
    app_usage: u64,
    token_q: Option<String>,
}

enum Flow {
    Ok { body: Vec<u8>, threads: u64 },
    Err(GraphError),
    Reset,
}

/// What the async wrapper does with a Graph request.
pub(crate) enum Outcome {
    Respond(Response<RespBody>, Duration),
    Reset,
}

enum Target {
    Page(u32),
    List(u32),
    Thread(ThreadKey, String),
    Messages(ThreadKey, String),
    Message(ThreadKey, u32, String),
}

fn is_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let Some((a, b)) = rest.split_once('.') else {
        return false;
    };
    !a.is_empty()
        && !b.is_empty()
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.bytes().all(|c| c.is_ascii_digit())
}

fn version_major(v: &str) -> u32 {
    v.trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(u32::MAX)
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parameters never echoed into paging URLs: credentials and paging state.
fn echo_params(params: &[(String, String)]) -> Vec<(String, String)> {
    params
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "access_token"
                    | "pretty"
                    | "limit"
                    | "after"
                    | "before"
                    | "appsecret_proof"
                    | "appsecret_time"
            )
        })
        .cloned()
        .collect()
}

fn parse_limit(params: &[(String, String)], max: usize) -> Result<usize, GraphError> {
    match param(params, "limit") {
        None | Some("") => Ok(fields::clamp_limit(None, max)),
        Some(v) => v
            .parse::<i64>()
            .map(|n| fields::clamp_limit(Some(n), max))
            .map_err(|_| {
                GraphError::param(&format!("(#100) Param limit must be a number, got \"{v}\""))
            }),
    }
}

/// hex(HMAC-SHA256(key = secret, msg)).
pub(crate) fn appsecret_proof(secret: &str, msg: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this branch is unreachable.
        Err(_) => return String::new(),
    };
    mac.update(msg.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut s = String::with_capacity(64);
    for b in bytes.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn fbtrace(seed: u64, n: u64) -> String {
    const ALPHA: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut h = hash(&[seed, K_TRACE, n]);
    let mut s = String::with_capacity(11);
    for _ in 0..11 {
        s.push(ALPHA[(h % 62) as usize] as char);
        h /= 62;
        if h == 0 {
            h = hash(&[seed, K_TRACE, n, 1]);
        }
    }
    s
}

impl Shared {
    pub fn new(cfg: EmulatorConfig, origin: String) -> Shared {
        let ds = Dataset::new(&cfg);
        Shared {
            cfg,
            ds,
            origin,
            overlay: RwLock::new(Overlay::default()),
            state: Mutex::new(State::default()),
            started: Instant::now(),
            arrivals: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn read_overlay(&self) -> std::sync::RwLockReadGuard<'_, Overlay> {
        self.overlay.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_overlay(&self) -> std::sync::RwLockWriteGuard<'_, Overlay> {
        self.overlay.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn fires(&self, trigger: Trigger, kind: u64, req: &Req) -> bool {
        match trigger {
            Trigger::Never => false,
            Trigger::Rate(p) => {
                unit_f64(hash(&[
                    self.cfg.seed,
                    K_FAULT,
                    kind,
                    req.unit_code,
                    req.unit_n,
                ])) < p
            }
            Trigger::Nth(k) => req.unit_n == k,
            Trigger::EveryNth(k) => k > 0 && req.unit_n.is_multiple_of(k),
        }
    }

    fn count_fault(&self, name: &str) {
        *lock(&self.state)
            .stats
            .faults_injected
            .entry(name.to_string())
            .or_default() += 1;
    }

    /// Applies a mutation; returns the affected thread ids.
    pub fn mutate(&self, m: Mutation) -> Vec<String> {
        let ds = &self.ds;
        let mut ov = self.write_overlay();
        let key_of = |id: &str| ds.parse_thread_id(id).and_then(|n| ds.thread_key(n));
        match m {
            Mutation::NewThreads {
                page_id,
                platform,
                folder,
                count,
            } => {
                let Some(page) = ds.page_index(&page_id) else {
                    return Vec::new();
                };
                let keys = ov.add_threads(
                    UnitKey {
                        page,
                        platform,
                        folder,
                    },
                    count,
                );
                keys.into_iter()
                    .filter_map(|k| ov.resolve(ds, k).map(|t| ds.thread_id(&t)))
                    .collect()
            }
            Mutation::Update { thread_id } => match key_of(&thread_id) {
                Some(k) if ov.update(ds, k) => vec![thread_id],
                _ => Vec::new(),
            },
            Mutation::Delete { thread_id } => match key_of(&thread_id) {
                Some(k) if ov.delete(ds, k) => vec![thread_id],
                _ => Vec::new(),
            },
        }
    }

    /// Answers one Graph request (everything except `/__emulator/`).
    pub fn graph(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Outcome {
        let n = {
            let mut st = lock(&self.state);
            st.requests += 1;
            st.stats.requests_total += 1;
            st.requests
        };
        let params: Vec<(String, String)> = query
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let mut req = Req {
            n,
            fbtrace: fbtrace(self.cfg.seed, n),
            version: self.cfg.default_version.clone(),
            route: "unknown",
            page: None,
            platform: Platform::Messenger,
            unit_code: 0,
            unit_n: 0,
            page_usage: 0,
            regain_minutes: 0.0,
            app_usage: 0,
            token_q: None,
        };
        let flow = self.graph_flow(&mut req, method, path, &params, headers);
        let delay = self.latency(n);
        let (status, body, err, threads) = match flow {
            Flow::Reset => {
                self.record(&req, 0, None, 0, 0);
                return Outcome::Reset;
            }
            Flow::Ok { body, threads } => (200u16, body, None, threads),
            Flow::Err(e) => {
                let body = e.body(&req.fbtrace);
                (e.status, body, Some(e), 0)
            }
        };
        // Cutting the body applies to any Graph response whose unit is known.
        let cut = req.page.is_some() && self.fires(self.cfg.faults.truncate_body, 4, &req);
        if cut {
            self.count_fault("truncate-body");
        }
        self.record(&req, status, err.as_ref(), threads, body.len() as u64);
        let resp = self.build_response(&req, status, body, err.as_ref(), cut);
        Outcome::Respond(resp, delay)
    }

    /// How long the next arriving request travels before the limiters see it.
    fn arrival_delay(&self) -> Duration {
        let max = self.cfg.arrival_jitter;
        if max.is_zero() {
            return Duration::ZERO;
        }
        let n = self
            .arrivals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        max.mul_f64(unit_f64(hash(&[self.cfg.seed, K_ARRIVAL, n])))
    }

    fn latency(&self, n: u64) -> Duration {
        match self.cfg.latency {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => {
                let span = max.saturating_sub(min).as_secs_f64();
                min + Duration::from_secs_f64(span * unit_f64(hash(&[self.cfg.seed, K_LATENCY, n])))
            }
        }
    }

    fn record(&self, req: &Req, status: u16, err: Option<&GraphError>, threads: u64, bytes: u64) {
        let mut st = lock(&self.state);
        let stats = &mut st.stats;
        *stats
            .requests_by_route
            .entry(req.route.to_string())
            .or_default() += 1;
        if status != 0 {
            *stats.responses_by_status.entry(status).or_default() += 1;
        }
        stats.threads_served += threads;
        stats.bytes_served += bytes;
        let throttled = err.is_some_and(|e| e.is_throttle());
        if let Some(e) = err.filter(|e| e.plain_body.is_none()) {
            *stats.errors_by_code.entry(e.code).or_default() += 1;
            if throttled {
                *stats.throttled_by_code.entry(e.code).or_default() += 1;
            }
        }
        if let Some(page) = req.page {
            let id = &self.ds.page_ids[page as usize];
            if !stats.per_page.contains_key(id) {
                stats.per_page.insert(id.clone(), PageStats::default());
            }
            if let Some(ps) = stats.per_page.get_mut(id) {
                ps.requests += 1;
                ps.threads_served += threads;
                ps.throttled += u64::from(throttled);
            }
        }
    }

    fn build_response(
        &self,
        req: &Req,
        status: u16,
        body: Vec<u8>,
        err: Option<&GraphError>,
        cut: bool,
    ) -> Response<RespBody> {
        let full_len = body.len();
        let mut body = Bytes::from(body);
        let resp_body = if cut {
            body.truncate(full_len / 2);
            match self.cfg.faults.truncate_mode {
                TruncateMode::CloseEarly => RespBody::Cut(
                    Some(body),
                    Box::pin(tokio::time::sleep(Duration::from_millis(20))),
                ),
                TruncateMode::ShortBody => RespBody::Full(Some(body)),
            }
        } else {
            RespBody::Full(Some(body))
        };
        let mut resp = Response::new(resp_body);
        *resp.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        let plain = err.is_some_and(|e| e.plain_body.is_some());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(if plain {
                "text/plain; charset=UTF-8"
            } else {
                "application/json; charset=UTF-8"
            }),
        );
        if cut && self.cfg.faults.truncate_mode == TruncateMode::CloseEarly {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(full_len));
        }
        if let Ok(v) = HeaderValue::from_str(&req.version) {
            h.insert("facebook-api-version", v);
        }
        if let Ok(v) = HeaderValue::from_str(&req.fbtrace) {
            h.insert("x-fb-trace-id", v);
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache, no-store, must-revalidate"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        let app = req.app_usage;
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{{\"call_count\":{app},\"total_time\":{},\"total_cputime\":{}}}",
            app / 2,
            app / 4
        )) {
            h.insert("x-app-usage", v);
        }
        if let Some(page) = req.page {
            let u = req.page_usage;
            let entry = |id: &str, kind: &str| {
                format!(
                    "\"{id}\":[{{\"type\":\"{kind}\",\"call_count\":{u},\"total_cputime\":{},\"total_time\":{},\"estimated_time_to_regain_access\":{}}}]",
                    u / 4,
                    u / 2,
                    req.regain_minutes
                )
            };
            let mut v = format!("{{{}", entry(&self.ds.page_ids[page as usize], "messenger"));
            if req.platform == Platform::Instagram {
                v.push(',');
                v.push_str(&entry(&self.ds.ig_ids[page as usize], "instagram"));
            }
            v.push('}');
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert("x-business-use-case-usage", v);
            }
        }
        if let Some(www) = err.and_then(|e| e.www_authenticate_header())
            && let Ok(v) = HeaderValue::from_str(&www)
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }

    fn graph_flow(
        &self,
        req: &mut Req,
        method: &Method,
        path: &str,
        params: &[(String, String)],
        headers: &HeaderMap,
    ) -> Flow {
        match self.graph_inner(req, method, path, params, headers) {
            Ok(Some((body, threads))) => Flow::Ok { body, threads },
            Ok(None) => Flow::Reset,
            Err(e) => Flow::Err(e),
        }
    }

    /// `Ok(None)` means "reset the connection".
    fn graph_inner(
        &self,
        req: &mut Req,
        method: &Method,
        path: &str,
        params: &[(String, String)],
        headers: &HeaderMap,
    ) -> Result<Option<(Vec<u8>, u64)>, GraphError> {
        let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if let Some(first) = segs.first()
            && is_version(first)
        {
            req.version = (*first).to_string();
            segs.remove(0);
        }
        if segs.is_empty() || segs.len() > 2 {
            let rest = if segs.len() > 2 {
                format!("/{}", segs[1..].join("/"))
            } else {
                "/".to_string()
            };
            return Err(GraphError::unknown_path(&rest));
        }
        let (id, edge) = (segs[0], segs.get(1).copied());
        if method != Method::GET && method != Method::HEAD {
            return Err(GraphError::unsupported_method(method.as_str(), id));
        }

        // Authentication.
        let token_q = param(params, "access_token").filter(|t| !t.is_empty());
        let token_h = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("OAuth "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token_q.or(token_h) else {
            return Err(GraphError::missing_token());
        };
        req.token_q = token_q.map(str::to_string);
        if let Some(secret) = &self.cfg.app_secret {
            let Some(proof) = param(params, "appsecret_proof") else {
                return Err(GraphError::appsecret_missing());
            };
            let msg = match param(params, "appsecret_time") {
                Some(t) => format!("{token}|{t}"),
                None => token.to_string(),
            };
            if !appsecret_proof(secret, &msg).eq_ignore_ascii_case(proof) {
                return Err(GraphError::appsecret_invalid());
            }
        }
        if id == "me" && edge == Some("accounts") {
            return self.accounts(req, token, params).map(Some);
        }
        let page_grant;
        let grant = match self.cfg.tokens.get(token) {
            Some(g) => g,
            None => match self.page_token_grant(token) {
                Some(g) => {
                    page_grant = g;
                    &page_grant
                }
                None => match self.cfg.accounts.users.get(token) {
                    Some(user) => {
                        check_status(user.status)?;
                        return Err(GraphError::page_token_required());
                    }
                    None => return Err(GraphError::invalid_token()),
                },
            },
        };
        match grant.status {
            TokenStatus::Valid => {}
            TokenStatus::Expired => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                return Err(GraphError::expired_token(now));
            }
            TokenStatus::LoggedOut => return Err(GraphError::logged_out_token()),
        }

        // Routing.
        let ds = &self.ds;
        let target = if let Some(page) = ds.page_index(id) {
            match edge {
                None => Target::Page(page),
                Some("conversations") => Target::List(page),
                Some(other) => return Err(GraphError::nonexisting_field(other, "Page")),
            }
        } else if let Some(key) = ds.parse_thread_id(id).and_then(|n| ds.thread_key(n)) {
            match edge {
                None => Target::Thread(key, id.to_string()),
                Some("messages") => Target::Messages(key, id.to_string()),
                Some(other) => return Err(GraphError::nonexisting_field(other, "UnifiedThread")),
            }
        } else if let Some((num, seq)) = ds.parse_message_id(id) {
            let Some(key) = ds.thread_key(num) else {
                return Err(GraphError::unsupported_get(id));
            };
            match edge {
                None => Target::Message(key, seq, id.to_string()),
                Some(other) => return Err(GraphError::nonexisting_field(other, "Message")),
            }
        } else {
            return Err(GraphError::unsupported_get(id));
        };

        let (page, platform, unit_code, route) = match &target {
            Target::Page(p) => (*p, Platform::Messenger, 1 << 40 | u64::from(*p), "page"),
            Target::List(p) => {
                let platform = match param(params, "platform") {
                    None | Some("") => Platform::Messenger,
                    Some(v) => Platform::parse(v).ok_or_else(|| {
                        GraphError::param("(#100) platform must be one of the following values: messenger, instagram")
                    })?,
                };
                let folder = match param(params, "folder") {
                    None | Some("") => Folder::Inbox,
                    Some(v) => Folder::parse(v).ok_or_else(|| {
                        GraphError::param(
                            "(#100) folder must be one of the following values: inbox, other, page_done, spam",
                        )
                    })?,
                };
                let unit = UnitKey {
                    page: *p,
                    platform,
                    folder,
                };
                (*p, platform, unit.code(), "conversations")
            }
            Target::Thread(k, _) => (k.unit.page, k.unit.platform, k.unit.code(), "conversation"),
            Target::Messages(k, _) => (k.unit.page, k.unit.platform, k.unit.code(), "messages"),
            Target::Message(k, _, _) => (k.unit.page, k.unit.platform, k.unit.code(), "message"),
        };
        req.route = route;

        // Permissions.
        let page_id = &ds.page_ids[page as usize];
        if let Some(pages) = &grant.pages
            && !pages.iter().any(|p| p == page_id)
        {
            return Err(GraphError::permission10());
        }
        if !matches!(target, Target::Page(_)) {
            match platform {
                Platform::Messenger if !grant.permissions.contains(PERM_PAGES_MESSAGING) => {
                    return Err(GraphError::permission230());
                }
                Platform::Instagram
                    if !grant.permissions.contains(PERM_INSTAGRAM_MANAGE_MESSAGES) =>
                {
                    return Err(GraphError::permission200(PERM_INSTAGRAM_MANAGE_MESSAGES));
                }
                _ => {}
            }
        }

        // From here on the response carries usage headers and faults may fire.
        req.page = Some(page);
        req.platform = platform;
        req.unit_code = unit_code;
        if let Some(e) = self.admit(req, page) {
            return Err(e);
        }
        if self.fires(self.cfg.faults.connection_reset, 5, req) {
            self.count_fault("connection-reset");
            return Ok(None);
        }
        for (i, f) in self.cfg.faults.errors.iter().enumerate() {
            if self.fires(f.trigger, 100 + i as u64, req) {
                self.count_fault(f.error.name());
                let e = injected(f.error);
                if e.is_throttle() {
                    req.page_usage = req.page_usage.max(100);
                }
                return Err(e);
            }
        }

        let ctx_token = req.token_q.clone();
        let version = req.version.clone();
        let ctx = Ctx {
            ds,
            origin: &self.origin,
            version: &version,
            token_q: ctx_token.as_deref(),
            truth: false,
        };
        let out = match target {
            Target::Page(p) => {
                let mut out = Vec::with_capacity(128);
                out.extend_from_slice(b"{\"name\":");
                out.extend_from_slice(&ds.page_names[p as usize].esc);
                out.extend_from_slice(b",\"id\":\"");
                out.extend_from_slice(ds.page_ids[p as usize].as_bytes());
                out.extend_from_slice(b"\"}");
                (out, 0)
            }
            Target::List(p) => self.list(req, &ctx, p, params)?,
            Target::Thread(key, id) => {
                let fields = self.thread_fields(params, &version)?;
                let ov = self.read_overlay();
                let t = ov
                    .resolve(ds, key)
                    .ok_or_else(|| GraphError::unsupported_get(&id))?;
                let mut out = Vec::with_capacity(4096);
                push_thread(&mut out, &ctx, &t, &fields);
                (out, 1)
            }
            Target::Messages(key, id) => {
                let limit = parse_limit(params, self.cfg.max_limit)?;
                let mfields = match param(params, "fields") {
                    Some(f) if !f.trim().is_empty() => fields::message_fields(&fields::parse(f)?)?,
                    _ => fields::default_message_fields(),
                };
                let start = self.cursor_start(params, limit)?;
                let ov = self.read_overlay();
                let t = ov
                    .resolve(ds, key)
                    .ok_or_else(|| GraphError::unsupported_get(&id))?;
                let sel = MessageListSel {
                    limit,
                    fields: mfields,
                    raw: None,
                };
                let echo = echo_params(params);
                let mut out = Vec::with_capacity(1024 + limit * 512);
                let start = start.clamp(0, i64::from(t.message_count())) as u32;
                push_message_list(&mut out, &ctx, &t, &sel, start, &echo);
                (out, 0)
            }
            Target::Message(key, seq, id) => {
                let mfields = match param(params, "fields") {
                    Some(f) if !f.trim().is_empty() => fields::message_fields(&fields::parse(f)?)?,
                    _ => fields::default_message_fields(),
                };
                let ov = self.read_overlay();
                let t = ov
                    .resolve(ds, key)
                    .ok_or_else(|| GraphError::unsupported_get(&id))?;
                let pos = t
                    .position_of(seq)
                    .ok_or_else(|| GraphError::unsupported_get(&id))?;
                // Only the newest 20 messages have details; older ones cannot be read.
                if pos as usize >= crate::config::DETAIL_MESSAGES {
                    return Err(GraphError::unsupported_get(&id));
                }
                let m = t
                    .message(pos)
                    .ok_or_else(|| GraphError::unsupported_get(&id))?;
                let mut out = Vec::with_capacity(1024);
                push_message(&mut out, &ctx, &t, &m, pos, &mfields);
                (out, 0)
            }
        };
        Ok(Some(out))
    }

    /// The grant of a per-Page token handed out by `/me/accounts` ([`crate::page_token`]).
    fn page_token_grant(&self, token: &str) -> Option<TokenGrant> {
        let page_id = token.strip_prefix(PAGE_TOKEN_PREFIX)?;
        self.ds.page_index(page_id)?;
        let mut grant = TokenGrant {
            pages: Some(vec![page_id.to_string()]),
            ..TokenGrant::full()
        };
        if self.cfg.accounts.without_messaging.contains(page_id) {
            grant.permissions.remove(PERM_PAGES_MESSAGING);
            grant.permissions.remove(PERM_INSTAGRAM_MANAGE_MESSAGES);
        }
        Some(grant)
    }

    /// `GET /me/accounts`: the Pages a user token manages, paged like the conversations edge.
    /// Not rate limited per Page (it is no Page's call); injected errors fire on it, counted
    /// as one unit of its own.
    fn accounts(
        &self,
        req: &mut Req,
        token: &str,
        params: &[(String, String)],
    ) -> Result<(Vec<u8>, u64), GraphError> {
        req.route = "accounts";
        let Some(user) = self.cfg.accounts.users.get(token) else {
            // A Page token: `/me` is the Page, which has no `accounts` edge.
            if let Some(g) = self.cfg.tokens.get(token) {
                check_status(g.status)?;
            } else if self.page_token_grant(token).is_none() {
                return Err(GraphError::invalid_token());
            }
            return Err(GraphError::nonexisting_field("accounts", "Page"));
        };
        check_status(user.status)?;
        req.unit_code = ACCOUNTS_UNIT;
        req.unit_n = {
            let mut st = lock(&self.state);
            let n = st.unit_requests.entry(ACCOUNTS_UNIT).or_default();
            *n += 1;
            *n
        };
        for (i, f) in self.cfg.faults.errors.iter().enumerate() {
            if self.fires(f.trigger, 100 + i as u64, req) {
                self.count_fault(f.error.name());
                return Err(injected(f.error));
            }
        }
        let fields: Vec<&str> = match param(params, "fields") {
            Some(f) if !f.trim().is_empty() => f.split(',').map(str::trim).collect(),
            _ => vec!["access_token", "category", "name", "id", "tasks"],
        };
        for f in &fields {
            if !ACCOUNT_FIELDS.contains(f) {
                return Err(GraphError::nonexisting_field(f, "Page"));
            }
        }
        let ds = &self.ds;
        let listed: Vec<u32> = match &user.pages {
            None => (0..ds.page_ids.len() as u32).collect(),
            Some(ids) => ids.iter().filter_map(|id| ds.page_index(id)).collect(),
        };
        let limit = parse_limit(params, self.cfg.accounts.per_page.max(1))?;
        let start = self
            .cursor_start(params, limit)?
            .clamp(0, listed.len() as i64) as usize;
        let end = (start + limit).min(listed.len());
        let mut out = Vec::with_capacity(256 * (end - start) + 512);
        out.extend_from_slice(b"{\"data\":[");
        for (n, &p) in listed[start..end].iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            self.push_account(&mut out, p, &fields);
        }
        out.push(b']');
        let echo = echo_params(params);
        let version = req.version.clone();
        let ctx = Ctx {
            ds,
            origin: &self.origin,
            version: &version,
            token_q: req.token_q.as_deref(),
            truth: false,
        };
        let base = LinkBase {
            path: "me/accounts",
            echo: &echo,
            limit,
        };
        let spec = PagingSpec {
            cursors: (end > start).then(|| (start as i64, end as i64 - 1)),
            previous: start > 0,
            next: (end < listed.len()).then(|| (end as i64 - 1, 0)),
        };
        push_paging(&mut out, &ctx, &base, &spec);
        out.push(b'}');
        Ok((out, 0))
    }

    /// One Page of `/me/accounts`, fields in request order, `id` always.
    fn push_account(&self, out: &mut Vec<u8>, p: u32, fields: &[&str]) {
        let ds = &self.ds;
        let id = &ds.page_ids[p as usize];
        out.push(b'{');
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>, name: &str| {
            if !std::mem::replace(&mut first, false) {
                out.push(b',');
            }
            push_json_str(out, name);
            out.push(b':');
        };
        let mut with_id = false;
        for f in fields {
            match *f {
                "id" => {
                    sep(out, "id");
                    push_json_str(out, id);
                    with_id = true;
                }
                "name" => {
                    sep(out, "name");
                    out.extend_from_slice(&ds.page_names[p as usize].esc);
                }
                "access_token" => {
                    sep(out, "access_token");
                    push_json_str(out, &crate::config::page_token(id));
                }
                "category" => {
                    sep(out, "category");
                    push_json_str(out, "Shopping & retail");
                }
                "tasks" => {
                    sep(out, "tasks");
                    let tasks: &[&str] = if self.cfg.accounts.without_messaging.contains(id) {
                        &TASKS_WITHOUT_MESSAGING
                    } else {
                        &ALL_TASKS
                    };
                    out.push(b'[');
                    for (i, t) in tasks.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        push_json_str(out, t);
                    }
                    out.push(b']');
                }
                "instagram_business_account" => {
                    sep(out, "instagram_business_account");
                    out.extend_from_slice(b"{\"id\":");
                    push_json_str(out, &ds.ig_ids[p as usize]);
                    out.push(b'}');
                }
                _ => {}
            }
        }
        if !with_id {
            sep(out, "id");
            push_json_str(out, id);
        }
        out.push(b'}');
    }

    /// Counts the request for its unit and page, applies the rate limits, fills usage numbers.
    fn admit(&self, req: &mut Req, page: u32) -> Option<GraphError> {
        let now = Instant::now();
        let limit = self.cfg.rate_limit_per_page.filter(|r| *r > 0.0);
        let rate = limit.unwrap_or(NOMINAL_RATE);
        let cap = rate.max(1.0);
        let pages = self.cfg.pages.max(1) as f64;
        let mut st = lock(&self.state);
        let counter = st.unit_requests.entry(req.unit_code).or_default();
        *counter += 1;
        req.unit_n = *counter;
        if let Some((from, to)) = self.cfg.faults.throttle_storm {
            let t = now.saturating_duration_since(self.started);
            if t >= from && t < to {
                req.page_usage = 100;
                return Some(GraphError::rate_limit613());
            }
        }

        let app = st.app.get_or_insert_with(|| Bucket::new(cap * pages, now));
        app.refill(rate * pages, cap * pages, now);
        app.drain_one();
        req.app_usage = app.usage(cap * pages).min(UNLIMITED_USAGE_CAP);
        if let Some(app_rate) = self.cfg.app_rate_limit.filter(|r| *r > 0.0)
            && !st.limits.admit_app(app_rate, now)
        {
            req.app_usage = 100;
            return Some(GraphError::app_limit4());
        }

        let Some(rate) = limit else {
            // No limit: usage from a nominal bucket, never alarming.
            let a = st
                .limits
                .admit_page(LimiterModel::TokenBucket, NOMINAL_RATE, page, now);
            req.page_usage = a.usage.min(UNLIMITED_USAGE_CAP);
            return None;
        };
        let a = st.limits.admit_page(self.cfg.limiter, rate, page, now);
        if a.allowed {
            req.page_usage = a.usage;
            st.throttle_streak.remove(&page);
            return None;
        }
        req.page_usage = a.usage.max(100);
        req.regain_minutes = a.regain_minutes;
        if a.by_pool {
            return Some(GraphError::messenger_buc80006());
        }
        let streak = st.throttle_streak.entry(page).or_default();
        *streak += 1;
        Some(match self.cfg.rate_limit_code {
            ThrottleCode::Code613 => GraphError::rate_limit613(),
            ThrottleCode::Code80006 => GraphError::messenger_buc80006(),
            ThrottleCode::Alternate if *streak == 1 => GraphError::rate_limit613(),
            ThrottleCode::Alternate => GraphError::messenger_buc80006(),
        })
    }

    fn thread_fields(
        &self,
        params: &[(String, String)],
        version: &str,
    ) -> Result<Vec<TField>, GraphError> {
        match param(params, "fields") {
            Some(f) if !f.trim().is_empty() => fields::thread_fields(
                &fields::parse(f)?,
                self.cfg.max_limit,
                version_major(version),
            ),
            _ => Ok(vec![TField::Id, TField::UpdatedTime]),
        }
    }

    /// Start position from `after`/`before` (`before` pages backwards by `limit`).
    fn cursor_start(&self, params: &[(String, String)], limit: usize) -> Result<i64, GraphError> {
        if let Some(c) = param(params, "after").filter(|c| !c.is_empty()) {
            let pos =
                decode_cursor(self.cfg.seed, c).ok_or_else(|| GraphError::bad_cursor("after"))?;
            return Ok(pos + 1);
        }
        if let Some(c) = param(params, "before").filter(|c| !c.is_empty()) {
            let pos =
                decode_cursor(self.cfg.seed, c).ok_or_else(|| GraphError::bad_cursor("before"))?;
            return Ok((pos - limit as i64).max(0));
        }
        Ok(0)
    }

    fn list(
        &self,
        req: &Req,
        ctx: &Ctx,
        page: u32,
        params: &[(String, String)],
    ) -> Result<(Vec<u8>, u64), GraphError> {
        for p in ["since", "until"] {
            if param(params, p).is_some() {
                return Err(GraphError::time_paging(p));
            }
        }
        let limit = parse_limit(params, self.cfg.max_limit)?;
        let fields = self.thread_fields(params, &req.version)?;
        let msg_limit = fields.iter().find_map(|f| match f {
            TField::Messages(sel) => Some(sel.limit),
            _ => None,
        });
        if let Some(ml) = msg_limit
            && limit.saturating_mul(ml) > self.cfg.heavy_threshold
        {
            return Err(GraphError::reduce_data());
        }
        let platform = req.platform;
        let folder = param(params, "folder")
            .and_then(Folder::parse)
            .unwrap_or(Folder::Inbox);
        let unit = UnitKey {
            page,
            platform,
            folder,
        };
        let ds = &self.ds;

        if let Some(user) = param(params, "user_id").filter(|u| !u.is_empty()) {
            let ov = self.read_overlay();
            let mut out = Vec::with_capacity(4096);
            out.extend_from_slice(b"{\"data\":[");
            let mut n = 0;
            if let Some(key) = ds.key_for_customer(user)
                && key.unit.page == page
                && key.unit.platform == platform
                && (param(params, "folder").is_none() || key.unit.folder == folder)
                && let Some(t) = ov.resolve(ds, key)
            {
                push_thread(&mut out, ctx, &t, &fields);
                n = 1;
            }
            out.extend_from_slice(b"]}");
            return Ok((out, n));
        }

        let mut start = self.cursor_start(params, limit)?;
        // With `before=X` the page ends just before X, even when fewer than `limit` precede it.
        let take = match param(params, "before").filter(|c| !c.is_empty()) {
            Some(c) => decode_cursor(self.cfg.seed, c)
                .map_or(limit, |x| (x - start).clamp(0, limit as i64) as usize),
            None => limit,
        };
        let has_after = param(params, "after").is_some_and(|c| !c.is_empty());
        let faults = &self.cfg.faults;

        if self.fires(faults.empty_page, 1, req) {
            self.count_fault("empty-page");
            let mut out = Vec::with_capacity(512);
            out.extend_from_slice(b"{\"data\":[]");
            let echo = echo_params(params);
            let path = format!("{}/conversations", ds.page_ids[page as usize]);
            let base = LinkBase {
                path: &path,
                echo: &echo,
                limit,
            };
            // The fresh nonce gives a new cursor string for the same position.
            let spec = PagingSpec {
                cursors: None,
                previous: false,
                next: Some((start - 1, 1 + (req.n % 1_000_000) as u32)),
            };
            push_paging(&mut out, ctx, &base, &spec);
            out.push(b'}');
            return Ok((out, 0));
        }
        if has_after && start > 0 && self.fires(faults.repeat_across_boundary, 2, req) {
            self.count_fault("repeat-across-boundary");
            start -= 1;
        }
        if has_after && self.fires(faults.move_to_top, 3, req) {
            let mut ov = self.write_overlay();
            let target = {
                let view = UnitView::new(ds, &ov, unit);
                let q = start as usize + limit / 2;
                view.at(q)
                    .or_else(|| view.at(view.len().saturating_sub(1)))
                    .map(|t| t.key)
            };
            if let Some(key) = target
                && ov.update(ds, key)
            {
                drop(ov);
                self.count_fault("move-to-top");
            }
        }

        let ov = self.read_overlay();
        let view = UnitView::new(ds, &ov, unit);
        let len = view.len() as i64;
        let start = start.max(0);
        let msgs_per = msg_limit.unwrap_or(0);
        let mut out = Vec::with_capacity(256 + limit * (512 + msgs_per * 600));
        out.extend_from_slice(b"{\"data\":[");
        let mut n = 0u64;
        if start < len {
            for (i, t) in view.iter_from(start as usize).take(take).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_thread(&mut out, ctx, &t, &fields);
                n += 1;
            }
        }
        out.push(b']');
        if n > 0 {
            let end = start + n as i64;
            let echo = echo_params(params);
            let path = format!("{}/conversations", ds.page_ids[page as usize]);
            let base = LinkBase {
                path: &path,
                echo: &echo,
                limit,
            };
            let spec = PagingSpec {
                cursors: Some((start, end - 1)),
                previous: start > 0,
                next: (end < len).then_some((end - 1, 0)),
            };
            push_paging(&mut out, ctx, &base, &spec);
        }
        out.push(b'}');
        Ok((out, n))
    }
}

fn injected(e: InjectedError) -> GraphError {
    match e {
        InjectedError::Unknown1 => GraphError::unknown1(),
        InjectedError::ReduceData1 => GraphError::reduce_data(),
        InjectedError::Transient2 => GraphError::transient2(),
        InjectedError::AppLimit4 => GraphError::app_limit4(),
        InjectedError::UserLimit17 => GraphError::user_limit17(),
        InjectedError::PageLimit32 => GraphError::page_limit32(),
        InjectedError::RateLimit613 => GraphError::rate_limit613(),
        InjectedError::MessengerBuc80006 => GraphError::messenger_buc80006(),
        InjectedError::Permission10 => GraphError::permission10(),
        InjectedError::Permission200 => GraphError::permission200(PERM_INSTAGRAM_MANAGE_MESSAGES),
        InjectedError::Permission230 => GraphError::permission230(),
        InjectedError::Policy368 => GraphError::policy368(),
        InjectedError::TokenExpired190 => GraphError::expired_token(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        ),
        InjectedError::Http503 => GraphError::http503(),
        InjectedError::ErrorInHttp200 => GraphError::error_in_200(),
    }
}

fn json_response(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response<RespBody> {
    let mut resp = Response::new(RespBody::Full(Some(Bytes::from(body))));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `/__emulator/...`: ground truth, stats, mutations. No token needed.
async fn admin(shared: Arc<Shared>, req: Request<Incoming>) -> Response<RespBody> {
    use http_body_util::BodyExt;
    {
        let mut st = lock(&shared.state);
        st.stats.requests_total += 1;
        *st.stats
            .requests_by_route
            .entry("emulator".to_string())
            .or_default() += 1;
    }
    let path = req.uri().path().trim_end_matches('/').to_string();
    let params: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/__emulator/ground_truth") => ground_truth_stream(shared, &params),
        (Method::GET, "/__emulator/stats") => {
            let stats = lock(&shared.state).stats.clone();
            json_response(
                StatusCode::OK,
                "application/json",
                serde_json::to_vec(&stats).unwrap_or_default(),
            )
        }
        (Method::GET, "/__emulator/health") => json_response(StatusCode::OK, "text/plain", b"ok".to_vec()),
        (Method::POST, "/__emulator/mutate") => {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return json_response(StatusCode::BAD_REQUEST, "text/plain", e.to_string().into_bytes());
                }
            };
            match serde_json::from_slice::<Mutation>(&body) {
                Ok(m) => {
                    let ids = shared.mutate(m);
                    json_response(
                        StatusCode::OK,
                        "application/json",
                        serde_json::to_vec(&serde_json::json!({ "ids": ids })).unwrap_or_default(),
                    )
                }
                Err(e) => json_response(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("invalid mutation: {e}").into_bytes(),
                ),
            }
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            "text/plain",
            b"unknown emulator route: try /__emulator/ground_truth, /__emulator/stats, POST /__emulator/mutate"
                .to_vec(),
        ),
    }
}

/// Streams the ground truth as NDJSON (optionally filtered by `page_id`, `platform`,
/// `folder`), generated on a blocking thread from a snapshot of the overlay, so a dataset of
/// a million threads never sits in memory.
fn ground_truth_stream(shared: Arc<Shared>, params: &[(String, String)]) -> Response<RespBody> {
    let page_filter = param(params, "page_id").map(str::to_string);
    let platform_filter = param(params, "platform").and_then(Platform::parse);
    let folder_filter = param(params, "folder").and_then(Folder::parse);
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let snapshot = shared.read_overlay().clone();
    tokio::task::spawn_blocking(move || {
        let ds = &shared.ds;
        let mut out = Vec::with_capacity(128 * 1024);
        let mut thread = Vec::with_capacity(64 * 1024);
        for unit in units(ds) {
            let page_id = &ds.page_ids[unit.page as usize];
            if page_filter.as_ref().is_some_and(|p| p != page_id)
                || platform_filter.is_some_and(|p| p != unit.platform)
                || folder_filter.is_some_and(|f| f != unit.folder)
            {
                continue;
            }
            let view = UnitView::new(ds, &snapshot, unit);
            for t in view.iter_from(0) {
                thread.clear();
                truth_json(ds, &t, &mut thread);
                push_ndjson_line(&mut out, page_id, unit.platform, unit.folder, &thread);
                if out.len() >= 64 * 1024 {
                    let chunk =
                        Bytes::from(std::mem::replace(&mut out, Vec::with_capacity(128 * 1024)));
                    if tx.blocking_send(chunk).is_err() {
                        return; // the client went away
                    }
                }
            }
        }
        if !out.is_empty() {
            let _ = tx.blocking_send(Bytes::from(out));
        }
    });
    let mut resp = Response::new(RespBody::Stream(rx));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    kill: Arc<Notify>,
) -> Response<RespBody> {
    if req.uri().path().starts_with("/__emulator") {
        return admin(shared, req).await;
    }
    let travel = shared.arrival_delay();
    if !travel.is_zero() {
        tokio::time::sleep(travel).await;
    }
    let outcome = shared.graph(
        req.method(),
        req.uri().path(),
        req.uri().query(),
        req.headers(),
    );
    match outcome {
        Outcome::Respond(resp, delay) => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            resp
        }
        Outcome::Reset => {
            kill.notify_one();
            // The connection task drops this future when it resets the socket.
            std::future::pending().await
        }
    }
}

/// Serves one TCP connection until it closes, or resets it when a handler asks to.
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    // A duplicate of the socket lets us set SO_LINGER=0 after hyper took the stream, so that
    // dropping both sends an RST: the client sees "connection reset", not a clean close.
    let (stream, dup) = match stream.into_std().and_then(|s| {
        let dup = s.try_clone()?;
        Ok((TcpStream::from_std(s)?, TcpStream::from_std(dup)?))
    }) {
        Ok(pair) => pair,
        Err(_) => return,
    };
    let kill = Arc::new(Notify::new());
    let svc_kill = kill.clone();
    let svc = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let kill = svc_kill.clone();
        async move { Ok::<_, Infallible>(handle(shared, req, kill).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {
            let _ = dup.set_zero_linger();
        }
    }
}

/// Accepts connections until `shutdown` fires, then aborts every open connection.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(serve_connection(stream, shared.clone()));
                }
                // Out of file descriptors and the like: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_matches_graph_api_test_vectors() {
        assert_eq!(
            appsecret_proof("appsecret-123", "access-token-234"),
            "cdfcbc87edc90f8123cd3797a0d6f6f7eedf63d97038a15d1693d297f653d7f2"
        );
        assert_eq!(
            appsecret_proof("appsecret-123", "access-token-234|1700000000"),
            "24576cd34ef4671d43d4876e233b5fca8c51165f9a6e5187c1cb53e2e365d6d0"
        );
    }

    #[test]
    fn recognises_versions() {
        assert!(is_version("v19.0"));
        assert!(!is_version("v19"));
        assert!(!is_version("104857600000001"));
        assert_eq!(version_major("v25.0"), 25);
    }
}
