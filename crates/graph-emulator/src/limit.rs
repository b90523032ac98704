//! The rate limiters: one per Page, of the shape [`LimiterModel`] picks, and an optional
//! app-wide one across all Pages.
//!
//! Meta documents *what* the Conversations API allows (2 calls per second per Page) but not
//! *how* it counts, so the emulator offers several honest readings of that sentence. A client
//! tested against only one of them learns that one's quirks: the test suite and the pacing
//! benchmark run the Graph source against every model.
//!
//! Every model counts the calls it throttled in the ground truth (`Stats::throttled_by_code`,
//! `PageStats::throttled`), through the normal error path.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::LimiterModel;

/// What the Page limiter decided for one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Admission {
    /// The call may proceed.
    pub allowed: bool,
    /// Usage to report in `X-Business-Use-Case-Usage` (percent, may exceed 100).
    pub usage: u64,
    /// `estimated_time_to_regain_access` in minutes (0 unless blocked by the usage pool).
    pub regain_minutes: f64,
    /// The call was refused by the usage pool (answered with 80006), not the per-second limit.
    pub by_pool: bool,
}

/// Token bucket for one Page (or the app).
#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(capacity: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: capacity,
            last: now,
        }
    }

    pub fn refill(&mut self, rate: f64, capacity: f64, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(capacity);
        self.last = now;
    }

    /// Takes a token if there is one.
    pub fn take(&mut self) -> bool {
        let ok = self.tokens >= 1.0;
        if ok {
            self.tokens -= 1.0;
        }
        ok
    }

    /// Takes a token even if there is none (usage only; never below empty).
    pub fn drain_one(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    /// Usage as a percentage of the bucket in use.
    pub fn usage(&self, capacity: f64) -> u64 {
        (((capacity - self.tokens) / capacity) * 100.0)
            .round()
            .max(0.0) as u64
    }
}

/// Call times in a rolling window.
#[derive(Debug, Default)]
pub(crate) struct Log {
    times: VecDeque<Instant>,
}

impl Log {
    fn prune(&mut self, window: Duration, now: Instant) {
        while let Some(&t) = self.times.front() {
            if now.saturating_duration_since(t) >= window {
                self.times.pop_front();
            } else {
                break;
            }
        }
    }

    /// Calls in the window ending now.
    fn count(&mut self, window: Duration, now: Instant) -> usize {
        self.prune(window, now);
        self.times.len()
    }

    fn push(&mut self, now: Instant) {
        self.times.push_back(now);
    }

    /// How long until the window holds fewer than `budget` calls (0 if it already does).
    fn time_to_below(&self, budget: usize, window: Duration, now: Instant) -> Duration {
        let n = self.times.len();
        if n < budget {
            return Duration::ZERO;
        }
        // The (n - budget + 1)th oldest call must leave the window.
        self.times.get(n - budget).map_or(Duration::ZERO, |&t| {
            (t + window).saturating_duration_since(now)
        })
    }
}

/// One Page's limiter state (each model uses its own part).
#[derive(Debug)]
struct PageLimit {
    bucket: Bucket,
    log: Log,
    /// Fixed windows: index of the current window and calls counted in it.
    fixed: (u64, usize),
}

/// Every Page's limiter and the app-wide one.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    pages: HashMap<u32, PageLimit>,
    app_log: Log,
}

/// Calls allowed in a window of `window` at `rate` per second (at least one).
pub(crate) fn calls_per_window(rate: f64, window: Duration) -> usize {
    ((rate * window.as_secs_f64()).floor() as usize).max(1)
}

impl Limits {
    /// Admits (or not) one call of `page` under `model` at `rate` calls per second.
    pub fn admit_page(
        &mut self,
        model: LimiterModel,
        rate: f64,
        page: u32,
        now: Instant,
    ) -> Admission {
        let cap = rate.max(1.0);
        let p = self.pages.entry(page).or_insert_with(|| PageLimit {
            bucket: Bucket::new(cap, now),
            log: Log::default(),
            fixed: (0, 0),
        });
        let allow = |allowed: bool, usage: u64| Admission {
            allowed,
            usage,
            regain_minutes: 0.0,
            by_pool: false,
        };
        match model {
            LimiterModel::TokenBucket => {
                p.bucket.refill(rate, cap, now);
                let allowed = p.bucket.take();
                allow(allowed, p.bucket.usage(cap))
            }
            LimiterModel::SlidingWindow { window } => {
                let n = calls_per_window(rate, window);
                let allowed = p.log.count(window, now) < n;
                if allowed {
                    p.log.push(now);
                }
                allow(allowed, rolling_hour_usage(&mut p.log, now, window, n))
            }
            LimiterModel::FixedWindow { window } => {
                let n = calls_per_window(rate, window);
                let index = wall_window_index(window);
                if p.fixed.0 != index {
                    p.fixed = (index, 0);
                }
                let allowed = p.fixed.1 < n;
                if allowed {
                    p.fixed.1 += 1;
                    p.log.push(now);
                }
                allow(allowed, rolling_hour_usage(&mut p.log, now, window, n))
            }
            LimiterModel::Usage { window, budget } => {
                // The per-second limit still holds (a token bucket, as Meta's 2/s), and on
                // top of it a business-use-case pool over a longer window.
                let budget = budget.max(1) as usize;
                let in_pool = p.log.count(window, now);
                // Every call counts towards the pool, throttled ones included: a client that
                // keeps calling while blocked extends its own block (Meta's escalation).
                p.log.push(now);
                let usage = ((in_pool + 1) * 100).div_ceil(budget) as u64;
                if in_pool >= budget {
                    let wait = p.log.time_to_below(budget, window, now);
                    return Admission {
                        allowed: false,
                        usage: usage.max(100),
                        regain_minutes: minutes_up(wait),
                        by_pool: true,
                    };
                }
                p.bucket.refill(rate, cap, now);
                allow(p.bucket.take(), usage)
            }
        }
    }

