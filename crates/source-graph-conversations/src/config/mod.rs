//! [`GraphConversationsConfig`]: the `[sources.ID]` table of `type = "graph_conversations"`.
//!
//! Deserialization only checks shapes; [`GraphConversationsConfig::validate`] checks meaning
//! (names, ranges, the 20-message cap) and turns the table into client options, without I/O.

mod pages;

use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tributary_core::{BuildError, suggest};

use crate::client::{
    self, DEFAULT_MESSAGE_FIELDS, DEFAULT_THREAD_FIELDS, Folder, KNOWN_MESSAGE_FIELDS,
    KNOWN_THREAD_FIELDS, MAX_DETAILED_MESSAGES, Platform,
};

pub(crate) use pages::is_page_id;
pub use pages::{PageEntry, PageWithToken, Pages};
use pages::{PagesSchema, page_accesses, read_pages_file};

/// Default `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// `base_url` value that starts the Graph emulator in-process (demo).
pub const EMBEDDED: &str = "embedded";
/// Default `api_version` (the current version in Meta's docs and SDKs, November 2026).
pub const DEFAULT_API_VERSION: &str = client::DEFAULT_API_VERSION;
/// Default `page_size` (Graph's own default).
pub const DEFAULT_PAGE_SIZE: u32 = client::DEFAULT_PAGE_SIZE;
/// Default `requests_per_second_per_page` (Meta: 2 calls/second per Page).
pub const DEFAULT_REQUESTS_PER_SECOND_PER_PAGE: f64 = client::DEFAULT_REQUESTS_PER_SECOND_PER_PAGE;
/// Default `max_retries`.
pub const DEFAULT_MAX_RETRIES: u32 = client::DEFAULT_MAX_RETRIES;
/// Default `min_backoff_ms`.
pub const DEFAULT_MIN_BACKOFF_MS: u64 = 500;
/// Default `max_backoff_secs`.
pub const DEFAULT_MAX_BACKOFF_SECS: f64 = 600.0;
/// Default `timeout_secs`.
pub const DEFAULT_TIMEOUT_SECS: f64 = 60.0;
/// Default `messages.max`.
pub const DEFAULT_MESSAGES_MAX: usize = MAX_DETAILED_MESSAGES;
/// Units in flight per configured Page when `concurrency` is not set (two keep a Page at its
/// rate even when a response takes longer than the interval between calls)...
pub const DEFAULT_UNITS_PER_PAGE: usize = client::DEFAULT_UNITS_PER_PAGE;
/// ...capped at this many (each unit in flight holds one HTTP connection; the per-Page rate,
/// not this cap, is what limits a run).
pub const DEFAULT_MAX_CONCURRENCY: usize = client::DEFAULT_MAX_CONCURRENCY;
/// Token used for `base_url = "embedded"` when no `access_token` is given.
pub const EMBEDDED_TOKEN: &str = "demo-token";

