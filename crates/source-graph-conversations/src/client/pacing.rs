//! Pacing: one adaptive rate controller per Page (and one for the app), the only gate a call
//! passes before it is sent. Retries are calls like any other and pass the same gate.
//!
//! Meta allows the Conversations API **2 calls per second per Page** (and per Instagram
//! account) but does not say how it counts: a token bucket, a rolling window, a wall-clock
//! window, or a usage pool over an hour all fit the sentence, and latency jitter moves calls
//! closer together on the way. Each Page gets one [`Pacer`] shared by all its units (the
//! Messenger and Instagram listings included: sharing can never throttle, at worst it halves
//! the speed of a Page read on both platforms). The controller, in the order it applies:
//!
//! 1. **Spacing with a margin.** Consecutive calls of a Page are at least
//!    `(1 + PACING_MARGIN) / rate` apart, handed out in FIFO order by one waiter at a time, and
//!    the time recorded is the moment the call is let go. So any `N + 1` calls span more than
//!    `N / rate` seconds: the client itself never emits more than the configured calls in any
//!    rolling window, there is no burst after a pause (calls resume one interval apart), and
//!    up to `PACING_MARGIN / rate` of arrival jitter (25 ms at 2/s) still lands every call in
//!    the right window of a strict sliding-window limiter (more jitter than that is met by
//!    step 2: a throttle, a cut, a slower plateau). The cost is the margin itself: a clean run
//!    takes about 1.05× what a client spacing calls exactly at the rate would.
//! 2. **Multiplicative decrease on a throttle** (codes 32, 613, 80000–80014 for the Page; 4,
//!    17, 341 for the app), CUBIC-style as the AWS SDKs' *adaptive* retry mode: the rate drops
//!    to `THROTTLE_BETA` × the rate that was throttled (the lower of the allowed and the
//!    measured send rate), at most once per `CUT_HOLD` (several units hit by one event cut
//!    once), never below `MIN_RATE_FRACTION` of the configured rate.
//! 3. **Recovery.** After a cut the rate climbs back along a concave cubic to
//!    `PLATEAU` × the throttled rate in `RECOVERY`, holds there for `HOLD`, then probes upwards
//!    along a convex cubic to the configured rate. The plateau sits under the rate that was
//!    throttled, so a limiter stricter than the configuration is met at most once per probe
//!    (about once a minute) instead of on every climb: at 2 calls/s that is at most ~1 % of
//!    calls. The app gate has no configured rate: it paces nothing until an app-level throttle
//!    teaches it one, and forgets it once the probe has gone far beyond it.
//! 4. **Usage headers.** `estimated_time_to_regain_access` pauses the Page (capped by
//!    `max_backoff`). A Page usage reading of `USAGE_HOLD_PERCENT` or more holds the Page for
//!    one extra interval (the limiter says it is nearly exhausted). Readings that *stay* high —
//!    the lowest of the last [`USAGE_READINGS`] at `USAGE_SLOW_PERCENT` or more — scale the rate
//!    down linearly to `MIN_RATE_FRACTION` at `USAGE_STOP_PERCENT`, so a rolling-window pool
//!    (Meta's business-use-case usage) settles just under its limit instead of being throttled.
//!    Taking the lowest of several readings ignores a limiter that reports the fill of a
//!    one-second bucket: it spikes and falls back, and must not stall a run. One that reads
//!    100 % after every call (the fill of a strict one-second window at its limit) is told
//!    apart by a call succeeding after a 100 % reading — a pool at 100 % would have refused it —
//!    and is then ignored too. App usage keeps
//!    Airbyte's pauses (2 minutes at 85 %, 10 at 95 %) once [`USAGE_READINGS`] readings in a
//!    row are high: the app pool is hourly and shared with other jobs.
//!
//! Why these constants: the margin is arithmetic — at 2 calls/s, 5 % is 25 ms of arrival
//! jitter a strict rolling-second limiter tolerates (ample for a kept-alive connection), for a
//! cost of 5 % of the run time; 10 % cost 1.20× the bound on a 16-call Page (the
//! emulator's `--arrival-jitter-ms` and `benches/pacing.sh` measure both; BENCHMARKS.md,
//! "Pacing"). β = 0.7 is CUBIC's and the AWS SDKs' adaptive mode's. The 0.9 plateau, 10 s
//! recovery and 30 s hold keep a client that met a stricter limiter under it for ~40 s per
//! probe, so a limit it cannot know costs one throttle per minute or so (tests/it/pacing.rs:
//! a 4/s client against a 2/s sliding window is throttled at most 4 times in 30 calls).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// Calls are spaced `(1 + PACING_MARGIN) / rate` apart.
pub const PACING_MARGIN: f64 = 0.05;
/// A throttle cuts the rate to this fraction of the throttled rate (CUBIC's β).
pub const THROTTLE_BETA: f64 = 0.7;
/// After a cut, the rate returns to this fraction of the throttled rate...
pub const PLATEAU: f64 = 0.9;
/// ...in this long...
pub const RECOVERY: Duration = Duration::from_secs(10);
/// ...stays there this long, then probes upwards (one `RECOVERY` per step of the cubic).
pub const HOLD: Duration = Duration::from_secs(30);
/// Throttles closer together than this are one event (one cut).
pub const CUT_HOLD: Duration = Duration::from_secs(1);
/// The adaptive rate never falls below this fraction of the configured rate.
pub const MIN_RATE_FRACTION: f64 = 1.0 / 32.0;
/// Sustained Page usage (percent) at which the rate starts to scale down...
pub const USAGE_SLOW_PERCENT: f64 = 80.0;
/// ...reaching its floor here.
pub const USAGE_STOP_PERCENT: f64 = 98.0;
/// A single Page usage reading this high holds the Page for one extra interval (Airbyte's
/// first threshold).
pub const USAGE_HOLD_PERCENT: f64 = 85.0;
/// Usage readings that count as "sustained" (the lowest of the last this many is used).
pub const USAGE_READINGS: usize = 3;
/// App usage (percent) at which the app pauses (Airbyte's first threshold).
pub const USAGE_PAUSE_PERCENT: f64 = 85.0;
/// App usage (percent) at which the app pause is long (Airbyte's second threshold).
pub const USAGE_LONG_PAUSE_PERCENT: f64 = 95.0;
/// App pause at [`USAGE_PAUSE_PERCENT`] (Airbyte: 2 minutes), capped by `max_backoff`.
pub const USAGE_PAUSE: Duration = Duration::from_secs(120);
/// App pause at [`USAGE_LONG_PAUSE_PERCENT`] (Airbyte: 10 minutes), capped by `max_backoff`.
pub const USAGE_LONG_PAUSE: Duration = Duration::from_secs(600);
/// Sends remembered to measure the actual send rate.
const MEASURE_WINDOW: Duration = Duration::from_secs(5);