    /// Admits one call against an app-wide limit of `rate` calls in any rolling second.
    pub fn admit_app(&mut self, rate: f64, now: Instant) -> bool {
        let n = calls_per_window(rate, Duration::from_secs(1));
        let ok = self.app_log.count(Duration::from_secs(1), now) < n;
        if ok {
            self.app_log.push(now);
        }
        ok
    }
}

/// Index of the wall-clock window of length `window` holding now (windows start at multiples
/// of `window` since the Unix epoch, as a naive "per second" counter would).
fn wall_window_index(window: Duration) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    (now / window.as_nanos().max(1)) as u64
}

/// Usage over a rolling hour, as Graph reports it for its short-window models: the
/// percentage of an hour's allowance (`n` per `window`) used in the last hour. The log keeps
/// only what the usage needs: the last hour of admitted calls.
fn rolling_hour_usage(log: &mut Log, now: Instant, window: Duration, n: usize) -> u64 {
    const HOUR: Duration = Duration::from_secs(3600);
    let used = log.count(HOUR, now) as f64;
    let allowance = n as f64 * HOUR.as_secs_f64() / window.as_secs_f64().max(1e-3);
    ((used / allowance) * 100.0).round() as u64
}

/// Minutes, rounded up to a hundredth (Graph reports whole minutes; the emulator's windows
/// are short enough that whole minutes would overstate every wait).
fn minutes_up(d: Duration) -> f64 {
    (d.as_secs_f64() / 60.0 * 100.0).ceil() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn sliding_window_allows_n_in_any_window() {
        let mut l = Limits::default();
        let t0 = Instant::now();
        let m = LimiterModel::SlidingWindow {
            window: Duration::from_secs(1),
        };
        assert!(l.admit_page(m, 2.0, 0, t0).allowed);
        assert!(l.admit_page(m, 2.0, 0, t0 + 500 * MS).allowed);
        // A third call 999 ms after the first: three in one rolling second.
        assert!(!l.admit_page(m, 2.0, 0, t0 + 999 * MS).allowed);
        assert!(l.admit_page(m, 2.0, 0, t0 + 1000 * MS).allowed);
        // Another Page has its own window.
        assert!(l.admit_page(m, 2.0, 1, t0 + 1000 * MS).allowed);
    }

    #[test]
    fn usage_pool_blocks_at_its_budget_and_calls_while_blocked_extend_the_block() {
        let mut l = Limits::default();
        let t0 = Instant::now();
        let m = LimiterModel::Usage {
            window: Duration::from_secs(10),
            budget: 3,
        };
        // Spaced so the per-second bucket never refuses.
        for i in 0..3 {
            let a = l.admit_page(m, 2.0, 0, t0 + i * 600 * MS);
            assert!(a.allowed, "call {i}");
            assert_eq!(a.usage, u64::from((i + 1) * 100).div_ceil(3));
        }
        let blocked = l.admit_page(m, 2.0, 0, t0 + 2000 * MS);
        assert!(!blocked.allowed && blocked.by_pool);
        assert!(blocked.regain_minutes > 0.0);
        // At +10.1 s the first call has left the window, but the blocked call at +2 s still
        // counts (and so does this one): blocked again. By +13 s only the call at +10.1 s is left.
        assert!(!l.admit_page(m, 2.0, 0, t0 + 10_100 * MS).allowed);
        assert!(l.admit_page(m, 2.0, 0, t0 + 13_000 * MS).allowed);
    }

    #[test]
    fn app_limit_counts_all_pages_together() {
        let mut l = Limits::default();
        let t0 = Instant::now();
        assert!(l.admit_app(3.0, t0));
        assert!(l.admit_app(3.0, t0 + MS));
        assert!(l.admit_app(3.0, t0 + 2 * MS));
        assert!(!l.admit_app(3.0, t0 + 3 * MS));
        assert!(l.admit_app(3.0, t0 + 1001 * MS));
    }
}