/// Reads Facebook Page and Instagram conversations from the Graph API
/// (`GET /{version}/{page-id}/conversations`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphConversationsConfig {
    /// Graph API origin. Default `https://graph.facebook.com`. `"embedded"` starts the Graph
    /// emulator in-process (demo; token `demo-token`). Plain `http://` is refused except to
    /// 127.0.0.1, ::1 or localhost.
    #[serde(default = "default_base_url")]
    #[schemars(default = "default_base_url")]
    pub base_url: String,

    /// Graph API version in the path, like `v25.0`. Default `v25.0`.
    #[serde(default = "default_api_version")]
    #[schemars(default = "default_api_version")]
    pub api_version: String,

    /// Pages to read: ids sharing `access_token` (`["1049..."]`), or tables with their own
    /// token (`[{ id = "1049...", access_token = "${TOKEN_A}" }]`), or a mix; or `"all"`:
    /// every Page `GET /me/accounts` lists for `access_token` (a user or system-user token),
    /// each read with the Page token it returns. Listed at run time (`run`, `check`).
    #[serde(default)]
    #[schemars(with = "PagesSchema")]
    pub pages: Pages,

    /// With `pages = "all"`: Page ids not to read.
    #[serde(default)]
    pub exclude_pages: Vec<String>,

    /// With `pages = "all"`: tasks the token's person must have on a Page (as `/me/accounts`
    /// lists them); other Pages are skipped with one warning naming them. Default
    /// `["MESSAGING"]` (reading conversations needs it); `[]` reads every listed Page.
    #[serde(default)]
    #[schemars(with = "Vec<String>", default = "default_require_tasks")]
    pub require_tasks: Option<Vec<String>>,

    /// A file listing more Page ids (sharing `access_token`), for lists too long for TOML: one
    /// id per line, or a CSV whose header has an `id` or `page_id` column. Blank lines and lines
    /// starting with `#` are ignored. Relative paths are relative to the working directory.
    /// Read when the pipeline is loaded.
    #[serde(default)]
    pub pages_file: Option<String>,

    /// Page access token used for every page listed without its own; with `pages = "all"`,
    /// the user or system-user token whose Pages are read. Use `${ENV_VAR}`; never printed.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub access_token: Option<SecretString>,

    /// App secret: when set and not empty, every request carries `appsecret_proof`. Empty
    /// means none (so `"${FB_APP_SECRET:-}"` works). Never printed.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub app_secret: Option<SecretString>,

    /// Platforms to list: `messenger`, `instagram`. Default both.
    #[serde(default = "default_platforms")]
    #[schemars(default = "default_platforms")]
    pub platforms: Vec<String>,

    /// Folders to list: `inbox`, `other`, `page_done`, `spam`. Default all four.
    #[serde(default = "default_folders")]
    #[schemars(default = "default_folders")]
    pub folders: Vec<String>,

    /// Only the conversation with this person (Page-scoped or Instagram-scoped id), as the
    /// Graph API's `user_id` parameter.
    #[serde(default)]
    pub user_id: Option<String>,

    /// Conversation fields to request. Default: every column of the canonical schema except
    /// `subject` (gone since v23.0). `folder`, `is_owner`, `linked_group` land in `extra_json`.
    /// Fields not requested are null.
    #[serde(default = "default_fields")]
    #[schemars(default = "default_fields")]
    pub fields: Vec<String>,

    /// Newest messages per thread, e.g. `{ max = 20, fields = ["id", "message"] }`. Absent:
    /// no messages (the `messages` column is null). Graph serves message details only for the
    /// 20 newest messages of a thread, so `max` is at most 20.
    #[serde(default)]
    pub messages: Option<MessagesConfig>,

    /// Threads per API request (`limit`). Default 25. Halved automatically when Graph answers
    /// "reduce the amount of data".
    #[serde(default = "default_page_size")]
    #[schemars(default = "default_page_size")]
    pub page_size: u32,

    /// Work units — (page, platform, folder) — read at once. Default: 2 per page, at most 2,048
    /// (so every Page can be kept at its rate limit; memory stays bounded by the sinks'
    /// backpressure, as a unit holds at most one response).
    #[serde(default)]
    pub concurrency: Option<usize>,

    /// Calls per second per Page, shared by all its units (Messenger and Instagram included).
    /// Default 2.0, Meta's limit for the Conversations API; `0` disables pacing.
    #[serde(default = "default_rps")]
    #[schemars(default = "default_rps")]
    pub requests_per_second_per_page: f64,

    /// `full` reads everything; `incremental` reads only what changed since the stored
    /// watermarks (needs `[pipeline] state`). Default `full`.
    #[serde(default)]
    pub mode: Mode,

    /// Retries per request for transient errors, throttles and broken connections. Default 8.
    #[serde(default = "default_max_retries")]
    #[schemars(default = "default_max_retries")]
    pub max_retries: u32,

    /// First retry wait in milliseconds, doubled per attempt with jitter (throttles start 4x
    /// higher). Default 500.
    #[serde(default = "default_min_backoff_ms")]
    #[schemars(default = "default_min_backoff_ms")]
    pub min_backoff_ms: u64,

    /// Cap on any single wait in seconds: a retry backoff, a throttle pause, a usage-header
    /// pause or Graph's `estimated_time_to_regain_access`. Default 600.
    #[serde(default = "default_max_backoff_secs")]
    #[schemars(default = "default_max_backoff_secs")]
    pub max_backoff_secs: f64,

    /// Timeout of one HTTP request in seconds. Default 60.
    #[serde(default = "default_timeout_secs")]
    #[schemars(default = "default_timeout_secs")]
    pub timeout_secs: f64,

    /// Ask Graph for gzip-compressed responses (`Accept-Encoding: gzip`): list pages are JSON
    /// with most text `\uXXXX`-escaped, and arrive 5-14x smaller (the emulator's pages), for
    /// under a microsecond of CPU a thread to inflate them. Turn off only where bandwidth is free and CPU is not (a local emulator). Default
    /// true.
    #[serde(default = "default_true")]
    #[schemars(default = "default_true")]
    pub gzip: bool,

    /// Fail a unit that needs more API pages than this (a guard against runaway paging).
    /// Default: no limit (a repeated `next` link is detected anyway).
    #[serde(default)]
    pub max_pages_per_unit: Option<u64>,
}