/// One Page's (or the app's) rate controller.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Configured calls per second; `None`: no configured ceiling.
    max_rate: Option<f64>,
    /// One caller at a time waits for the next slot, in FIFO order (tokio's mutex is fair):
    /// slots are taken in order and no two waiters wake for the same one.
    turn: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    last_send: Option<Instant>,
    paused_until: Instant,
    /// The last throttle event: when, and the rate that was throttled.
    cut: Option<(Instant, f64)>,
    /// Recent send times (for the measured rate).
    recent: VecDeque<Instant>,
    /// The last Page usage readings, newest last.
    readings: VecDeque<f64>,
    /// Consecutive high app usage readings.
    high_app_readings: usize,
    /// The next slot waits one extra interval (a single very high usage reading).
    hold_once: bool,
}

impl Pacer {
    /// A controller for `rate` calls per second; `rate <= 0` or non-finite means no ceiling.
    pub fn new(rate: f64) -> Pacer {
        Pacer {
            max_rate: (rate.is_finite() && rate > 0.0).then_some(rate),
            turn: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::new(Instant::now())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few numbers updated in single assignments: a panic elsewhere cannot
        // leave it inconsistent, and pacing must never be switched off by one.
        tributary_core::sync::lock(&self.state)
    }

    /// Waits for this Page's next send slot (and then for `app`'s, if given), records the send
    /// and returns how long the caller waited.
    pub async fn acquire(&self, app: Option<&Pacer>) -> Duration {
        let start = Instant::now();
        let _turn = self.turn.lock().await;
        loop {
            let at = self.lock().next_slot(self.max_rate, Instant::now());
            if at > Instant::now() {
                tokio::time::sleep_until(at).await;
                // A pause or a cut may have arrived while sleeping: compute again.
                continue;
            }
            if let Some(app) = app {
                Box::pin(app.acquire(None)).await;
                // The app gate may have held us; a Page pause set meanwhile still holds.
                if self.lock().paused_until > Instant::now() {
                    continue;
                }
            }
            self.lock().record_send(Instant::now());
            return start.elapsed();
        }
    }

    /// A throttle answered a call of this Page (or app): cut the rate (once per event) and
    /// pause everyone for `pause`.
    pub fn on_throttle(&self, pause: Duration) {
        self.lock()
            .on_throttle(self.max_rate, Instant::now(), pause);
    }

    /// Pauses every caller until at least `until`.
    pub fn pause_until(&self, until: Instant) {
        let mut s = self.lock();
        s.paused_until = s.paused_until.max(until);
    }

    /// A Page usage reading (percent). Returns true when it holds the Page (a very high
    /// single reading).
    pub fn on_page_usage(&self, percent: f64) -> bool {
        self.lock().on_page_usage(percent)
    }

    /// How long to pause the app for an app usage reading that asks for `full`: the full
    /// pause once [`USAGE_READINGS`] readings in a row were high (or Meta named a regain
    /// time), otherwise a short one (a spike after a burst must not stall the run).
    pub fn app_usage_pause(&self, full: Duration, explicit_regain: bool) -> Duration {
        let mut s = self.lock();
        if full.is_zero() {
            s.high_app_readings = 0;
            return full;
        }
        s.high_app_readings += 1;
        if explicit_regain || s.high_app_readings >= USAGE_READINGS {
            return full;
        }
        Duration::from_secs(1).min(full)
    }
}

impl State {
    fn new(now: Instant) -> State {
        State {
            last_send: None,
            paused_until: now,
            cut: None,
            recent: VecDeque::new(),
            readings: VecDeque::new(),
            high_app_readings: 0,
            hold_once: false,
        }
    }

