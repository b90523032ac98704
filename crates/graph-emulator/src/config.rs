//! [`EmulatorConfig`]: the dataset shape, tokens, limits, latency and faults of one emulator.
//!
//! Every field is public and documented; start from `EmulatorConfig::default()` and change
//! what a test needs. Nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Seed used by `EmulatorConfig::default()`.
pub const DEFAULT_SEED: u64 = 1;
/// Number of pages by default (ids `104857600000001`, `104857600000002`).
pub const DEFAULT_PAGES: usize = 2;
/// Mean number of threads per (page, platform, folder) unit by default: small, so a demo is quick.
pub const DEFAULT_THREADS_PER_UNIT: usize = 30;
/// Maximum number of messages per thread by default: more than [`DETAIL_MESSAGES`], so the
/// 20-message detail cap matters.
pub const DEFAULT_MESSAGES_PER_THREAD: usize = 25;
/// Page size when a request has no `limit` (Graph's default, also for nested `messages`).
pub const DEFAULT_LIMIT: usize = 25;
/// Largest `limit` served; larger values are clamped. **UNCONFIRMED**: Meta documents no
/// maximum for this edge; 100 is what public connectors use.
pub const DEFAULT_MAX_LIMIT: usize = 100;
/// `limit × messages.limit` above which a list request fails with code 1 "Please reduce the
/// amount of data you're asking for" (HTTP 500). With the default a client asking for
/// `limit=100` and `messages.limit(50)` succeeds after halving `limit` once.
pub const DEFAULT_HEAVY_THRESHOLD: usize = 2500;
/// Only the newest this-many messages of a thread have details (Graph's documented cap).
pub const DETAIL_MESSAGES: usize = 20;
/// The API version used for paths without a version segment.
pub const DEFAULT_VERSION: &str = "v25.0";

/// Reads every page on both platforms with every permission.
pub const DEMO_TOKEN: &str = "demo-token";
/// Answered with `190/463` "Session has expired".
pub const EXPIRED_TOKEN: &str = "expired-token";
/// Answered with `190/467` "the user logged out".
pub const LOGGED_OUT_TOKEN: &str = "logged-out-token";
/// Lacks `instagram_manage_messages`: `platform=instagram` fails with `(#200)`.
pub const MESSENGER_ONLY_TOKEN: &str = "messenger-only-token";
/// Lacks `pages_messaging`: Messenger threads fail with `(#230)`.
pub const NO_MESSAGING_TOKEN: &str = "no-messaging-token";
/// Reads only the first page: any other page fails with `(#10)`.
pub const FIRST_PAGE_TOKEN: &str = "first-page-token";
/// A user token: `GET /me/accounts` lists every Page, each with its own Page token
/// ([`page_token`]). Like on Graph, it cannot read conversations itself (`(#210)`).
pub const USER_TOKEN: &str = "user-token";
/// An expired user token: `GET /me/accounts` answers `190/463`.
pub const EXPIRED_USER_TOKEN: &str = "expired-user-token";
/// Most Pages per `GET /me/accounts` response by default (Graph's default page size).
pub const DEFAULT_ACCOUNTS_PER_PAGE: usize = 25;
/// Tasks listed for a Page whose person can do everything.
pub const ALL_TASKS: [&str; 6] = [
    "ADVERTISE",
    "ANALYZE",
    "CREATE_CONTENT",
    "MESSAGING",
    "MODERATE",
    "MANAGE",
];
/// Tasks listed for a Page in [`Accounts::without_messaging`].
pub const TASKS_WITHOUT_MESSAGING: [&str; 2] = ["ADVERTISE", "ANALYZE"];

/// The Page access token `GET /me/accounts` hands out for `page_id`. It reads only that Page
/// (any other answers `(#10)`); for a Page in [`Accounts::without_messaging`] it lacks
/// `pages_messaging` and `instagram_manage_messages`.
pub fn page_token(page_id: &str) -> String {
    format!("{PAGE_TOKEN_PREFIX}{page_id}")
}

pub(crate) const PAGE_TOKEN_PREFIX: &str = "EAAPageToken-";

/// A user (or system-user) token and what `GET /me/accounts` lists for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserGrant {
    /// Page ids listed (in this order); `None` means every Page.
    pub pages: Option<Vec<String>>,
    /// Valid, expired or logged out.
    pub status: TokenStatus,
}

