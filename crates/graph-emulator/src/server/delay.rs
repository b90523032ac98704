//! Simulated network time: the arrival jitter before the limiters see a request, and the
//! latency before its response leaves. Both are drawn from the seed, so a run is reproducible.

use std::time::Duration;

use super::types::Shared;
use crate::config::Latency;
use crate::util::{hash, unit_f64};

const K_LATENCY: u64 = 0x6c61_7465;
const K_ARRIVAL: u64 = 0x0061_7272_6976;

impl Shared {
    /// How long the next arriving request travels before the limiters see it.
    pub(super) fn arrival_delay(&self) -> Duration {
        let max = self.cfg.arrival_jitter;
        if max.is_zero() {
            return Duration::ZERO;
        }
        let n = self
            .arrivals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        max.mul_f64(unit_f64(hash(&[self.cfg.seed, K_ARRIVAL, n])))
    }

    /// How long response `n` waits before it leaves (the configured latency model).
    pub(super) fn latency(&self, n: u64) -> Duration {
        match self.cfg.latency {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => {
                let span = max.saturating_sub(min).as_secs_f64();
                min + Duration::from_secs_f64(span * unit_f64(hash(&[self.cfg.seed, K_LATENCY, n])))
            }
        }
    }
}
