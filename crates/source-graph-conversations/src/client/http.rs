//! One paced, retried GET: the only place that sends requests.
//!
//! Order of operations per attempt: wait for the app-wide gate and the Page's pacer, send with
//! credentials appended to a throw-away URL, read usage headers (and maybe pause), read the
//! body, then classify. Only a typed, decoded value leaves this module on success; on failure a
//! [`GraphError`] that holds no credential.

use std::error::Error as _;
use std::time::Duration;

use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::Inner;
use super::error::{ApiError, ErrorClass, GraphError};
use super::metrics::{SourceMetrics, UnitProbe};
use super::model::UnitKey;
use super::pacing::{Pacer, Usage};
use super::secure::{CleanUrl, appsecret_proof, scrub};

/// Who is calling: the unit (for errors), what to call it in logs, its token, its Page's
/// pacer and its probe.
pub(crate) struct Caller<'a> {
    pub unit: &'a UnitKey,
    /// The unit itself for Page calls; `GET /me/accounts` for discovery (whose errors are
    /// re-labelled by the caller, see `accounts.rs`).
    pub label: &'a (dyn std::fmt::Display + Sync),
    pub token: &'a SecretString,
    pub pacer: &'a Pacer,
    pub probe: &'a dyn UnitProbe,
}

/// One failed attempt.
enum Failure {
    Api(ApiError),
    Transport(String),
    /// A body that is not the JSON we expect; `truncated` when it looks cut off.
    Decode {
        message: String,
        truncated: bool,
    },
}

impl Failure {
    fn describe(&self) -> String {
        match self {
            Failure::Api(e) => e.to_string(),
            Failure::Transport(m) => format!("transport error: {m}"),
            Failure::Decode { message, .. } => format!("malformed response body: {message}"),
        }
    }
}

/// Why a body did not decode, whichever parser read it.
#[derive(Debug)]
pub(crate) struct BodyError {
    /// What was wrong and where (no excerpt of the body).
    pub message: String,
    /// The body looks cut off or damaged (retried), rather than well-formed but unexpected.
    pub truncated: bool,
}

impl BodyError {
    /// The attempt's failure, with any secret in the message masked.
    fn into_failure(self, secrets: &[&str]) -> Failure {
        Failure::Decode {
            truncated: self.truncated,
            message: scrub(&self.message, secrets),
        }
    }
}

impl From<serde_json::Error> for BodyError {
    fn from(e: serde_json::Error) -> Self {
        BodyError {
            truncated: e.is_eof() || e.is_syntax(),
            message: e.to_string(),
        }
    }
}

impl From<sonic_rs::Error> for BodyError {
    fn from(e: sonic_rs::Error) -> Self {
        // sonic-rs appends an excerpt of the input on the following lines: message text
        // must not reach logs, so only the first line is kept.
        let text = e.to_string();
        BodyError {
            truncated: e.is_eof() || e.is_syntax(),
            message: text.lines().next().unwrap_or_default().to_string(),
        }
    }
}

/// Whether `limit` can be halved for "reduce the amount of data".
pub(crate) enum Shrink {
    /// Halve the URL's `limit` on code 1 "reduce the amount of data".
    Limit,
    /// Never rewrite the URL (nested `messages` pages).
    No,
}

/// Bodies at least this large are decoded on the blocking pool (smaller ones are cheaper to
/// decode in place than to hand over).
const BLOCKING_DECODE_BYTES: usize = 64 << 10;

/// Decodes on the blocking pool at once, process-wide: one per core.
static DECODERS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