/// `GET /{version}/me/accounts`: user tokens, per-Page tokens and tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accounts {
    /// User tokens and the Pages each one lists. Default: [`USER_TOKEN`] and [`DEMO_TOKEN`]
    /// list every Page, [`EXPIRED_USER_TOKEN`] is expired.
    pub users: BTreeMap<String, UserGrant>,
    /// Pages listed with [`TASKS_WITHOUT_MESSAGING`] instead of [`ALL_TASKS`]; their Page token
    /// cannot read conversations (`(#230)` on Messenger, `(#200)` on Instagram).
    pub without_messaging: BTreeSet<String>,
    /// Most Pages per response (`limit` is clamped to it).
    pub per_page: usize,
}

impl Default for Accounts {
    fn default() -> Self {
        let every = UserGrant {
            pages: None,
            status: TokenStatus::Valid,
        };
        let mut users = BTreeMap::new();
        users.insert(USER_TOKEN.to_string(), every.clone());
        users.insert(DEMO_TOKEN.to_string(), every.clone());
        users.insert(
            EXPIRED_USER_TOKEN.to_string(),
            UserGrant {
                status: TokenStatus::Expired,
                ..every
            },
        );
        Accounts {
            users,
            without_messaging: BTreeSet::new(),
            per_page: DEFAULT_ACCOUNTS_PER_PAGE,
        }
    }
}

/// The permission that Messenger threads require.
pub const PERM_PAGES_MESSAGING: &str = "pages_messaging";
/// The permission that Instagram threads require.
pub const PERM_INSTAGRAM_MANAGE_MESSAGES: &str = "instagram_manage_messages";

/// How many threads a (page, platform, folder) unit has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadCount {
    /// Exactly this many in every unit (benchmarks: `Exact(200_000)`).
    Exact(usize),
    /// A per-unit count drawn from the seed, uniform in `[n/2, n/2 + n]` (mean `n`).
    Around(usize),
}

/// How many messages a thread has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageCount {
    /// Exactly this many (at least 1) in every thread.
    Exact(usize),
    /// Drawn per thread from the seed, uniform in `1..=n`.
    UpTo(usize),
}

/// Whether a token is usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TokenStatus {
    /// Valid.
    #[default]
    Valid,
    /// Expired: `190` with subcode `463`.
    Expired,
    /// The user logged out: `190` with subcode `467`.
    LoggedOut,
}

/// What one access token may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    /// Page ids the token may read; `None` means every page. Other pages answer `(#10)`.
    pub pages: Option<Vec<String>>,
    /// Granted permissions. Only [`PERM_PAGES_MESSAGING`] (Messenger threads, else `(#230)`) and
    /// [`PERM_INSTAGRAM_MANAGE_MESSAGES`] (Instagram threads, else `(#200)`) are checked.
    pub permissions: BTreeSet<String>,
    /// Valid, expired or logged out.
    pub status: TokenStatus,
}

impl TokenGrant {
    /// Every page, every permission, valid.
    pub fn full() -> Self {
        TokenGrant {
            pages: None,
            permissions: [
                PERM_PAGES_MESSAGING,
                PERM_INSTAGRAM_MANAGE_MESSAGES,
                "pages_manage_metadata",
                "pages_read_engagement",
                "instagram_basic",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            status: TokenStatus::Valid,
        }
    }

    fn without(mut self, permission: &str) -> Self {
        self.permissions.remove(permission);
        self
    }
}

/// The default token table: [`DEMO_TOKEN`], [`EXPIRED_TOKEN`], [`LOGGED_OUT_TOKEN`],
/// [`MESSENGER_ONLY_TOKEN`], [`NO_MESSAGING_TOKEN`] and [`FIRST_PAGE_TOKEN`].
pub fn default_tokens() -> BTreeMap<String, TokenGrant> {
    let mut t = BTreeMap::new();
    t.insert(DEMO_TOKEN.to_string(), TokenGrant::full());
    t.insert(
        EXPIRED_TOKEN.to_string(),
        TokenGrant {
            status: TokenStatus::Expired,
            ..TokenGrant::full()
        },
    );
    t.insert(
        LOGGED_OUT_TOKEN.to_string(),
        TokenGrant {
            status: TokenStatus::LoggedOut,
            ..TokenGrant::full()
        },
    );
    t.insert(
        MESSENGER_ONLY_TOKEN.to_string(),
        TokenGrant::full().without(PERM_INSTAGRAM_MANAGE_MESSAGES),
    );
    t.insert(
        NO_MESSAGING_TOKEN.to_string(),
        TokenGrant::full().without(PERM_PAGES_MESSAGING),
    );
    t.insert(
        FIRST_PAGE_TOKEN.to_string(),
        TokenGrant {
            pages: Some(vec![crate::page_id(0)]),
            ..TokenGrant::full()
        },
    );
    t
}

/// Which error the per-page rate limiter answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ThrottleCode {
    /// `(#613) Calls to this api have exceeded the rate limit.`
    #[default]
    Code613,
    /// `(#80006)` the Messenger business-use-case throttle (message text **UNCONFIRMED**).
    Code80006,
    /// 613 for the first throttled call of a burst, 80006 for the following ones.
    Alternate,
}

