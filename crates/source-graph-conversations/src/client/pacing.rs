//! Pacing: a per-Page call scheduler, and the usage headers that can pause it.
//!
//! Meta allows the Conversations API **2 calls per second per Page** (and per Instagram
//! account) [GRAPH_API.md §6.1]. Each Page gets one [`Pacer`] shared by all its units — the
//! Messenger and the Instagram listings of a Page included. Meta says the Instagram account has
//! its own 2/s, but both go through the same Page id and token, and an emulator or a future
//! Graph version may count them together; sharing is the choice that can never throttle, at
//! worst halving the speed of a Page read on both platforms.
//!
//! The pacer hands out send slots `1/rate` apart (a GCRA with a burst of one): a normal run
//! stays under the limit whatever the latency, so it sees no throttle at all. A throttle or a
//! high usage header pauses the pacer, which delays every unit of that Page, not just the one
//! that was told.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// Usage (percent) at which the client pauses proactively (Airbyte's first threshold).
pub const USAGE_PAUSE_PERCENT: f64 = 85.0;
/// Usage (percent) at which the pause is long (Airbyte's second threshold).
pub const USAGE_LONG_PAUSE_PERCENT: f64 = 95.0;
/// Pause at [`USAGE_PAUSE_PERCENT`] (Airbyte: 2 minutes), capped by `max_backoff`.
pub const USAGE_PAUSE: Duration = Duration::from_secs(120);
/// Pause at [`USAGE_LONG_PAUSE_PERCENT`] (Airbyte: 10 minutes), capped by `max_backoff`.
pub const USAGE_LONG_PAUSE: Duration = Duration::from_secs(600);

/// Consecutive high usage readings after which the full usage pause applies.
pub const PERSISTENT_HIGH_READINGS: u32 = 3;

/// Hands out send times at most `rate` per second, and can be paused.
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Option<Duration>,
    state: Mutex<PacerState>,
}

#[derive(Debug)]
struct PacerState {
    next_slot: Instant,
    paused_until: Instant,
    /// Consecutive usage readings at or above [`USAGE_PAUSE_PERCENT`].
    high_readings: u32,
}

impl Pacer {
    /// A pacer for `rate` calls per second; `rate <= 0` or non-finite means unlimited.
    pub fn new(rate: f64) -> Pacer {
        let interval =
            (rate.is_finite() && rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate));
        let now = Instant::now();
        Pacer {
            interval,
            state: Mutex::new(PacerState {
                next_slot: now,
                paused_until: now,
                high_readings: 0,
            }),
        }
    }

    /// Waits for the next send slot and takes it.
    pub async fn acquire(&self) {
        loop {
            let at = {
                let Ok(mut s) = self.state.lock() else { return };
                let now = Instant::now();
                if s.paused_until > now {
                    // Paused: wait, then compete for a slot again (the pause may be extended).
                    Err(s.paused_until)
                } else {
                    let at = s.next_slot.max(now);
                    if let Some(interval) = self.interval {
                        s.next_slot = at + interval;
                    }
                    Ok(at)
                }
            };
            match at {
                Ok(at) => {
                    tokio::time::sleep_until(at).await;
                    // A pause set while we slept (a throttle seen by another unit) still holds.
                    let paused = self.state.lock().map(|s| s.paused_until).unwrap_or(at);
                    if paused > Instant::now() {
                        tokio::time::sleep_until(paused).await;
                    }
                    return;
                }
                Err(until) => tokio::time::sleep_until(until).await,
            }
        }
    }

    /// How long to pause for a usage reading that asks for `full`.
    ///
    /// Graph's usage headers are rolling percentages, but a reading taken right after a burst —
    /// or one that reflects a per-second window, which a client paced at the documented rate
    /// touches on every call — can spike once. Pausing a Page for minutes on one spike stalls
    /// a run with no throttle in sight, so without an explicit `estimated_time_to_regain_access`
    /// the first readings only skip a couple of send slots; the full pause (Airbyte's 2 or 10
    /// minutes) applies once [`PERSISTENT_HIGH_READINGS`] readings in a row stay high.
    pub fn usage_pause(&self, full: Duration, explicit_regain: bool) -> Duration {
        let Ok(mut s) = self.state.lock() else {
            return full;
        };
        if full.is_zero() {
            s.high_readings = 0;
            return full;
        }
        s.high_readings = s.high_readings.saturating_add(1);
        if explicit_regain || s.high_readings >= PERSISTENT_HIGH_READINGS {
            return full;
        }
        (self.interval.unwrap_or(Duration::from_secs(1)) * 2).min(full)
    }

    /// Pauses every caller until at least `until`.
    pub fn pause_until(&self, until: Instant) {
        if let Ok(mut s) = self.state.lock() {
            s.paused_until = s.paused_until.max(until);
        }
    }

    /// Waits out a pause without taking a slot (the app-wide gate).
    pub async fn wait_pause(&self) {
        loop {
            let until = self
                .state
                .lock()
                .map(|s| s.paused_until)
                .unwrap_or_else(|_| Instant::now());
            if until <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }
}