    fn on_throttle(&mut self, max: Option<f64>, now: Instant, pause: Duration) {
        self.paused_until = self.paused_until.max(now + pause);
        if self
            .cut
            .is_some_and(|(at, _)| now.saturating_duration_since(at) < CUT_HOLD)
        {
            return;
        }
        let allowed = self.rate(max, now);
        let measured = self.measured_rate(now);
        let throttled = match (allowed, measured) {
            (Some(a), Some(m)) => a.min(m),
            (a, m) => match a.or(m) {
                Some(r) => r,
                // The app gate before it has seen enough sends to measure: nothing to cut.
                None => return,
            },
        };
        let floor = max.map_or(0.0, |m| m * MIN_RATE_FRACTION);
        self.cut = Some((now, throttled.max(floor)));
    }

    fn on_page_usage(&mut self, percent: f64) -> bool {
        if !percent.is_finite() {
            return false;
        }
        self.readings.push_back(percent);
        while self.readings.len() > USAGE_READINGS {
            self.readings.pop_front();
        }
        let hold = percent >= USAGE_HOLD_PERCENT && !self.usage_is_window_fill();
        self.hold_once |= hold;
        hold
    }

    /// The usage readings describe a short window's fill, not a pool about to run out: a call
    /// succeeded right after a reading of 100 % (readings are only taken from successful
    /// calls). A limiter that reports how full its one-second window is reads 100 % after
    /// every call of a client paced at its limit; believing it would halve the rate, or stall
    /// the Page at its floor, for nothing.
    fn usage_is_window_fill(&self) -> bool {
        let n = self.readings.len();
        n >= 2 && self.readings.range(n - 2..).all(|p| *p >= 100.0)
    }

