//! # source-graph-conversations
//!
//! The `graph_conversations` source: Facebook Page and Instagram conversations from the Graph
//! API edge `GET /{version}/{page-id}/conversations`, as Arrow batches in the canonical
//! conversation schema ([`tributary_core::canonical`]).
//!
//! ```toml
//! [sources.pages]
//! type         = "graph_conversations"
//! pages        = ["104857600000001", { id = "104857600000002", access_token = "${TOKEN_B}" }]
//! access_token = "${FB_PAGE_TOKEN}"
//! app_secret   = "${FB_APP_SECRET:-}"         # optional: adds appsecret_proof
//! platforms    = ["messenger", "instagram"]
//! folders      = ["inbox", "other", "page_done", "spam"]
//! messages     = { max = 20, fields = ["id", "created_time", "from", "to", "message"] }
//!
//! [sinks.console]
//! type   = "stdout"
//! inputs = ["pages"]
//! ```
//!
//! The one design decision to know: **work is split into units — (page, platform, folder) —
//! read concurrently, while the API pages of one unit are read in order, and every Page has one
//! adaptive rate controller shared by all its units** ([`client::pacing`]): calls go out a
//! little under the configured rate (2/s by default), never more than that in any rolling
//! window, a throttle cuts the Page's rate and it climbs back CUBIC-style, and sustained high
//! usage headers slow the Page before Graph throttles it. A normal run therefore never hits a
//! throttle, and a stricter limiter than configured is learned after one.

//! Other decisions, written down here because the Graph API leaves them open:
//! - Messenger and Instagram units of one Page share that Page's schedule (Meta documents a
//!   separate 2/s for the Instagram account; sharing can never throttle, at worst it is slower).
//! - `paging.next` is followed as given (credentials stripped and re-added at send time), only
//!   to the configured origin, until it is absent; empty pages are normal; a repeated `next` is
//!   an error. A thread seen twice in a run is emitted again only if its `updated_time` is newer.
//!   A duplicate means the listing moved under the walk, so the unit re-reads its newest threads
//!   (down to where the pass started) to pick up threads that jumped to the top.
//! - Errors are classified by `error.code`, never by HTTP status (throttles are HTTP 400).
//!   Transient errors, throttles, cut bodies and reset connections are retried with jittered
//!   exponential backoff (`max_retries` per request); "reduce the amount of data" halves the
//!   page size; auth and permission errors end the run at once with what to do.
//! - Usage headers: `estimated_time_to_regain_access` pauses the Page; Page usage
//!   (`X-Business-Use-Case-Usage`, `X-Page-Usage`) that stays at 80 % or more scales the Page's
//!   rate down, and app usage (`X-App-Usage`) that stays at 85 % / 95 % pauses every Page for
//!   2 / 10 minutes (Airbyte's thresholds) — every wait capped by `max_backoff_secs` so a
//!   misreported value cannot stall a run for hours.
//! - Tokens and the app secret are `SecretString`s; `access_token` and `appsecret_proof` never
//!   appear in a kept URL, a log line or an error ([`client::secure`]). `http://` is refused
//!   except to loopback; redirects are not followed.
//! - `id` and `updated_time` are always requested (dedupe and watermarks need them); columns
//!   the user did not request are written as null.
//! - Unknown keys of a thread go to `extra_json` byte-exact. Unknown keys inside participants
//!   and messages are kept on the typed client structs (`extra`) but have no column, so
//!   `messages.fields` only accepts fields that do.
//! - Incremental mode: [`client::ConversationsRequest::stop_at`] takes per-unit watermarks and
//!   [`client::ConversationPages::watermarks`] reports the new ones for units read to the end.
//!   The plugin reads the stored watermarks from the run's checkpoint (`[pipeline] state`) under
//!   the unit key `"<page_id>/<platform>/<folder>"` and records new ones for units read to the
//!   end, in both modes (a `full` run leaves watermarks an incremental run can start from); see
//!   `Incremental` in `source/incremental.rs` for the exactly-once rule at the watermark.
//!
//! - `pages = "all"`: the Pages come from `GET /me/accounts` (every `paging.next`) with the
//!   configured user or system-user token, at `open`/`check` time (build stays pure, so
//!   `validate` works offline). Each Page is read with the Page token the listing returns
//!   (a `SecretString` from the moment it is decoded) and gets its own pacer, as a listed Page
//!   does; `exclude_pages` and `require_tasks` (default `MESSAGING`) narrow the list, skipped
//!   Pages are named in one warning, and `--shard` takes its hash share of what is left. The
//!   listing itself is retried like any call, one request at a time, without the per-Page
//!   rate ceiling (it is no Page's call); throttles pause it and the app-wide gate applies.
//!   `instagram_business_account` is requested and logged at debug level only: Instagram
//!   threads are read on the Page id with `platform=instagram`, as for listed Pages.
//!
//! The typed client ([`client::GraphClient`]) works without the plugin, for library use.

pub mod client;
pub mod columns;
pub mod config;
pub mod source;

use std::sync::Arc;

use tributary_core::BuildError;
use tributary_core::plugin::{BuildContext, Source, SourcePlugin};

pub use config::GraphConversationsConfig;
pub use source::GraphConversationsSource;

/// `type = "graph_conversations"`.
#[derive(Debug)]
pub struct GraphConversations;

impl SourcePlugin for GraphConversations {
    const NAME: &'static str = "graph_conversations";
    const DESCRIPTION: &'static str = "Facebook Page and Instagram conversations from the Graph API (GET /{page-id}/conversations)";
    type Config = GraphConversationsConfig;

    fn build(config: Self::Config, ctx: &BuildContext) -> Result<Box<dyn Source>, BuildError> {
        Ok(Box::new(build_source(config, ctx)?))
    }
}

/// Builds the typed source (what [`GraphConversations::build`] boxes). No I/O.
pub fn build_source(
    config: GraphConversationsConfig,
    ctx: &BuildContext,
) -> Result<GraphConversationsSource, BuildError> {
    let v = config.validate()?;
    let metrics = Arc::new(client::SourceMetrics::default());
    let mut options = v.options;
    options.metrics = Some(metrics.clone());
    Ok(GraphConversationsSource {
        id: ctx.id.clone(),
        base_url: v.base_url,
        options,
        columns: source::Columns::new(&v.fields, v.messages_requested),
        request: v.request,
        platforms: v.platforms,
        folders: v.folders,
        mode: v.mode,
        discovery: v.discovery,
        concurrency: v.concurrency,
        metrics,
    })
}