/// What the usage headers of one response say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// Highest percentage in `X-Business-Use-Case-Usage` / `X-Page-Usage` (Page-level pools).
    pub page_percent: Option<f64>,
    /// Highest percentage in `X-App-Usage` (app-wide).
    pub app_percent: Option<f64>,
    /// Largest `estimated_time_to_regain_access` (minutes, GRAPH_API.md §6.2).
    pub regain_minutes: f64,
}

impl Usage {
    /// Parses the three usage headers. Absent headers are not 0% (GRAPH_API.md §8.11): they are
    /// simply unknown.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Usage {
        let mut usage = Usage::default();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(buc) = text("x-business-use-case-usage") {
            let (pct, regain) = parse_buc(buc);
            usage.page_percent = pct;
            usage.regain_minutes = regain;
        }
        if let Some(page) = text("x-page-usage") {
            let (pct, regain) = parse_flat(page);
            usage.page_percent = max_opt(usage.page_percent, pct);
            usage.regain_minutes = usage.regain_minutes.max(regain);
        }
        if let Some(app) = text("x-app-usage") {
            usage.app_percent = parse_flat(app).0;
        }
        usage
    }

    /// How long to pause the Page (and, separately, the app), given the cap on any wait.
    /// `estimated_time_to_regain_access` is honoured even below the thresholds.
    pub fn pauses(&self, cap: Duration) -> (Duration, Duration) {
        let by_percent = |p: Option<f64>| match p {
            Some(p) if p >= USAGE_LONG_PAUSE_PERCENT => USAGE_LONG_PAUSE,
            Some(p) if p >= USAGE_PAUSE_PERCENT => USAGE_PAUSE,
            _ => Duration::ZERO,
        };
        let regain = if self.regain_minutes.is_finite() && self.regain_minutes > 0.0 {
            Duration::from_secs_f64(self.regain_minutes * 60.0)
        } else {
            Duration::ZERO
        };
        let page = by_percent(self.page_percent).max(regain).min(cap);
        let app = by_percent(self.app_percent).min(cap);
        (page, app)
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Deserialize, Default)]
struct Pool {
    #[serde(default)]
    call_count: Option<f64>,
    #[serde(default)]
    total_cputime: Option<f64>,
    #[serde(default)]
    total_time: Option<f64>,
    #[serde(default)]
    estimated_time_to_regain_access: Option<f64>,
}

impl Pool {
    fn percent(&self) -> Option<f64> {
        [self.call_count, self.total_cputime, self.total_time]
            .into_iter()
            .flatten()
            .reduce(f64::max)
    }
}