    /// The earliest moment the next call may go.
    fn next_slot(&mut self, max: Option<f64>, now: Instant) -> Instant {
        let mut at = self.paused_until.max(now);
        let rate = self.rate(max, now);
        if let (Some(last), Some(rate)) = (self.last_send, rate) {
            let mut spacing = Duration::from_secs_f64((1.0 + PACING_MARGIN) / rate);
            if self.hold_once {
                spacing *= 2;
            }
            at = at.max(last + spacing);
        } else if self.hold_once
            && let Some(last) = self.last_send
        {
            // No rate to skip a slot of: hold one second instead.
            at = at.max(last + Duration::from_secs(1));
        }
        at
    }

    fn record_send(&mut self, now: Instant) {
        self.last_send = Some(now);
        self.hold_once = false;
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > MEASURE_WINDOW)
        {
            self.recent.pop_front();
        }
    }

    /// Sends per second over the recent window (at least 3 sends needed).
    fn measured_rate(&self, now: Instant) -> Option<f64> {
        let first = *self.recent.front()?;
        let n = self.recent.len();
        let span = now.saturating_duration_since(first).as_secs_f64();
        (n >= 3 && span > 0.0).then(|| (n - 1) as f64 / span)
    }

    /// The allowed rate now: the configured one, lowered by the last cut and by sustained
    /// high usage.
    fn rate(&mut self, max: Option<f64>, now: Instant) -> Option<f64> {
        let mut rate = max;
        if let Some((at, throttled)) = self.cut {
            let t = now.saturating_duration_since(at);
            match cubic_recovery(throttled, t) {
                Some(r) => rate = Some(rate.map_or(r, |m| m.min(r))),
                // Far beyond what was throttled: the cut is forgotten.
                None => self.cut = None,
            }
        }
        if self.readings.len() >= USAGE_READINGS && !self.usage_is_window_fill() {
            let low = self.readings.iter().copied().fold(f64::INFINITY, f64::min);
            if low >= USAGE_SLOW_PERCENT {
                let scale = ((USAGE_STOP_PERCENT - low)
                    / (USAGE_STOP_PERCENT - USAGE_SLOW_PERCENT))
                    .clamp(MIN_RATE_FRACTION, 1.0);
                // Without a configured rate, scale what the Page actually does.
                let base = rate.or_else(|| self.measured_rate(now)).unwrap_or(1.0);
                rate = Some(base * scale);
            }
        }
        // A cut and high usage together never push a Page below its floor: one call every
        // 17.6 s at 2/s is slow enough to let any limiter recover, and still probes it.
        match (rate, max) {
            (Some(r), Some(m)) => Some(r.max(m * MIN_RATE_FRACTION)),
            (r, _) => r,
        }
    }
}

/// The rate `t` after a cut of a throttled rate `w`: a concave climb from `β·w` to the
/// plateau, a hold, then a convex probe upwards. `None` once the probe has reached 4·w (the
/// cut no longer says anything; only the configured ceiling applies).
fn cubic_recovery(w: f64, t: Duration) -> Option<f64> {
    let low = THROTTLE_BETA * w;
    let plateau = PLATEAU * w;
    let k = RECOVERY.as_secs_f64();
    let t = t.as_secs_f64();
    if t < k {
        let x = 1.0 - t / k;
        return Some(plateau - (plateau - low) * x * x * x);
    }
    let t = t - k;
    let hold = HOLD.as_secs_f64();
    if t < hold {
        return Some(plateau);
    }
    let x = (t - hold) / k;
    let r = plateau * (1.0 + 0.1 * x * x * x);
    (r < 4.0 * w).then_some(r)
}

/// What the usage headers of one response say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// Highest percentage in `X-Business-Use-Case-Usage` / `X-Page-Usage` (Page-level pools).
    pub page_percent: Option<f64>,
    /// Highest percentage in `X-App-Usage` (app-wide).
    pub app_percent: Option<f64>,
    /// Largest `estimated_time_to_regain_access` (minutes).
    pub regain_minutes: f64,
}