/// Page tasks Meta lists on `/me/accounts`.
pub const KNOWN_TASKS: &[&str] = &[
    "ADVERTISE",
    "ANALYZE",
    "CREATE_CONTENT",
    "MESSAGING",
    "MODERATE",
    "MANAGE",
];

/// Default `require_tasks`.
pub const DEFAULT_REQUIRE_TASKS: &[&str] = &["MESSAGING"];

fn default_require_tasks() -> Option<Vec<String>> {
    Some(
        DEFAULT_REQUIRE_TASKS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
}

/// `pages = "all"`: what to list and how to narrow it (checked, no I/O yet).
#[derive(Debug, Clone)]
pub(crate) struct Discovery {
    /// The user or system-user token.
    pub token: SecretString,
    /// Page ids not to read.
    pub exclude: Vec<String>,
    /// Tasks a Page must list to be read (uppercase).
    pub require_tasks: Vec<String>,
}

/// `messages = { max = 20, fields = [...] }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagesConfig {
    /// Newest messages per thread, 1 to 20. Default 20.
    #[serde(default = "default_messages_max")]
    #[schemars(default = "default_messages_max")]
    pub max: usize,
    /// Message fields: `id`, `created_time`, `from`, `to`, `message`, `sticker`, `tags`,
    /// `attachments`. Default `id`, `created_time`, `from`, `to`, `message`.
    #[serde(default = "default_message_fields")]
    #[schemars(default = "default_message_fields")]
    pub fields: Vec<String>,
}

/// `mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Read everything.
    #[default]
    Full,
    /// Read only threads at or after the stored per-unit watermarks.
    Incremental,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.into()
}
fn default_api_version() -> String {
    DEFAULT_API_VERSION.into()
}
fn default_platforms() -> Vec<String> {
    Platform::ALL
        .iter()
        .map(|p| p.as_str().to_string())
        .collect()
}
fn default_folders() -> Vec<String> {
    Folder::ALL.iter().map(|f| f.as_str().to_string()).collect()
}
fn default_fields() -> Vec<String> {
    DEFAULT_THREAD_FIELDS
        .iter()
        .map(|s| s.to_string())
        .collect()
}
fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}
fn default_rps() -> f64 {
    DEFAULT_REQUESTS_PER_SECOND_PER_PAGE
}
fn default_max_retries() -> u32 {
    DEFAULT_MAX_RETRIES
}
fn default_min_backoff_ms() -> u64 {
    DEFAULT_MIN_BACKOFF_MS
}
fn default_max_backoff_secs() -> f64 {
    DEFAULT_MAX_BACKOFF_SECS
}
fn default_true() -> bool {
    true
}

