//! A local, deterministic, fast emulator of the Facebook Graph API **Page Conversations** edge,
//! for tests, the demo and benchmarks. It speaks real HTTP on 127.0.0.1.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use graph_emulator::{EmulatorConfig, start};
//!
//! let emu = start(EmulatorConfig { seed: 7, ..EmulatorConfig::default() }).await?;
//! let page = &emu.page_ids()[0]; // "104857600000001"
//! let url = format!(
//!     "{}/v19.0/{page}/conversations?platform=instagram&folder=inbox\
//!      &fields=participants,updated_time,messages.limit(5){{id,message,from,to}}\
//!      &access_token=demo-token",
//!     emu.base_url()
//! );
//! let body: serde_json::Value = reqwest::get(&url).await?.json().await?;
//! let first = &body["data"][0];
//! let truth = emu.ground_truth();
//! let expected = truth.unit(page, graph_emulator::Platform::Instagram, graph_emulator::Folder::Inbox)
//!     .next()
//!     .unwrap();
//! assert_eq!(first["id"], expected.id.as_str()); // newest first
//! assert!(body["paging"]["next"].as_str().unwrap().starts_with(emu.base_url()));
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! **The one design decision to know:** nothing is stored. Every thread is a pure function of
//! `(seed, page, platform, folder, index)` — index 0 is the newest, `updated_time` strictly
//! decreases with the index — and every message a pure function of its thread and sequence
//! number. Ids decode back to those coordinates, cursors encode the position, so a unit of a
//! million threads costs no memory and `GET /{conversation-id}` needs no lookup table.
//! Mutations ([`Mutation`]) are a small overlay on top. Responses are written straight into one
//! buffer from pre-escaped text.
//!
//! # Routes
//! - `GET /{version}/{page-id}/conversations` — `platform` (case-insensitive, default
//!   `messenger`), `folder` (`inbox` default, `other`, `page_done`, `spam`), `user_id`, `fields`
//!   with expansion (`messages.limit(5){id,message,from,to}`, default fields `id,updated_time`),
//!   `limit` (default 25, clamped to [`EmulatorConfig::max_limit`]), `after`/`before`;
//!   `since`/`until` → `(#100)`; `summary`, `pretty` ignored.
//! - `GET /{version}/{conversation-id}` (default fields `id,updated_time` — **UNCONFIRMED**),
//!   `GET /{version}/{conversation-id}/messages` (default fields `id,created_time`),
//!   `GET /{version}/{message-id}` (default `id,created_time`), `GET /{version}/{page-id}`.
//! - `GET /{version}/me/accounts` with a user token ([`Accounts`]): the Pages it manages, `fields`
//!   from `id,name,access_token,category,tasks,instagram_business_account` (default
//!   `access_token,category,name,id,tasks`), `limit` clamped to [`Accounts::per_page`],
//!   `after`/`before` cursors and absolute `paging.next` links as on the conversations edge.
//!   A Page token there answers `(#100)` "nonexisting field (accounts) on node type (Page)".
//! - `/__emulator/ground_truth` (NDJSON, filters `page_id`, `platform`, `folder`),
//!   `/__emulator/stats` (JSON), `POST /__emulator/mutate` (a [`Mutation`] as JSON),
//!   `/__emulator/health`. No token needed.
//!
//! # Behaviour worth knowing (decisions where Graph's behaviour is **UNCONFIRMED**)
//! - Output is Graph's: requested fields in request order, `id` always (appended last when not
//!   requested), `unread_count` omitted when 0, `name`/`wallpaper` sometimes `null`, some
//!   threads carry an unrequested `ad_id` field, non-ASCII as `\uXXXX` (surrogate pairs),
//!   `/` as `\/`, times as `2026-11-20T09:28:50+0000`.
//! - Paging: `cursors` whenever `data` is non-empty (also on the last page), `previous` when
//!   not on the first page, `next` only when more threads exist. Links are absolute URLs on
//!   the emulator's origin with `access_token` (only when it came as a query parameter —
//!   a header token is not echoed), `pretty=0`, the original parameters, `limit`, `after`/`before`.
//!   `appsecret_proof`/`appsecret_time` are never echoed: compute them per request.
//! - Only the newest 20 messages have details. Older messages appear in `messages` with only
//!   `id` and `created_time`, and `GET /{message-id}` for them answers the generic
//!   `(#100)`/subcode 33 "Unsupported get request" GraphMethodException (HTTP 400).
//! - `subject` exists for versions before v23.0 (always `null`); from v23.0 it is a
//!   nonexisting field, as in the SDK.
//! - A cursor the emulator did not issue answers `(#100) The parameter after is not a valid cursor`.
//! - The rate limiter is a per-page token bucket on every Graph route; usage headers report
//!   bucket fill (percent) and `estimated_time_to_regain_access: 0` (recovery is sub-second).
//!   Without a limit, usage is computed against 1000 calls/s and capped at 80 %.
//! - Faults fire per *unit* request counter (see [`Trigger`]), so a run is reproducible.
//!
//! # Tokens
//! [`DEMO_TOKEN`] reads everything. [`EXPIRED_TOKEN`] → 190/463, [`LOGGED_OUT_TOKEN`] →
//! 190/467, [`MESSENGER_ONLY_TOKEN`] → `(#200)` on Instagram, [`NO_MESSAGING_TOKEN`] →
//! `(#230)` on Messenger, [`FIRST_PAGE_TOKEN`] → `(#10)` on other pages; anything else → 190.
//! [`USER_TOKEN`] (and [`DEMO_TOKEN`]) list every Page on `/me/accounts`, each with its
//! [`page_token`], which reads only its own Page (others → `(#10)`); a user token that is
//! not also in [`EmulatorConfig::tokens`] cannot read conversations (`(#210)`).
//! [`EXPIRED_USER_TOKEN`] → 190/463.