/// How the per-page rate limiter counts calls. Meta documents "2 calls per second per Page"
/// without saying how it counts; each model is one honest reading of that sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LimiterModel {
    /// A token bucket refilled at the rate and holding `max(1, rate)` tokens: a burst of that
    /// size passes at once.
    #[default]
    TokenBucket,
    /// At most `floor(rate × window)` calls (at least 1) in any rolling window.
    SlidingWindow {
        /// Length of the window (1 s reads "2 calls per second" literally).
        window: Duration,
    },
    /// At most `floor(rate × window)` calls (at least 1) per window aligned to the wall clock
    /// (a naive per-second counter: two calls at x.999 s and two at (x+1).001 s all pass).
    FixedWindow {
        /// Length of each window.
        window: Duration,
    },
    /// Business-use-case style: the per-second token bucket plus a pool of `budget` calls
    /// per rolling `window`, reported as a percentage in `X-Business-Use-Case-Usage`. At 100 %
    /// every call is refused with 80006 and `estimated_time_to_regain_access`; refused calls
    /// count too, so a client calling while blocked extends its own block.
    Usage {
        /// Length of the rolling window of the pool.
        window: Duration,
        /// Calls allowed per window.
        budget: u32,
    },
}

/// Artificial latency added before each Graph response (not `/__emulator/` routes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Latency {
    /// Answer as fast as possible.
    #[default]
    None,
    /// The same delay for every request.
    Fixed(Duration),
    /// A delay drawn per request (deterministically from the seed and the request number)
    /// uniformly from `[min, max]`.
    Uniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
}

/// When a fault fires. Requests are counted per *unit*: a (page, platform, folder) for list
/// requests, the thread's unit for node and messages requests. Counting starts at 1.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Trigger {
    /// Never (the default).
    #[default]
    Never,
    /// With this probability (0.0–1.0) per eligible request, decided by a hash of the seed,
    /// the fault kind, the unit and the request number: the same run fires on the same requests.
    Rate(f64),
    /// On exactly the Nth request of each unit (a retry, being request N+1, succeeds).
    Nth(u64),
    /// On every Nth request of each unit (N, 2N, 3N, ...).
    EveryNth(u64),
}

/// An error that can be injected. Each answers with Graph's exact envelope and HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InjectedError {
    /// Code 1 "An unknown error occurred", subcode 99, HTTP 500.
    Unknown1,
    /// Code 1 "Please reduce the amount of data you're asking for, then retry your request", HTTP 500.
    ReduceData1,
    /// Code 2 "An unexpected error has occurred. Please retry your request later.",
    /// `is_transient: true`, HTTP 400.
    Transient2,
    /// Code 4 "(#4) Application request limit reached", HTTP 400.
    AppLimit4,
    /// Code 17 "(#17) User request limit reached", HTTP 400.
    UserLimit17,
    /// Code 32 "(#32) Page request limit reached", HTTP 400.
    PageLimit32,
    /// Code 613 "(#613) Calls to this api have exceeded the rate limit.", HTTP 400.
    RateLimit613,
    /// Code 80006 Messenger BUC throttle, HTTP 400.
    MessengerBuc80006,
    /// Code 10 "(#10) Application does not have permission for this action", HTTP 403.
    Permission10,
    /// Code 200 "(#200) Requires instagram_manage_messages permission ...", HTTP 403.
    Permission200,
    /// Code 230 "(#230) Requires pages_messaging permission to manage the object", HTTP 403.
    Permission230,
    /// Code 368 "The action attempted has been deemed abusive or is otherwise disallowed", HTTP 400.
    Policy368,
    /// Code 190 subcode 463 (expired token), HTTP 400, with `WWW-Authenticate`.
    TokenExpired190,
    /// A bare HTTP 503 with a non-JSON body, like a load balancer in front of Graph.
    Http503,
    /// HTTP 200 whose body is an error envelope (code 2) — Graph sometimes does this.
    ErrorInHttp200,
}