fn default_timeout_secs() -> f64 {
    DEFAULT_TIMEOUT_SECS
}
fn default_messages_max() -> usize {
    DEFAULT_MESSAGES_MAX
}
fn default_message_fields() -> Vec<String> {
    DEFAULT_MESSAGE_FIELDS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A checked configuration, ready to run.
#[derive(Debug)]
pub(crate) struct Validated {
    /// `None` for `embedded`.
    pub base_url: Option<String>,
    pub options: client::ClientOptions,
    pub request: client::ConversationsRequest,
    pub platforms: Vec<Platform>,
    pub folders: Vec<Folder>,
    /// Requested thread fields (decides which columns are filled).
    pub fields: Vec<String>,
    pub messages_requested: bool,
    pub mode: Mode,
    /// `pages = "all"`: Pages are listed at run time.
    pub discovery: Option<Discovery>,
    /// `concurrency` as configured (`None`: from the number of Pages, known at run time for
    /// `pages = "all"`).
    pub concurrency: Option<usize>,
}

impl GraphConversationsConfig {
    /// Checks everything that can be checked without I/O.
    pub(crate) fn validate(mut self) -> Result<Validated, BuildError> {
        let embedded = self.base_url == EMBEDDED;
        self.check_endpoint(embedded)?;
        let platforms = parse_names(
            &self.platforms,
            "platforms",
            Platform::parse,
            &["messenger", "instagram"],
        )?;
        let folders = parse_names(
            &self.folders,
            "folders",
            Folder::parse,
            &["inbox", "other", "page_done", "spam"],
        )?;
        self.check_fields()?;
        let messages = self.messages_request()?;
        self.check_limits()?;

        let shared = self
            .access_token
            .take()
            .filter(|t| !t.expose_secret().is_empty())
            .or_else(|| embedded.then(|| SecretString::from(EMBEDDED_TOKEN)));
        let (discovery, listed) = self.listed_pages(shared.clone())?;
        let pages = page_accesses(listed, shared)?;

        let options = self.client_options(embedded);
        let request = self.conversations_request(pages, &platforms, &folders, messages);
        Ok(Validated {
            base_url: (!embedded).then_some(self.base_url),
            options,
            messages_requested: request.messages.is_some(),
            request,
            platforms,
            folders,
            fields: self.fields,
            mode: self.mode,
            discovery,
            concurrency: self.concurrency,
        })
    }

    /// The origin must be safe to send tokens to and the version must fit in a URL path, or
    /// every request would fail the same way at run time.
    fn check_endpoint(&self, embedded: bool) -> Result<(), BuildError> {
        if !embedded {
            client::secure::check_base_url(&self.base_url)
                .map_err(|m| BuildError::at("base_url", m))?;
        }
        let version_ok = {
            let mut o = client::ClientOptions::new(DEFAULT_BASE_URL);
            o.api_version = self.api_version.clone();
            client::GraphClient::new(o).is_ok()
        };
        if !version_ok {
            return Err(BuildError::at(
                "api_version",
                format!("`{}` is not a Graph API version", self.api_version),
            )
            .with_help("use a version like `v25.0`"));
        }
        Ok(())
    }

    /// Thread fields must be ones with a column; `messages` has its own table.
    fn check_fields(&self) -> Result<(), BuildError> {
        if self.fields.is_empty() {
            return Err(BuildError::at("fields", "no fields requested")
                .with_help("remove `fields` to get the default set"));
        }
        for f in &self.fields {
            if f == "messages" {
                return Err(
                    BuildError::at("fields", "`messages` is not set through `fields`")
                        .with_help("use `messages = { max = 20, fields = [\"id\", \"message\"] }`"),
                );
            }
            check_known(f, KNOWN_THREAD_FIELDS, "fields", "a UnifiedThread field")?;
        }
        Ok(())
    }

    /// `messages`, within what Graph serves (the 20 newest, fields with a column).
    fn messages_request(&self) -> Result<Option<client::MessagesRequest>, BuildError> {
        let Some(m) = &self.messages else {
            return Ok(None);
        };
        if m.max == 0 || m.max > MAX_DETAILED_MESSAGES {
            return Err(BuildError::at(
                "messages.max",
                format!("{} is out of range: 1 to {MAX_DETAILED_MESSAGES}", m.max),
            )
            .with_help(
                "the Graph API serves message details only for the 20 newest messages of a \
                 conversation; older ones cannot be read through this edge",
            ));
        }
        if m.fields.is_empty() {
            return Err(BuildError::at(
                "messages.fields",
                "no message fields requested",
            ));
        }
        for f in &m.fields {
            check_known(
                f,
                KNOWN_MESSAGE_FIELDS,
                "messages.fields",
                "a message field with a column",
            )?;
        }
        Ok(Some(client::MessagesRequest {
            max: m.max,
            fields: m.fields.clone(),
        }))
    }

    /// Numbers the client would choke on (a zero page, a negative rate, a non-finite wait)
    /// and an empty `user_id` are refused here, with the key named.
    fn check_limits(&self) -> Result<(), BuildError> {
        if self.page_size == 0 {
            return Err(BuildError::at("page_size", "must be at least 1"));
        }
        if !(self.requests_per_second_per_page.is_finite()
            && self.requests_per_second_per_page >= 0.0)
        {
            return Err(BuildError::at(
                "requests_per_second_per_page",
                "must be a number >= 0 (0 disables pacing)",
            ));
        }
        if self.concurrency == Some(0) {
            return Err(BuildError::at("concurrency", "must be at least 1"));
        }
        for (key, v) in [
            ("max_backoff_secs", self.max_backoff_secs),
            ("timeout_secs", self.timeout_secs),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(BuildError::at(key, "must be a positive number of seconds"));
            }
        }
        if let Some(user) = &self.user_id
            && user.trim().is_empty()
        {
            return Err(BuildError::at("user_id", "is empty"));
        }
        Ok(())
    }

    /// Either `pages = "all"` (with what narrows it) or the Pages listed in `pages` and
    /// `pages_file`; the keys of one form are refused with the other.
    fn listed_pages(
        &mut self,
        shared: Option<SecretString>,
    ) -> Result<(Option<Discovery>, Vec<PageEntry>), BuildError> {
        let (discovery, mut listed) = match std::mem::take(&mut self.pages) {
            Pages::All => (Some(self.discovery(shared)?), Vec::new()),
            Pages::List(list) => {
                if !self.exclude_pages.is_empty() {
                    return Err(BuildError::at(
                        "exclude_pages",
                        "`exclude_pages` applies to `pages = \"all\"` only",
                    )
                    .with_help("remove the Pages from `pages` instead"));
                }
                if self.require_tasks.is_some() {
                    return Err(BuildError::at(
                        "require_tasks",
                        "`require_tasks` applies to `pages = \"all\"` only",
                    )
                    .with_help("remove it: listed Pages are read with the tokens given"));
                }
                (None, list)
            }
        };
        if let Some(path) = &self.pages_file {
            listed.extend(read_pages_file(path)?.into_iter().map(PageEntry::Id));
        }
        if listed.is_empty() && discovery.is_none() {
            return Err(BuildError::at("pages", "no pages to read").with_help(
                "list Page ids, e.g. pages = [\"104857600000001\"], or name a `pages_file`",
            ));
        }
        Ok((discovery, listed))
    }

    /// The client's options: origin, version, credentials, pacing, retries, timeout.
    fn client_options(&mut self, embedded: bool) -> client::ClientOptions {
        let mut options = client::ClientOptions::new(if embedded {
            DEFAULT_BASE_URL.to_string()
        } else {
            self.base_url.clone()
        });
        options.api_version = std::mem::take(&mut self.api_version);
        options.app_secret = self
            .app_secret
            .take()
            .filter(|s| !s.expose_secret().is_empty());
        options.requests_per_second_per_page = self.requests_per_second_per_page;
        options.retry = client::RetryPolicy {
            max_retries: self.max_retries,
            min_backoff: std::time::Duration::from_millis(self.min_backoff_ms),
            max_backoff: std::time::Duration::from_secs_f64(self.max_backoff_secs),
        };
        options.timeout = std::time::Duration::from_secs_f64(self.timeout_secs);
        options.gzip = self.gzip;
        options
    }

    /// What to read: the Pages with the platforms, folders, fields and paging settings.
    fn conversations_request(
        &mut self,
        pages: Vec<client::PageAccess>,
        platforms: &[Platform],
        folders: &[Folder],
        messages: Option<client::MessagesRequest>,
    ) -> client::ConversationsRequest {
        let concurrency = self.concurrency.unwrap_or_else(|| {
            (pages.len() * DEFAULT_UNITS_PER_PAGE).clamp(1, DEFAULT_MAX_CONCURRENCY)
        });
        let mut request = client::ConversationsRequest::new(pages);
        request.platforms = platforms.to_vec();
        request.folders = folders.to_vec();
        request.user_id = self.user_id.take();
        request.fields = self.fields.clone();
        request.messages = messages;
        request.page_size = self.page_size;
        request.concurrency = concurrency;
        request.max_pages_per_unit = self.max_pages_per_unit;
        request
    }

    /// `pages = "all"`: checks the keys that narrow it.
    fn discovery(&self, token: Option<SecretString>) -> Result<Discovery, BuildError> {
        if self.pages_file.is_some() {
            return Err(BuildError::at(
                "pages_file",
                "`pages_file` cannot be combined with `pages = \"all\"`",
            )
            .with_help("remove one of them"));
        }
        let Some(token) = token else {
            return Err(BuildError::at(
                "access_token",
                "`pages = \"all\"` needs the user or system-user token whose Pages to read",
            )
            .with_help(
                "set `access_token = \"${FB_USER_TOKEN}\"`: each Page's own token comes from \
                 GET /me/accounts",
            ));
        };
        for (i, id) in self.exclude_pages.iter().enumerate() {
            if !is_page_id(id) {
                return Err(BuildError::at(
                    format!("exclude_pages[{i}]"),
                    format!("`{id}` is not a Page id"),
                ));
            }
        }
        let mut require_tasks = Vec::new();
        for t in self.require_tasks.clone().unwrap_or_else(|| {
            DEFAULT_REQUIRE_TASKS
                .iter()
                .map(|s| s.to_string())
                .collect()
        }) {
            let upper = t.to_ascii_uppercase();
            if !KNOWN_TASKS.contains(&upper.as_str()) {
                let e = BuildError::at("require_tasks", format!("`{t}` is not a Page task"));
                return Err(match suggest(&upper, KNOWN_TASKS.iter().copied()) {
                    Some(s) => e.with_help(format!("did you mean `{s}`?")),
                    None => e.with_help(format!("known: {}", KNOWN_TASKS.join(", "))),
                });
            }
            if !require_tasks.contains(&upper) {
                require_tasks.push(upper);
            }
        }
        Ok(Discovery {
            token,
            exclude: self.exclude_pages.clone(),
            require_tasks,
        })
    }
}

