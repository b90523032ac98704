//! The state every request step shares: [`Shared`] (configuration, dataset, overlay,
//! counters) and [`Req`], the facts one request gathers on its way through the pipeline.
//! Every other room of the server imports from here; this room imports none of them.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use crate::config::EmulatorConfig;
use crate::data::{Dataset, Overlay, Platform};
use crate::limit::{Bucket, Limits};
use crate::truth::Stats;
use crate::util::hash;

const K_TRACE: u64 = 0x0074_7261_6365;

/// A JSON body and the number of threads in it (for the stats).
pub(super) type Answer = (Vec<u8>, u64);

/// Mutable bookkeeping, behind one mutex.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub stats: Stats,
    pub(super) requests: u64,
    pub(super) limits: Limits,
    pub(super) app: Option<Bucket>,
    pub(super) unit_requests: HashMap<u64, u64>,
    pub(super) throttle_streak: HashMap<u32, u32>,
}

/// Everything a request handler needs; shared by all connections.
pub(crate) struct Shared {
    pub cfg: EmulatorConfig,
    pub ds: Dataset,
    pub origin: String,
    pub overlay: RwLock<Overlay>,
    pub state: Mutex<State>,
    /// When the emulator started (throttle storms are timed from it).
    pub started: Instant,
    /// Graph requests arrived so far (draws their arrival jitter).
    pub(super) arrivals: std::sync::atomic::AtomicU64,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves only counters half-updated; keep serving.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(cfg: EmulatorConfig, origin: String) -> Shared {
        let ds = Dataset::new(&cfg);
        Shared {
            cfg,
            ds,
            origin,
            overlay: RwLock::new(Overlay::default()),
            state: Mutex::new(State::default()),
            started: Instant::now(),
            arrivals: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(super) fn read_overlay(&self) -> std::sync::RwLockReadGuard<'_, Overlay> {
        self.overlay.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write_overlay(&self) -> std::sync::RwLockWriteGuard<'_, Overlay> {
        self.overlay.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Per-request facts gathered on the way.
pub(super) struct Req {
    pub n: u64,
    pub fbtrace: String,
    pub version: String,
    pub route: &'static str,
    pub page: Option<u32>,
    pub platform: Platform,
    pub unit_code: u64,
    pub unit_n: u64,
    pub page_usage: u64,
    /// `estimated_time_to_regain_access` (minutes) for the usage header.
    pub regain_minutes: f64,
    pub app_usage: u64,
    pub token_q: Option<String>,
}

impl Req {
    /// Request number `n`, before anything about it is known.
    pub fn new(cfg: &EmulatorConfig, n: u64) -> Req {
        Req {
            n,
            fbtrace: fbtrace(cfg.seed, n),
            version: cfg.default_version.clone(),
            route: "unknown",
            page: None,
            platform: Platform::Messenger,
            unit_code: 0,
            unit_n: 0,
            page_usage: 0,
            regain_minutes: 0.0,
            app_usage: 0,
            token_q: None,
        }
    }
}

fn fbtrace(seed: u64, n: u64) -> String {
    const ALPHA: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut h = hash(&[seed, K_TRACE, n]);
    let mut s = String::with_capacity(11);
    for _ in 0..11 {
        s.push(ALPHA[(h % 62) as usize] as char);
        h /= 62;
        if h == 0 {
            h = hash(&[seed, K_TRACE, n, 1]);
        }
    }
    s
}