impl Inner {
    fn secrets<'a>(&'a self, token: &'a SecretString, proof: &'a str) -> Vec<&'a str> {
        let mut v = vec![token.expose_secret(), proof];
        if let Some(s) = &self.app_secret {
            v.push(s.expose_secret());
        }
        v
    }

    /// GETs `url` and decodes it as `T`, retrying what can be retried. Returns the value and
    /// the URL that finally worked (its `limit` may have been halved).
    pub(crate) async fn get_json<T: DeserializeOwned + Send + 'static>(
        &self,
        caller: &Caller<'_>,
        url: CleanUrl,
        shrink: Shrink,
    ) -> Result<(T, CleanUrl), GraphError> {
        self.get_decoded(caller, url, shrink, |body: &[u8]| {
            serde_json::from_slice::<T>(body).map_err(BodyError::from)
        })
        .await
    }

    /// [`get_json`](Self::get_json) with the body decoded by `decode` (on the blocking pool
    /// when large).
    pub(crate) async fn get_decoded<T, F>(
        &self,
        caller: &Caller<'_>,
        mut url: CleanUrl,
        shrink: Shrink,
        decode: F,
    ) -> Result<(T, CleanUrl), GraphError>
    where
        T: Send + 'static,
        F: Fn(&[u8]) -> Result<T, BodyError> + Clone + Send + 'static,
    {
        let mut attempts: u32 = 0;
        loop {
            self.take_turn(caller).await;
            let failure = match self.attempt(caller, &url, decode.clone()).await {
                Ok(value) => return Ok((value, url)),
                Err(f) => f,
            };
            let class = classify(caller, &url, &failure)?;
            if class == ErrorClass::ReduceData
                && let Some(smaller) = self.shrink(caller, &url, &shrink)
            {
                // A smaller request is a different request: no backoff, and it does not use up
                // the retry budget (halving ends at 1 anyway).
                url = smaller;
                continue;
            }
            attempts += 1;
            if attempts > self.retry.max_retries {
                return Err(GraphError::RetriesExhausted {
                    unit: caller.unit.clone(),
                    url: url.to_string(),
                    attempts,
                    last: failure.describe(),
                });
            }
            self.back_off(caller, &url, attempts, class, &failure).await;
        }
    }

    /// Waits for the app-wide gate and the Page's pacer, then counts the call: every request
    /// sent, retries included, goes through here.
    async fn take_turn(&self, caller: &Caller<'_>) {
        let waited = caller.pacer.acquire(Some(&self.app_gate)).await;
        caller.probe.waited(waited);
        SourceMetrics::add(&self.metrics.api_calls, 1);
        caller.probe.api_call();
    }

    /// On "reduce the amount of data", the URL with its `limit` halved, if it may be rewritten
    /// and is above 1 (`None`: retry it as it is).
    fn shrink(&self, caller: &Caller<'_>, url: &CleanUrl, shrink: &Shrink) -> Option<CleanUrl> {
        let limit = url.param("limit").and_then(|l| l.parse::<u32>().ok());
        let (Shrink::Limit, Some(limit)) = (shrink, limit) else {
            return None;
        };
        if limit <= 1 {
            return None;
        }
        let halved = (limit / 2).max(1);
        SourceMetrics::add(&self.metrics.page_size_reductions, 1);
        SourceMetrics::add(&self.metrics.retries, 1);
        caller.probe.retry(Duration::ZERO, false);
        warn!(unit = %caller.label, from = limit, to = halved,
            "Graph asked to reduce the amount of data; halving the page size");
        Some(url.with_param("limit", &halved.to_string()))
    }

    /// Waits before the next attempt. A throttle makes everyone on this Page (or, for an
    /// app-level throttle, every Page) wait, not just this unit, and lowers the rate.
    async fn back_off(
        &self,
        caller: &Caller<'_>,
        url: &CleanUrl,
        attempts: u32,
        class: ErrorClass,
        failure: &Failure,
    ) {
        let throttle = class == ErrorClass::Throttle;
        let delay = self.retry.backoff(attempts, throttle);
        if throttle {
            SourceMetrics::add(&self.metrics.throttles, 1);
            match failure {
                Failure::Api(e) if is_app_throttle_code(e.code) => {
                    self.app_gate.on_throttle(delay);
                }
                _ => caller.pacer.on_throttle(delay),
            }
        }
        SourceMetrics::add(&self.metrics.retries, 1);
        caller.probe.retry(delay, throttle);
        warn!(
            unit = %caller.label,
            url = %url,
            attempt = attempts,
            wait_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %failure.describe(),
            "{} from Graph; retrying",
            if throttle { "throttled" } else { "retryable error" }
        );
        tokio::time::sleep(delay).await;
    }

    async fn attempt<T, F>(
        &self,
        caller: &Caller<'_>,
        url: &CleanUrl,
        decode: F,
    ) -> Result<T, Failure>
    where
        T: Send + 'static,
        F: Fn(&[u8]) -> Result<T, BodyError> + Send + 'static,
    {
        let proof = match &self.app_secret {
            Some(s) => appsecret_proof(s.expose_secret(), caller.token.expose_secret(), None),
            None => String::new(),
        };
        let secrets = self.secrets(caller.token, &proof);
        debug!(unit = %caller.label, url = %url, "GET");
        let sent = url.with_credentials(caller.token, self.app_secret.as_ref());
        let response = self
            .http
            .get(sent)
            .send()
            .await
            .map_err(|e| Failure::Transport(render_reqwest(e, &secrets)))?;
        let status = response.status().as_u16();
        let success = (200..300).contains(&status);
        self.apply_usage(caller, &Usage::from_headers(response.headers()), success);
        let gzipped = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure::Transport(render_reqwest(e, &secrets)))?;
        let body = if gzipped {
            inflate(body).await.map_err(|e| e.into_failure(&secrets))?
        } else {
            body
        };
        if !success || looks_like_error(&body) {
            if let Some(e) = ApiError::parse(status, &body, &secrets) {
                return Err(Failure::Api(e));
            }
            if !success {
                return Err(Failure::Api(ApiError::from_status(status, &body, &secrets)));
            }
        }
        // A list page is megabytes of JSON: decode it on the blocking pool, so the units' one
        // polling task keeps sending and other pages decode at the same time.
        let decoded = if body.len() >= BLOCKING_DECODE_BYTES {
            on_pool(move || decode(&body)).await
        } else {
            decode(&body)
        };
        decoded.map_err(|e| e.into_failure(&secrets))
    }

    /// Applies a response's usage headers. Page usage readings count only from successful
    /// calls: a throttle already cut the rate, and its (100 %) reading would slow the Page a
    /// second time for calls after the limiter recovered.
    fn apply_usage(&self, caller: &Caller<'_>, usage: &Usage, success: bool) {
        let cap = self.retry.max_backoff;
        let now = Instant::now();
        let regain = usage.regain(cap);
        if !regain.is_zero() {
            SourceMetrics::add(&self.metrics.usage_pauses, 1);
            caller.pacer.pause_until(now + regain);
            caller.probe.pause(regain);
            warn!(unit = %caller.label, usage_percent = usage.page_percent.unwrap_or(0.0),
                regain_minutes = usage.regain_minutes,
                pause_ms = u64::try_from(regain.as_millis()).unwrap_or(u64::MAX),
                "Graph says this Page regains access later; pausing this Page");
        }
        if let Some(pct) = usage.page_percent.filter(|_| success)
            && caller.pacer.on_page_usage(pct)
        {
            SourceMetrics::add(&self.metrics.usage_pauses, 1);
            debug!(unit = %caller.label, usage_percent = pct,
                "Page usage near its limit; holding this Page for one interval");
        }
        let explicit = !regain.is_zero();
        let app = self
            .app_gate
            .app_usage_pause(usage.app_pause(cap), explicit);
        if !app.is_zero() {
            SourceMetrics::add(&self.metrics.usage_pauses, 1);
            self.app_gate.pause_until(now + app);
            caller.probe.pause(app);
            warn!(
                usage_percent = usage.app_percent.unwrap_or(0.0),
                pause_ms = u64::try_from(app.as_millis()).unwrap_or(u64::MAX),
                "app usage near its limit; pausing every Page"
            );
        }
    }
}