impl Usage {
    /// Parses the three usage headers. Absent headers are not 0%: they are simply unknown.
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

    /// `estimated_time_to_regain_access`, capped; zero when absent.
    pub fn regain(&self, cap: Duration) -> Duration {
        if self.regain_minutes.is_finite() && self.regain_minutes > 0.0 {
            Duration::from_secs_f64(self.regain_minutes * 60.0).min(cap)
        } else {
            Duration::ZERO
        }
    }

    /// How long the app usage asks every Page to pause (Airbyte's thresholds), capped.
    pub fn app_pause(&self, cap: Duration) -> Duration {
        match self.app_percent {
            Some(p) if p >= USAGE_LONG_PAUSE_PERCENT => USAGE_LONG_PAUSE.min(cap),
            Some(p) if p >= USAGE_PAUSE_PERCENT => USAGE_PAUSE.min(cap),
            _ => Duration::ZERO,
        }
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
        assert_eq!(u.regain(cap), Duration::from_secs(180));
        assert_eq!(u.app_pause(cap), USAGE_LONG_PAUSE);
        assert_eq!(u.regain(Duration::from_secs(5)), Duration::from_secs(5));
        assert_eq!(u.app_pause(Duration::from_secs(5)), Duration::from_secs(5));
    }

    #[test]
    fn low_or_absent_usage_means_no_pause() {
        let u = Usage::from_headers(&HeaderMap::new());
        assert_eq!(u, Usage::default());
        assert_eq!(u.regain(Duration::from_secs(600)), Duration::ZERO);
        assert_eq!(u.app_pause(Duration::from_secs(600)), Duration::ZERO);
        let mut h = HeaderMap::new();
        h.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":84}"#),
        );
        assert_eq!(
            Usage::from_headers(&h).app_pause(Duration::from_secs(600)),
            Duration::ZERO
        );
    }

    #[test]
    fn a_single_high_app_reading_pauses_briefly_and_a_persistent_one_fully() {
        let pacer = Pacer::new(0.0);
        let full = USAGE_PAUSE;
        assert_eq!(pacer.app_usage_pause(full, false), Duration::from_secs(1));
        assert_eq!(pacer.app_usage_pause(Duration::ZERO, false), Duration::ZERO);
        assert_eq!(pacer.app_usage_pause(full, false), Duration::from_secs(1));
        assert_eq!(pacer.app_usage_pause(full, false), Duration::from_secs(1));
        assert_eq!(pacer.app_usage_pause(full, false), full, "third in a row");
        assert_eq!(Pacer::new(0.0).app_usage_pause(full, true), full);
    }

    #[test]
    fn recovery_climbs_to_the_plateau_holds_then_probes_and_forgets() {
        let w = 2.0;
        let at = |s: f64| cubic_recovery(w, Duration::from_secs_f64(s));
        assert!((at(0.0).unwrap() - THROTTLE_BETA * w).abs() < 1e-9);
        let mut last = 0.0;
        for i in 0..=100 {
            let r = at(f64::from(i) * 0.1).unwrap();
            assert!(r >= last, "monotonic at {i}");
            last = r;
        }
        assert!((at(10.0).unwrap() - PLATEAU * w).abs() < 1e-9);
        assert!((at(39.0).unwrap() - PLATEAU * w).abs() < 1e-9);
        assert!(at(55.0).unwrap() > PLATEAU * w);
        assert!(
            at(1000.0).is_none(),
            "forgotten far beyond the throttled rate"
        );
    }

    const MS: Duration = Duration::from_millis(1);

    /// Sends `n` calls back to back on a State as the async loop would (compute the slot,
    /// "sleep" until it, take it), from virtual time `from`; returns the send times.
    fn send(s: &mut State, max: Option<f64>, from: Instant, n: usize) -> Vec<Instant> {
        let mut now = from;
        (0..n)
            .map(|_| {
                now = s.next_slot(max, now);
                s.record_send(now);
                now
            })
            .collect()
    }

    #[test]
    fn calls_are_spaced_by_the_rate_plus_margin() {
        let t0 = Instant::now();
        let mut s = State::new(t0);
        let times = send(&mut s, Some(2.0), t0, 5);
        assert_eq!(times[0], t0, "the first call goes at once");
        for w in times.windows(2) {
            assert_eq!(w[1] - w[0], 525 * MS);
        }
    }

    #[test]
    fn a_throttle_cuts_the_rate_once_per_event_and_it_recovers_to_the_plateau() {
        let t0 = Instant::now();
        let mut s = State::new(t0);
        let max = Some(2.0);
        let times = send(&mut s, max, t0, 6);
        let at = *times.last().unwrap();
        s.on_throttle(max, at, 100 * MS);
        let cut = s.rate(max, at).unwrap();
        // Throttled at the measured 2/1.05 per second.
        assert!((cut - THROTTLE_BETA * 2.0 / 1.05).abs() < 0.01, "{cut}");
        assert!(s.next_slot(max, at) >= at + 100 * MS, "paused");
        s.on_throttle(max, at + 200 * MS, 100 * MS);
        // Part of the same event: no second cut (the rate is already climbing back).
        assert!(s.rate(max, at + 200 * MS).unwrap() > cut, "same event");
        let later = at + RECOVERY + Duration::from_secs(1);
        let back = s.rate(max, later).unwrap();
        assert!((back - PLATEAU * 2.0 / 1.05).abs() < 0.01, "{back}");
        let probed = later + HOLD + RECOVERY * 3;
        assert_eq!(
            s.rate(max, probed),
            Some(2.0),
            "probed back to the configured rate"
        );
    }

    #[test]
    fn the_app_gate_paces_nothing_until_a_throttle_teaches_it_a_rate() {
        let t0 = Instant::now();
        let mut s = State::new(t0);
        // 10 sends 100 ms apart: measured 10/s.
        for i in 0..10u32 {
            s.record_send(t0 + MS * (i * 100));
        }
        assert_eq!(s.rate(None, t0 + 900 * MS), None);
        s.on_throttle(None, t0 + 900 * MS, Duration::ZERO);
        let r = s.rate(None, t0 + 900 * MS).unwrap();
        assert!((r - THROTTLE_BETA * 10.0).abs() < 0.01, "{r}");
        assert_eq!(
            s.rate(None, t0 + Duration::from_secs(1000)),
            None,
            "forgotten"
        );
    }

    #[test]
    fn sustained_high_usage_slows_the_page_and_a_spike_does_not() {
        let t0 = Instant::now();
        let mut s = State::new(t0);
        let max = Some(2.0);
        for pct in [50.0, 100.0, 50.0] {
            s.on_page_usage(pct);
        }
        assert_eq!(s.rate(max, t0), Some(2.0), "a spike is not sustained");
        for pct in [89.0, 90.0, 92.0] {
            s.on_page_usage(pct);
        }
        let r = s.rate(max, t0).unwrap();
        assert!((r - 2.0 * (98.0 - 89.0) / 18.0).abs() < 1e-9, "{r}");
        for pct in [98.0, 99.0, 99.5] {
            s.on_page_usage(pct);
        }
        assert_eq!(s.rate(max, t0), Some(2.0 * MIN_RATE_FRACTION));
    }

    #[test]
    fn a_limiter_reporting_its_one_second_fill_does_not_slow_the_page() {
        // A strict 2-per-second window that reports its fill: 100 % after every call of a
        // client at its limit, and the next call still succeeds.
        let t0 = Instant::now();
        let mut s = State::new(t0);
        let max = Some(2.0);
        s.record_send(t0);
        assert!(
            s.on_page_usage(100.0),
            "the first full reading may be a pool: hold"
        );
        s.record_send(t0 + 1050 * MS);
        for i in 2..6u32 {
            assert!(
                !s.on_page_usage(100.0),
                "a success after 100 %: a window's fill"
            );
            s.record_send(t0 + MS * (1050 + 525 * i));
        }
        assert_eq!(s.rate(max, t0 + Duration::from_secs(5)), Some(2.0));
        let last = t0 + MS * (1050 + 525 * 5);
        assert_eq!(s.next_slot(max, last), last + 525 * MS);
    }

    #[test]
    fn a_single_very_high_reading_skips_one_slot() {
        let t0 = Instant::now();
        let mut s = State::new(t0);
        let max = Some(2.0);
        s.record_send(t0);
        assert!(!s.on_page_usage(84.0));
        assert!(s.on_page_usage(86.0));
        assert_eq!(s.next_slot(max, t0), t0 + 1050 * MS);
        s.record_send(t0 + 1050 * MS);
        assert_eq!(
            s.next_slot(max, t0 + 1050 * MS),
            t0 + 1575 * MS,
            "only once"
        );
    }

    #[tokio::test]
    async fn a_pause_set_while_waiting_holds_and_calls_resume_one_interval_apart() {
        // Real time, 20 calls/s: slots 52.5 ms apart.
        let p = std::sync::Arc::new(Pacer::new(20.0));
        p.acquire(None).await;
        let start = Instant::now();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.acquire(None).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        p.pause_until(start + Duration::from_millis(300));
        for w in waiters {
            w.await.unwrap();
        }
        // The pacer's own record of when it let each call go.
        let sent: Vec<Instant> = p.lock().recent.iter().copied().skip(1).collect();
        assert_eq!(sent.len(), 3);
        assert!(sent[0] >= start + Duration::from_millis(300), "{sent:?}");
        for w in sent.windows(2) {
            assert!(w[1] - w[0] >= 52 * MS, "{sent:?}");
        }
    }

    /// The property the whole design rests on: whatever happens — several callers, throttles,
    /// pauses, usage readings, cuts and recoveries — the sends of one Page never put N + 1
    /// calls into any rolling window of N / rate seconds. A discrete-event run of the same
    /// state machine the async loop drives (compute the slot, sleep until it or until an
    /// event, compute again), in virtual time.
    #[test]
    fn never_more_than_the_configured_calls_in_any_rolling_window() {
        use rand::{RngExt, SeedableRng};
        for seed in 0..200u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let rate = [0.5, 2.0, 2.5, 3.0, 20.0][rng.random_range(0..5)];
            let max = Some(rate);
            let t0 = Instant::now();
            let mut s = State::new(t0);
            let callers = rng.random_range(1..6);
            // When each caller next wants to send (FIFO by readiness, like the turnstile).
            let mut ready: Vec<Instant> = vec![t0; callers];
            // Pending responses: (arrival, kind).
            let mut events: Vec<(Instant, u8)> = Vec::new();
            let mut sent = Vec::new();
            let mut now = t0;
            while sent.len() < 300 {
                let (who, &r) = ready
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, t)| **t)
                    .expect("callers");
                now = now.max(r);
                let at = s.next_slot(max, now);
                let next_event = events.iter().map(|e| e.0).min();
                match next_event {
                    Some(e) if e < at => {
                        // Something happens while the caller sleeps: apply it, compute again.
                        now = now.max(e);
                        let i = events.iter().position(|x| x.0 == e).expect("event");
                        let (_, kind) = events.swap_remove(i);
                        match kind {
                            0 => s.on_throttle(max, now, MS * rng.random_range(0..3000u32)),
                            1..=4 => {
                                s.on_page_usage(rng.random_range(0.0..110.0));
                            }
                            _ => {}
                        }
                    }
                    _ => {
                        now = at;
                        s.record_send(now);
                        sent.push(now);
                        let latency = MS * rng.random_range(0..400u32);
                        events.push((now + latency, rng.random_range(0..20)));
                        ready[who] = now + latency;
                    }
                }
            }
            let n = (rate.floor() as usize).max(1);
            let window = Duration::from_secs_f64(n as f64 / rate);
            for w in sent.windows(n + 1) {
                assert!(
                    w[n] - w[0] > window,
                    "seed {seed}, rate {rate}: {} calls within {:?}",
                    n + 1,
                    w[n] - w[0]
                );
            }
        }
    }
}
