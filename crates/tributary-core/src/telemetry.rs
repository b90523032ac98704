//! Live counters that running components report, read by the CLI's progress bars, the end-of-run
//! summary and the JSON report (`tributary run --report`).
//!
//! A component asks [`Telemetry::counters`] for the counters of one of its units (for the Graph
//! source, a unit is `(page, platform, folder)`; sinks use one unit for the whole component) and
//! bumps them with relaxed atomics: reporting never blocks or allocates on the hot path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The counters of one unit of work of one component.
#[derive(Debug, Default)]
pub struct Counters {
    /// `sources.ID` / `sinks.ID`.
    pub component: String,
    /// The unit (`104857600000001 instagram inbox`), or empty for the component as a whole.
    pub unit: String,
    /// A source's unit: rows it read (threads for the Graph source), before any transform. A
    /// sink: rows handed to it while it runs, then the rows it wrote (its report's `rows`).
    pub rows: AtomicU64,
    /// API calls made (retries included).
    pub api_calls: AtomicU64,
    /// Requests retried.
    pub retries: AtomicU64,
    /// Throttle responses received.
    pub throttles: AtomicU64,
    /// Files committed (sinks).
    pub files: AtomicU64,
    /// Bytes written (sinks).
    pub bytes: AtomicU64,
    /// Milliseconds this unit spent waiting for the API's rate limit: its send slots, pauses
    /// and throttle backoffs.
    pub wait_ms: AtomicU64,
    /// Unix time in milliseconds until which the unit waits (throttle or backoff); 0 = not waiting.
    pub waiting_until_ms: AtomicU64,
    /// The unit is finished.
    pub done: AtomicBool,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Marks the unit as waiting for `duration` from now (a throttle wait or a backoff).
    pub fn wait_for(&self, duration: std::time::Duration) {
        let until = now_ms().saturating_add(duration.as_millis() as u64);
        self.waiting_until_ms.store(until, Ordering::Relaxed);
    }

    /// Seconds left of the current wait, if any.
    pub fn wait_left_secs(&self) -> Option<f64> {
        let until = self.waiting_until_ms.load(Ordering::Relaxed);
        let now = now_ms();
        (until > now).then(|| (until - now) as f64 / 1000.0)
    }

    /// A plain copy.
    pub fn snapshot(&self) -> UnitReport {
        UnitReport {
            component: self.component.clone(),
            unit: self.unit.clone(),
            rows: self.rows.load(Ordering::Relaxed),
            api_calls: self.api_calls.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttles: self.throttles.load(Ordering::Relaxed),
            wait_ms: self.wait_ms.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A copy of one unit's counters, as it appears in the run report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnitReport {
    /// `sources.ID` / `sinks.ID`.
    pub component: String,
    /// The unit, or empty for the whole component.
    pub unit: String,
    /// A source's unit: rows it read, before any transform (the whole-source unit `""`: the
    /// source's total). A sink: rows it wrote, as in its [`SinkReport`](crate::plugin::SinkReport).
    pub rows: u64,
    /// API calls made.
    pub api_calls: u64,
    /// Requests retried.
    pub retries: u64,
    /// Throttle responses received.
    pub throttles: u64,
    /// Milliseconds spent waiting for the rate limit (send slots, pauses, throttle backoffs).
    #[serde(default)]
    pub wait_ms: u64,
    /// Files committed.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// The units in creation order, and where each (component, unit) is in it.
#[derive(Debug, Default)]
struct Units {
    order: Vec<Arc<Counters>>,
    index: HashMap<(String, String), usize>,
}

/// Every unit's counters for one run.
#[derive(Debug, Default)]
pub struct Telemetry {
    units: Mutex<Units>,
    /// Units each component announced it will work through (progress: units done of total).
    planned: Mutex<Vec<(String, u64)>>,
}

impl Telemetry {
    /// The counters of `unit` of `component`, created on first use.
    pub fn counters(&self, component: &str, unit: &str) -> Arc<Counters> {
        let mut units = crate::sync::lock(&self.units);
        // Indexed, not searched: a source with 1,000 Pages has 8,000 units, and a scan per new
        // unit was quadratic (a tenth of such a run's CPU went to comparing names).
        let key = (component.to_owned(), unit.to_owned());
        if let Some(&i) = units.index.get(&key) {
            return units.order[i].clone();
        }
        let c = Arc::new(Counters {
            component: key.0.clone(),
            unit: key.1.clone(),
            ..Counters::default()
        });
        let i = units.order.len();
        units.order.push(c.clone());
        units.index.insert(key, i);
        c
    }

    /// Every unit so far, in creation order.
    pub fn units(&self) -> Vec<Arc<Counters>> {
        crate::sync::lock(&self.units).order.clone()
    }

    /// Copies of every unit's counters, in creation order.
    pub fn snapshot(&self) -> Vec<UnitReport> {
        self.units().iter().map(|c| c.snapshot()).collect()
    }

    /// Announces that `component` will work through `units` units (the Graph source: its
    /// pages × platforms × folders), so progress can show units done of the total. Announcing
    /// again replaces the number.
    pub fn plan(&self, component: &str, units: u64) {
        let mut planned = crate::sync::lock(&self.planned);
        match planned.iter_mut().find(|(c, _)| c == component) {
            Some((_, n)) => *n = units,
            None => planned.push((component.to_owned(), units)),
        }
    }

    /// Units announced by every component with [`Telemetry::plan`] (0: none announced).
    pub fn planned(&self) -> u64 {
        crate::sync::lock(&self.planned)
            .iter()
            .map(|(_, n)| n)
            .sum()
    }

    /// Units (not whole components) marked done so far.
    pub fn units_done(&self) -> u64 {
        self.units()
            .iter()
            .filter(|c| !c.unit.is_empty() && c.done.load(Ordering::Relaxed))
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_shared_per_component_and_unit() {
        let t = Telemetry::default();
        let a = t.counters("sources.p", "1 messenger inbox");
        Counters::add(&a.rows, 3);
        Counters::add(&t.counters("sources.p", "1 messenger inbox").rows, 2);
        Counters::add(&t.counters("sinks.s", "").bytes, 10);
        let snap = t.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[0].rows, 5);
        assert_eq!(snap[1].bytes, 10);
    }

    #[test]
    fn planned_units_add_up_per_component_and_done_units_count() {
        let t = Telemetry::default();
        assert_eq!(t.planned(), 0);
        t.plan("sources.a", 8);
        t.plan("sources.b", 4);
        t.plan("sources.a", 6);
        assert_eq!(t.planned(), 10);
        t.counters("sources.a", "1 messenger inbox")
            .done
            .store(true, Ordering::Relaxed);
        t.counters("sources.a", "1 messenger other");
        // A whole component finishing is not a unit.
        t.counters("sinks.s", "")
            .done
            .store(true, Ordering::Relaxed);
        assert_eq!(t.units_done(), 1);
    }

    #[test]
    fn waits_count_down() {
        let c = Counters::default();
        assert_eq!(c.wait_left_secs(), None);
        c.wait_for(std::time::Duration::from_secs(5));
        let left = c.wait_left_secs().unwrap();
        assert!(left > 4.0 && left <= 5.0, "{left}");
    }
}