impl InjectedError {
    /// Every injectable error, in a fixed order.
    pub const ALL: [InjectedError; 15] = [
        InjectedError::Unknown1,
        InjectedError::ReduceData1,
        InjectedError::Transient2,
        InjectedError::AppLimit4,
        InjectedError::UserLimit17,
        InjectedError::PageLimit32,
        InjectedError::RateLimit613,
        InjectedError::MessengerBuc80006,
        InjectedError::Permission10,
        InjectedError::Permission200,
        InjectedError::Permission230,
        InjectedError::Policy368,
        InjectedError::TokenExpired190,
        InjectedError::Http503,
        InjectedError::ErrorInHttp200,
    ];

    /// The name used by `--fault` on the command line and in [`crate::Stats`].
    pub fn name(self) -> &'static str {
        match self {
            InjectedError::Unknown1 => "error-1",
            InjectedError::ReduceData1 => "reduce-data",
            InjectedError::Transient2 => "error-2",
            InjectedError::AppLimit4 => "error-4",
            InjectedError::UserLimit17 => "error-17",
            InjectedError::PageLimit32 => "error-32",
            InjectedError::RateLimit613 => "error-613",
            InjectedError::MessengerBuc80006 => "error-80006",
            InjectedError::Permission10 => "error-10",
            InjectedError::Permission200 => "error-200",
            InjectedError::Permission230 => "error-230",
            InjectedError::Policy368 => "error-368",
            InjectedError::TokenExpired190 => "error-190",
            InjectedError::Http503 => "http-503",
            InjectedError::ErrorInHttp200 => "error-in-200",
        }
    }
}

/// How a cut-off body is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TruncateMode {
    /// `Content-Length` announces the full body, half of it is sent, then the connection is
    /// closed: the client sees an incomplete body (a transport error).
    #[default]
    CloseEarly,
    /// A complete HTTP response whose body (with a matching `Content-Length`) is the first half
    /// of the JSON: the client sees a JSON syntax error.
    ShortBody,
}

/// One injected error and when it fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorFault {
    /// Which error.
    pub error: InjectedError,
    /// When.
    pub trigger: Trigger,
}

/// Deterministic fault injection. All default to [`Trigger::Never`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Errors to inject on Graph routes; the first whose trigger fires wins.
    pub errors: Vec<ErrorFault>,
    /// List requests answer `"data": []` with a `next` link that continues where the page
    /// should have started (a fresh cursor string for the same position).
    pub empty_page: Trigger,
    /// List requests with `after` start one thread early, repeating the previous page's last
    /// thread.
    pub repeat_across_boundary: Trigger,
    /// List requests with `after`: before answering, a thread just beyond the requested page
    /// receives a message and moves to the top of the unit (a real mutation, visible in the
    /// ground truth): the walk sees a duplicate and misses that thread.
    pub move_to_top: Trigger,
    /// Graph responses (of any route) are cut mid-JSON.
    pub truncate_body: Trigger,
    /// How a cut body is sent.
    pub truncate_mode: TruncateMode,
    /// The TCP connection is reset (RST, no response) instead of answering.
    pub connection_reset: Trigger,
    /// When `Some(n)`: the threads at index `k*n - 1` and `k*n` of every unit share one
    /// `updated_time` — set `n` to the client's page size for ties across each page boundary.
    pub equal_times_every: Option<usize>,
    /// A throttle storm: every Graph call that arrives between these two offsets from the
    /// emulator's start is answered with 613, whatever the rate.
    pub throttle_storm: Option<(Duration, Duration)>,
}

impl Faults {
    /// No faults (same as `Default`).
    pub fn none() -> Self {
        Faults::default()
    }

    /// Adds an injected error.
    pub fn with_error(mut self, error: InjectedError, trigger: Trigger) -> Self {
        self.errors.push(ErrorFault { error, trigger });
        self
    }