pub mod cli;
mod config;
mod data;
mod error;
mod fields;
mod limit;
mod render;
mod server;
mod truth;
mod util;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    ALL_TASKS, Accounts, DEFAULT_ACCOUNTS_PER_PAGE, EXPIRED_USER_TOKEN, TASKS_WITHOUT_MESSAGING,
    USER_TOKEN, UserGrant, page_token,
};
pub use config::{
    DEFAULT_HEAVY_THRESHOLD, DEFAULT_LIMIT, DEFAULT_MAX_LIMIT, DEFAULT_MESSAGES_PER_THREAD,
    DEFAULT_PAGES, DEFAULT_SEED, DEFAULT_THREADS_PER_UNIT, DEFAULT_VERSION, DEMO_TOKEN,
    DETAIL_MESSAGES, EXPIRED_TOKEN, EmulatorConfig, ErrorFault, FIRST_PAGE_TOKEN, Faults,
    InjectedError, LOGGED_OUT_TOKEN, Latency, LimiterModel, MESSENGER_ONLY_TOKEN, MessageCount,
    NO_MESSAGING_TOKEN, PERM_INSTAGRAM_MANAGE_MESSAGES, PERM_PAGES_MESSAGING, ThreadCount,
    ThrottleCode, TokenGrant, TokenStatus, Trigger, TruncateMode, default_tokens,
};
pub use data::{Folder, Platform, page_id};
pub use truth::{GroundTruth, Mutation, PageStats, Stats, TruthThread};
pub use util::{GraphFormatter, to_graph_json};

/// `hex(HMAC-SHA256(key = app_secret, msg))` — the `appsecret_proof` of a token (`msg` =
/// the token, or `"<token>|<appsecret_time>"`).
pub fn appsecret_proof(app_secret: &str, msg: &str) -> String {
    server::appsecret_proof(app_secret, msg)
}

/// Starts an emulator on `127.0.0.1:{config.port}` (0 = ephemeral) in the current tokio
/// runtime. It serves until [`RunningEmulator::shutdown`] or until the handle is dropped.
pub async fn start(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let base_url = config
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{addr}"));
    let shared = Arc::new(server::Shared::new(config, base_url.clone()));
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(server::accept_loop(listener, shared.clone(), rx));
    Ok(RunningEmulator {
        base_url,
        addr,
        shared,
        shutdown: tx,
        task,
    })
}

/// A running emulator. Dropping it stops the server too.
pub struct RunningEmulator {
    base_url: String,
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT` (no trailing slash), or `config.public_url`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.cfg
    }

    /// Page ids: `104857600000001`, `104857600000002`, …
    pub fn page_ids(&self) -> Vec<String> {
        self.shared.ds.page_ids.clone()
    }

    /// Every thread that exists now (mutations included), with every field and message.
    /// Materialises the whole dataset: for very large datasets stream
    /// `GET /__emulator/ground_truth` instead.
    pub fn ground_truth(&self) -> GroundTruth {
        let overlay = self
            .shared
            .overlay
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        truth::build(&self.shared.ds, &overlay)
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .stats
            .clone()
    }

    /// Applies a mutation and returns the affected conversation ids (the new ids for
    /// [`Mutation::NewThreads`]; empty when the page or thread does not exist).
    pub fn mutate(&self, m: Mutation) -> Vec<String> {
        self.shared.mutate(m)
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }
}
