//! The client's per-unit events, forwarded to the runtime's telemetry.

use std::sync::Arc;

use tributary_core::telemetry::{Counters, Telemetry};

use crate::client::{UnitKey, UnitObserver, UnitProbe};

/// Forwards the client's per-unit events to the runtime's telemetry (progress bars, summary).
#[derive(Debug)]
pub(super) struct TelemetryObserver {
    telemetry: Arc<Telemetry>,
    component: String,
}

impl TelemetryObserver {
    /// `component`: the name the runtime's counters file this source's units under.
    pub(super) fn new(telemetry: Arc<Telemetry>, component: String) -> Self {
        Self {
            telemetry,
            component,
        }
    }
}

impl UnitObserver for TelemetryObserver {
    fn probe(&self, unit: &UnitKey) -> Arc<dyn UnitProbe> {
        let name = format!("{} {} {}", unit.page_id, unit.platform, unit.folder);
        Arc::new(TelemetryProbe(
            self.telemetry.counters(&self.component, &name),
        ))
    }
}

struct TelemetryProbe(Arc<Counters>);

impl UnitProbe for TelemetryProbe {
    fn api_call(&self) {
        Counters::add(&self.0.api_calls, 1);
    }
    fn retry(&self, wait: std::time::Duration, throttle: bool) {
        Counters::add(&self.0.retries, 1);
        if throttle {
            Counters::add(&self.0.throttles, 1);
            Counters::add(&self.0.wait_ms, millis(wait));
        }
        self.0.wait_for(wait);
    }
    fn waited(&self, wait: std::time::Duration) {
        Counters::add(&self.0.wait_ms, millis(wait));
    }
    fn pause(&self, wait: std::time::Duration) {
        self.0.wait_for(wait);
    }
    fn rows(&self, n: u64) {
        Counters::add(&self.0.rows, n);
    }
    fn done(&self) {
        self.0
            .done
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