/// `{"<id>":[{type, call_count, total_cputime, total_time, estimated_time_to_regain_access}]}`.
fn parse_buc(text: &str) -> (Option<f64>, f64) {
    let Ok(map) = serde_json::from_str::<std::collections::HashMap<String, Vec<Pool>>>(text) else {
        return (None, 0.0);
    };
    let mut pct = None;
    let mut regain: f64 = 0.0;
    for pool in map.values().flatten() {
        pct = max_opt(pct, pool.percent());
        regain = regain.max(pool.estimated_time_to_regain_access.unwrap_or(0.0));
    }
    (pct, regain)
}

/// `{"call_count":28,"total_time":25,"total_cputime":25}`.
fn parse_flat(text: &str) -> (Option<f64>, f64) {
    match serde_json::from_str::<Pool>(text) {
        Ok(pool) => (
            pool.percent(),
            pool.estimated_time_to_regain_access.unwrap_or(0.0),
        ),
        Err(_) => (None, 0.0),
    }
}

#[cfg(test)]
mod usage_pause_tests {
    use super::*;

    #[test]
    fn a_single_high_reading_skips_slots_and_a_persistent_one_pauses_fully() {
        let pacer = Pacer::new(2.0);
        let full = USAGE_PAUSE;
        assert_eq!(pacer.usage_pause(full, false), Duration::from_secs(1));
        assert_eq!(
            pacer.usage_pause(Duration::ZERO, false),
            Duration::ZERO,
            "a low reading resets"
        );
        assert_eq!(pacer.usage_pause(full, false), Duration::from_secs(1));
        assert_eq!(pacer.usage_pause(full, false), Duration::from_secs(1));
        assert_eq!(
            pacer.usage_pause(full, false),
            full,
            "third high reading in a row"
        );
        assert_eq!(
            Pacer::new(2.0).usage_pause(full, true),
            full,
            "Meta named a regain time"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn reads_business_use_case_and_app_usage() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"1":[{"type":"messenger","call_count":87,"total_cputime":1,"total_time":3,"estimated_time_to_regain_access":0}],"2":[{"type":"pages","call_count":1,"estimated_time_to_regain_access":3}]}"#,
            ),
        );
        h.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":28,"total_time":96,"total_cputime":25}"#),
        );
        let u = Usage::from_headers(&h);
        assert_eq!(u.page_percent, Some(87.0));
        assert_eq!(u.app_percent, Some(96.0));
        assert_eq!(u.regain_minutes, 3.0);
        let cap = Duration::from_secs(3600);
        // Regain (3 min) beats the 85% pause (2 min); app at 96% -> long pause.
        assert_eq!(u.pauses(cap), (Duration::from_secs(180), USAGE_LONG_PAUSE));
        assert_eq!(
            u.pauses(Duration::from_secs(5)),
            (Duration::from_secs(5), Duration::from_secs(5))
        );
    }

    #[test]
    fn low_or_absent_usage_means_no_pause() {
        let u = Usage::from_headers(&HeaderMap::new());
        assert_eq!(u, Usage::default());
        assert_eq!(
            u.pauses(Duration::from_secs(600)),
            (Duration::ZERO, Duration::ZERO)
        );
        let mut h = HeaderMap::new();
        h.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":84}"#),
        );
        assert_eq!(
            Usage::from_headers(&h).pauses(Duration::from_secs(600)).1,
            Duration::ZERO
        );
    }

    #[tokio::test]
    async fn pacer_spaces_slots_by_the_rate() {
        let p = Pacer::new(50.0);
        let start = Instant::now();
        for _ in 0..5 {
            p.acquire().await;
        }
        // Slots at 0, 20, 40, 60, 80 ms.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(80), "{took:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    #[tokio::test]
    async fn a_pause_delays_the_next_slot() {
        let p = Pacer::new(0.0);
        let start = Instant::now();
        p.pause_until(start + Duration::from_millis(60));
        p.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(60));
    }
}