/// Largest body a gzip response may inflate to: far above any Graph page (a few MB), low
/// enough that a corrupt or hostile stream cannot exhaust memory.
const MAX_INFLATED_BYTES: u64 = 1 << 30;

/// A gzip body inflated (on the blocking pool when large). A stream cut short is a truncated
/// body (retried), like a short plain body.
async fn inflate(body: bytes::Bytes) -> Result<bytes::Bytes, BodyError> {
    fn run(body: &[u8]) -> Result<bytes::Bytes, BodyError> {
        use std::io::Read as _;
        let mut out = Vec::with_capacity(body.len().saturating_mul(6));
        let read = flate2::read::MultiGzDecoder::new(body)
            .take(MAX_INFLATED_BYTES + 1)
            .read_to_end(&mut out);
        match read {
            Ok(n) if n as u64 > MAX_INFLATED_BYTES => Err(BodyError {
                truncated: false,
                message: format!("the gzip body inflates to more than {MAX_INFLATED_BYTES} bytes"),
            }),
            Ok(_) => Ok(out.into()),
            Err(e) => Err(BodyError {
                truncated: e.kind() == std::io::ErrorKind::UnexpectedEof,
                message: format!("the gzip body does not inflate: {e}"),
            }),
        }
    }
    if body.len() < BLOCKING_DECODE_BYTES / 8 {
        run(&body)
    } else {
        on_pool(move || run(&body)).await
    }
}

/// Runs `work` (decoding or inflating a large body) on the blocking pool, as many at once as
/// cores: more only adds decoded pages waiting in memory (and blocking threads, each with its
/// allocator cache).
async fn on_pool<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BodyError> + Send + 'static,
) -> Result<T, BodyError> {
    let _permit = DECODERS.acquire().await.map_err(|e| BodyError {
        truncated: false,
        message: format!("the decoder pool is closed: {e}"),
    })?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BodyError {
            truncated: false,
            message: format!("the decoding task failed: {e}"),
        })?
}