fn parse_names<T: PartialEq>(
    names: &[String],
    key: &str,
    parse: fn(&str) -> Option<T>,
    valid: &[&str],
) -> Result<Vec<T>, BuildError> {
    if names.is_empty() {
        return Err(BuildError::at(key, "is empty")
            .with_help(format!("valid values: {}", valid.join(", "))));
    }
    let mut out = Vec::new();
    for n in names {
        let Some(v) = parse(n) else {
            let mut e = BuildError::at(key, format!("unknown value `{n}`"));
            e = match suggest(n, valid.iter().copied()) {
                Some(s) => e.with_help(format!(
                    "did you mean `{s}`? valid values: {}",
                    valid.join(", ")
                )),
                None => e.with_help(format!("valid values: {}", valid.join(", "))),
            };
            return Err(e);
        };
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

fn check_known(name: &str, known: &[&str], key: &str, what: &str) -> Result<(), BuildError> {
    if known.contains(&name) {
        return Ok(());
    }
    let e = BuildError::at(key, format!("`{name}` is not {what}"));
    Err(match suggest(name, known.iter().copied()) {
        Some(s) => e.with_help(format!("did you mean `{s}`?")),
        None => e.with_help(format!("known: {}", known.join(", "))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<GraphConversationsConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    #[test]
    fn minimal_config_gets_the_documented_defaults() {
        let c = parse(
            r#"pages = ["1"]
access_token = "t""#,
        )
        .unwrap();
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.api_version, "v25.0");
        assert_eq!(c.page_size, 25);
        assert_eq!(c.requests_per_second_per_page, 2.0);
        assert_eq!(c.mode, Mode::Full);
        let v = c.validate().unwrap();
        assert_eq!(v.platforms, Platform::ALL.to_vec());
        assert_eq!(v.folders, Folder::ALL.to_vec());
        assert_eq!(v.request.concurrency, 2);
        assert!(v.options.app_secret.is_none());
    }

    #[test]
    fn unknown_key_is_rejected() {
        let err = parse("pages = [\"1\"]\npage_sise = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("page_sise"), "{err}");
    }

    #[test]
    fn pages_mix_ids_and_tables_with_their_own_tokens() {
        let c = parse(
            r#"pages = ["1", { id = "2", access_token = "own" }]
access_token = "shared"
app_secret = ""
mode = "incremental"
messages = { max = 5 }"#,
        )
        .unwrap();
        let v = c.validate().unwrap();
        let tokens: Vec<_> = v
            .request
            .pages
            .iter()
            .map(|p| p.access_token.expose_secret().to_string())
            .collect();
        assert_eq!(tokens, ["shared", "own"]);
        assert!(
            v.options.app_secret.is_none(),
            "an empty app_secret means none"
        );
        assert_eq!(v.mode, Mode::Incremental);
        assert_eq!(v.request.messages.as_ref().map(|m| m.max), Some(5));
    }

    #[test]
    fn typos_get_a_suggestion() {
        let e = parse("pages=[\"1\"]\naccess_token=\"t\"\nplatforms=[\"instagarm\"]")
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("platforms"));
        assert!(e.help.unwrap().contains("did you mean `instagram`"));
        let e = parse("pages=[\"1\"]\naccess_token=\"t\"\nfields=[\"snipet\"]")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.help.unwrap().contains("did you mean `snippet`"));
    }

    #[test]
    fn more_than_20_messages_is_a_build_error_that_explains_the_cap() {
        let e = parse("pages=[\"1\"]\naccess_token=\"t\"\nmessages={max=21}")
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("messages.max"));
        assert!(e.help.unwrap().contains("20 newest messages"));
    }

    #[test]
    fn plain_http_and_missing_tokens_are_refused() {
        let e = parse("pages=[\"1\"]\naccess_token=\"t\"\nbase_url=\"http://graph.example.com\"")
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("base_url"));
        let e = parse("pages=[\"1\"]").unwrap().validate().unwrap_err();
        assert_eq!(e.key.as_deref(), Some("access_token"));
        // The embedded emulator has a demo token.
        assert!(
            parse("pages=[\"1\"]\nbase_url=\"embedded\"")
                .unwrap()
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn pages_all_is_checked_without_io_and_lists_nothing_yet() {
        let v = parse("pages = \"all\"\naccess_token = \"user\"\nexclude_pages = [\"7\"]")
            .unwrap()
            .validate()
            .unwrap();
        let d = v.discovery.expect("discovery");
        assert_eq!(d.exclude, ["7"]);
        assert_eq!(d.require_tasks, ["MESSAGING"]);
        assert!(v.request.pages.is_empty(), "listed at run time");
        assert_eq!(v.concurrency, None);
        let d = parse(
            "pages = \"all\"\naccess_token = \"u\"\nrequire_tasks = [\"moderate\", \"MODERATE\"]",
        )
        .unwrap()
        .validate()
        .unwrap()
        .discovery
        .unwrap();
        assert_eq!(d.require_tasks, ["MODERATE"]);
        // The embedded emulator's demo token is a user token too.
        assert!(
            parse("pages = \"all\"\nbase_url = \"embedded\"")
                .unwrap()
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn pages_all_mistakes_are_build_errors_at_the_right_key() {
        let err = parse("pages = \"al\"").unwrap_err().message().to_string();
        assert!(err.contains("\"all\""), "{err}");
        assert!(!err.contains("\"al\""), "the value is not echoed: {err}");
        let key = |text: &str| {
            parse(text)
                .unwrap()
                .validate()
                .unwrap_err()
                .key
                .unwrap_or_default()
        };
        assert_eq!(key("pages = \"all\""), "access_token");
        assert_eq!(
            key("pages = \"all\"\naccess_token = \"u\"\npages_file = \"p.txt\""),
            "pages_file"
        );
        assert_eq!(
            key("pages = \"all\"\naccess_token = \"u\"\nrequire_tasks = [\"MESAGING\"]"),
            "require_tasks"
        );
        assert_eq!(
            key("pages = \"all\"\naccess_token = \"u\"\nexclude_pages = [\"a/b\"]"),
            "exclude_pages[0]"
        );
        assert_eq!(
            key("pages = [\"1\"]\naccess_token = \"u\"\nexclude_pages = [\"1\"]"),
            "exclude_pages"
        );
        assert_eq!(
            key("pages = [\"1\"]\naccess_token = \"u\"\nrequire_tasks = []"),
            "require_tasks"
        );
        let e = parse("pages = \"all\"\naccess_token = \"u\"\nrequire_tasks = [\"MESAGING\"]")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.help.unwrap().contains("did you mean `MESSAGING`"));
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let c = parse(
            "pages=[{ id = \"2\", access_token = \"tok-SECRET\" }]\napp_secret=\"app-SECRET\"",
        )
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        let v = c.validate().unwrap();
        assert!(!format!("{v:?}").contains("SECRET"));
    }
}