    /// A transient-error rate: code 2 (`is_transient`) with probability `rate` per request.
    pub fn transient_rate(rate: f64) -> Self {
        Faults::none().with_error(InjectedError::Transient2, Trigger::Rate(rate))
    }
}

/// Everything that shapes one emulator. `Default` gives the small demo dataset with no rate
/// limit, latency or faults (what tests and benchmarks want); `tributary emulate` turns the
/// 2 calls/second limit on.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Seed of every generated value: the same seed serves the same bytes.
    pub seed: u64,
    /// Port on 127.0.0.1; 0 (the default) picks an ephemeral port.
    pub port: u16,
    /// Origin written into `paging.next`/`previous` instead of `http://127.0.0.1:PORT`
    /// (e.g. when the emulator sits behind a proxy). No trailing slash.
    pub public_url: Option<String>,
    /// Number of pages; page `i` (0-based) has id `format!("1048576{:08}", i + 1)`.
    pub pages: usize,
    /// Threads per (page, platform, folder) unit.
    pub threads_per_unit: ThreadCount,
    /// Messages per thread.
    pub messages_per_thread: MessageCount,
    /// Valid tokens and what each may read (see [`default_tokens`]). Per-Page tokens
    /// ([`page_token`]) and user tokens ([`Accounts::users`]) are valid too.
    pub tokens: BTreeMap<String, TokenGrant>,
    /// What `GET /me/accounts` lists, for which user tokens.
    pub accounts: Accounts,
    /// When set, every Graph request must carry `appsecret_proof` =
    /// hex(HMAC-SHA256(app_secret, token)) — or, with `appsecret_time=T`, of `token|T`.
    pub app_secret: Option<String>,
    /// Largest `limit` served (default [`DEFAULT_MAX_LIMIT`], **UNCONFIRMED** value).
    pub max_limit: usize,
    /// See [`DEFAULT_HEAVY_THRESHOLD`].
    pub heavy_threshold: usize,
    /// Calls per second allowed per page on Graph routes (a token bucket with a burst of
    /// `max(1, rate)`); beyond it the answer is [`EmulatorConfig::rate_limit_code`].
    /// `None` (the library default) disables it; Meta documents 2 for the Conversations API.
    pub rate_limit_per_page: Option<f64>,
    /// Which throttle error the rate limiter answers with.
    pub rate_limit_code: ThrottleCode,
    /// How the per-page limit counts calls (only with `rate_limit_per_page`).
    pub limiter: LimiterModel,
    /// Calls per second allowed across all pages together (any rolling second); beyond it
    /// the answer is `(#4) Application request limit reached`. `None`: no app-wide limit.
    pub app_rate_limit: Option<f64>,
    /// Network jitter on the way in: the limiters see each Graph request after a delay drawn
    /// uniformly from `[0, arrival_jitter]` (deterministic per request), so calls a client
    /// sent evenly spaced may arrive closer together.
    pub arrival_jitter: Duration,
    /// Artificial latency.
    pub latency: Latency,
    /// Fault injection.
    pub faults: Faults,
    /// Version assumed for paths without a `vNN.N` segment.
    pub default_version: String,
    /// Gzip-compress bodies for requests that accept it (`Accept-Encoding: gzip`), as Graph
    /// does; `false` always answers uncompressed (a server that ignores the header).
    pub gzip: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            seed: DEFAULT_SEED,
            port: 0,
            public_url: None,
            pages: DEFAULT_PAGES,
            threads_per_unit: ThreadCount::Around(DEFAULT_THREADS_PER_UNIT),
            messages_per_thread: MessageCount::UpTo(DEFAULT_MESSAGES_PER_THREAD),
            tokens: default_tokens(),
            accounts: Accounts::default(),
            app_secret: None,
            max_limit: DEFAULT_MAX_LIMIT,
            heavy_threshold: DEFAULT_HEAVY_THRESHOLD,
            rate_limit_per_page: None,
            rate_limit_code: ThrottleCode::default(),
            limiter: LimiterModel::default(),
            app_rate_limit: None,
            arrival_jitter: Duration::ZERO,
            latency: Latency::None,
            faults: Faults::none(),
            default_version: DEFAULT_VERSION.to_string(),
            gzip: true,
        }
    }
}
