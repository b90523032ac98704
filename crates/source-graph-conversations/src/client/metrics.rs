//! Counters a CLI can show while a run progresses: cheap relaxed atomics behind one `Arc`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::model::UnitKey;

/// Receives per-unit progress as it happens (the plugin forwards it to the runtime's
/// telemetry, which drives progress bars and the run summary).
pub trait UnitObserver: Send + Sync + std::fmt::Debug + 'static {
    /// Called once when a unit starts; the probe receives that unit's events.
    fn probe(&self, unit: &UnitKey) -> std::sync::Arc<dyn UnitProbe>;
}

/// One unit's events. Every method defaults to doing nothing.
pub trait UnitProbe: Send + Sync {
    /// A request was sent.
    fn api_call(&self) {}
    /// A request failed and will be retried after `wait` (`throttle`: it was a rate limit).
    fn retry(&self, wait: std::time::Duration, throttle: bool) {
        let _ = (wait, throttle);
    }
    /// The unit waited `wait` for its Page's send slot (pacing, pauses, the app gate).
    fn waited(&self, wait: std::time::Duration) {
        let _ = wait;
    }
    /// The unit's Page pauses for `wait` (usage headers).
    fn pause(&self, wait: std::time::Duration) {
        let _ = wait;
    }
    /// `n` threads were emitted.
    fn rows(&self, n: u64) {
        let _ = n;
    }
    /// The unit was read to the end.
    fn done(&self) {}
}

/// A probe that ignores everything.
pub(crate) struct NoProbe;

impl UnitProbe for NoProbe {}

/// What the client has done so far. Shared (`Arc<SourceMetrics>`), updated as it runs.
#[derive(Debug, Default)]
pub struct SourceMetrics {
    /// HTTP requests sent (retries included).
    pub api_calls: AtomicU64,
    /// Requests retried (transient errors, throttles, transport errors, page-size reductions).
    pub retries: AtomicU64,
    /// Throttle responses received (codes 4, 17, 32, 341, 613, 80000–80014).
    pub throttles: AtomicU64,
    /// Proactive pauses triggered by usage headers.
    pub usage_pauses: AtomicU64,
    /// Times `limit` was halved after "reduce the amount of data".
    pub page_size_reductions: AtomicU64,
    /// Threads emitted.
    pub threads: AtomicU64,
    /// Threads dropped as duplicates (same id, not newer).
    pub duplicates: AtomicU64,
    /// Extra walks from the top after the listing moved under a walk.
    pub rewalks: AtomicU64,
    /// Units finished.
    pub units_done: AtomicU64,
    per_unit: Mutex<BTreeMap<UnitKey, u64>>,
}

/// A plain copy of [`SourceMetrics`] at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// See [`SourceMetrics::api_calls`].
    pub api_calls: u64,
    /// See [`SourceMetrics::retries`].
    pub retries: u64,
    /// See [`SourceMetrics::throttles`].
    pub throttles: u64,
    /// See [`SourceMetrics::usage_pauses`].
    pub usage_pauses: u64,
    /// See [`SourceMetrics::page_size_reductions`].
    pub page_size_reductions: u64,
    /// See [`SourceMetrics::threads`].
    pub threads: u64,
    /// See [`SourceMetrics::duplicates`].
    pub duplicates: u64,
    /// See [`SourceMetrics::rewalks`].
    pub rewalks: u64,
    /// See [`SourceMetrics::units_done`].
    pub units_done: u64,
}

impl SourceMetrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn unit_threads(&self, unit: &UnitKey, n: u64) {
        *self.lock_per_unit().entry(unit.clone()).or_default() += n;
    }

    /// Threads emitted per unit so far.
    pub fn threads_per_unit(&self) -> BTreeMap<UnitKey, u64> {
        self.lock_per_unit().clone()
    }

    /// A poisoned map is still the right count: each write is one addition.
    fn lock_per_unit(&self) -> MutexGuard<'_, BTreeMap<UnitKey, u64>> {
        tributary_core::sync::lock(&self.per_unit)
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            api_calls: g(&self.api_calls),
            retries: g(&self.retries),
            throttles: g(&self.throttles),
            usage_pauses: g(&self.usage_pauses),
            page_size_reductions: g(&self.page_size_reductions),
            threads: g(&self.threads),
            duplicates: g(&self.duplicates),
            rewalks: g(&self.rewalks),
            units_done: g(&self.units_done),
        }
    }
}