/// The class of a failed attempt, or the unit's error when no retry can fix it: a body that
/// does not decode (and is not cut off), or an auth, permission, policy or fatal API error.
fn classify(
    caller: &Caller<'_>,
    url: &CleanUrl,
    failure: &Failure,
) -> Result<ErrorClass, GraphError> {
    let error = match failure {
        Failure::Api(e) => e,
        Failure::Transport(_)
        | Failure::Decode {
            truncated: true, ..
        } => return Ok(ErrorClass::Transient),
        Failure::Decode {
            message,
            truncated: false,
        } => {
            return Err(GraphError::Decode {
                unit: caller.unit.clone(),
                url: url.to_string(),
                message: message.clone(),
            });
        }
    };
    let unit = caller.unit.clone();
    match error.class() {
        ErrorClass::Auth => Err(GraphError::Auth {
            unit,
            error: Box::new(error.clone()),
        }),
        ErrorClass::Permission => Err(GraphError::Permission {
            unit,
            error: Box::new(error.clone()),
        }),
        ErrorClass::PolicyBlock => Err(GraphError::PolicyBlock {
            unit,
            error: Box::new(error.clone()),
        }),
        ErrorClass::Fatal => Err(GraphError::Api {
            unit,
            url: url.to_string(),
            error: Box::new(error.clone()),
        }),
        class => Ok(class),
    }
}

/// Throttles of the app as a whole (every Page of the token's app), not of one Page.
fn is_app_throttle_code(code: i64) -> bool {
    matches!(code, 4 | 17 | 341)
}

/// A 2xx body that is Graph's error envelope (it happens: clients have seen it in the wild).
fn looks_like_error(body: &[u8]) -> bool {
    let mut it = body.iter().copied().skip_while(u8::is_ascii_whitespace);
    if it.next() != Some(b'{') {
        return false;
    }
    let rest: Vec<u8> = it.skip_while(u8::is_ascii_whitespace).take(7).collect();
    rest == b"\"error\""
}

/// A reqwest error as text, without its URL (which carries the token) and scrubbed.
fn render_reqwest(e: reqwest::Error, secrets: &[&str]) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    scrub(&text, secrets)
}

/// Retry budget and backoff shape.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries per request after the first attempt (the budget resets after a success).
    pub max_retries: u32,
    /// First backoff; doubles per attempt.
    pub min_backoff: Duration,
    /// Cap on any single wait: backoff, throttle pause, usage pause.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter": uniform in `[d/2, d]`, `d = min * 2^(n-1)`
    /// (throttles start 4x higher: a rate limit takes longer to clear than a blip), capped.
    pub fn backoff(&self, attempt: u32, throttle: bool) -> Duration {
        let base = if throttle {
            self.min_backoff * 4
        } else {
            self.min_backoff
        };
        let exp = base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
        let d = exp.min(self.max_backoff);
        let half = d / 2;
        let jitter = rand::rng().random_range(0.0..=1.0);
        half + half.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            max_retries: 5,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let d1 = p.backoff(1, false);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = p.backoff(3, false);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            let t1 = p.backoff(1, true);
            assert!(
                t1 >= Duration::from_millis(200) && t1 <= Duration::from_millis(400),
                "{t1:?}"
            );
            assert!(p.backoff(30, false) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn sonic_errors_keep_no_excerpt_of_the_body() {
        let body = br#"{"data":[{"id":"t","snippet":"private words"} oops]}"#;
        let e = sonic_rs::from_slice::<sonic_rs::Value>(body).unwrap_err();
        assert!(
            e.to_string().contains("words\"} oops"),
            "the excerpt this strips: {e}"
        );
        let b = BodyError::from(e);
        assert!(
            !b.message.contains("words") && !b.message.contains("oops"),
            "{}",
            b.message
        );
        assert!(b.message.contains("line 1"), "{}", b.message);
        assert!(b.truncated, "a syntax error is a damaged body, retried");
        let cut = sonic_rs::from_slice::<sonic_rs::Value>(br#"{"data":[{"id":"#).unwrap_err();
        assert!(BodyError::from(cut).truncated);
    }

    #[test]
    fn spots_error_envelopes_in_success_bodies() {
        assert!(looks_like_error(br#" { "error" : {"code":2}}"#));
        assert!(!looks_like_error(br#"{"data":[],"error":1}"#));
        assert!(!looks_like_error(b"[]"));
    }
}
