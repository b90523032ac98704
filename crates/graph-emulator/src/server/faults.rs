//! Fault injection: whether a configured [`Trigger`] fires for this request (a pure function
//! of the seed and the unit's request counter, so a run is reproducible), the injected
//! errors, connection resets and cut bodies, and the count of each in the stats.

use std::time::{SystemTime, UNIX_EPOCH};

use super::types::{Req, Shared, lock};
use crate::config::{InjectedError, PERM_INSTAGRAM_MANAGE_MESSAGES, Trigger};
use crate::error::GraphError;
use crate::util::{hash, unit_f64};

const K_FAULT: u64 = 0x0066_6175_6c74;

/// Salts of each fault kind, so two faults with the same rate fire on different requests.
pub(super) const EMPTY_PAGE: u64 = 1;
pub(super) const REPEAT_ACROSS_BOUNDARY: u64 = 2;
pub(super) const MOVE_TO_TOP: u64 = 3;
const TRUNCATE_BODY: u64 = 4;
const CONNECTION_RESET: u64 = 5;
/// Injected error `i` of the configuration draws with `INJECTED_ERROR + i`.
const INJECTED_ERROR: u64 = 100;

impl Shared {
    /// Whether `trigger` fires for this request; `kind` salts the draw per fault.
    pub(super) fn fires(&self, trigger: Trigger, kind: u64, req: &Req) -> bool {
        match trigger {
            Trigger::Never => false,
            Trigger::Rate(p) => {
                unit_f64(hash(&[
                    self.cfg.seed,
                    K_FAULT,
                    kind,
                    req.unit_code,
                    req.unit_n,
                ])) < p
            }
            Trigger::Nth(k) => req.unit_n == k,
            Trigger::EveryNth(k) => k > 0 && req.unit_n.is_multiple_of(k),
        }
    }

    /// Counts one injected fault by name in the stats.
    pub(super) fn count_fault(&self, name: &str) {
        *lock(&self.state)
            .stats
            .faults_injected
            .entry(name.to_string())
            .or_default() += 1;
    }

    /// Whether this request's connection is reset instead of answered.
    pub(super) fn reset_fires(&self, req: &Req) -> bool {
        let fires = self.fires(self.cfg.faults.connection_reset, CONNECTION_RESET, req);
        if fires {
            self.count_fault("connection-reset");
        }
        fires
    }

    /// The first configured error that fires for this request, counted.
    pub(super) fn injected_error(&self, req: &Req) -> Option<GraphError> {
        for (i, f) in self.cfg.faults.errors.iter().enumerate() {
            if self.fires(f.trigger, INJECTED_ERROR + i as u64, req) {
                self.count_fault(f.error.name());
                return Some(injected(f.error));
            }
        }
        None
    }

    /// Whether this response's body is cut; applies to any Graph response whose unit is
    /// known.
    pub(super) fn cut_body(&self, req: &Req) -> bool {
        let cut =
            req.page.is_some() && self.fires(self.cfg.faults.truncate_body, TRUNCATE_BODY, req);
        if cut {
            self.count_fault("truncate-body");
        }
        cut
    }
}

/// The Graph error a configured [`InjectedError`] stands for.
fn injected(e: InjectedError) -> GraphError {
    match e {
        InjectedError::Unknown1 => GraphError::unknown1(),
        InjectedError::ReduceData1 => GraphError::reduce_data(),
        InjectedError::Transient2 => GraphError::transient2(),
        InjectedError::AppLimit4 => GraphError::app_limit4(),
        InjectedError::UserLimit17 => GraphError::user_limit17(),
        InjectedError::PageLimit32 => GraphError::page_limit32(),
        InjectedError::RateLimit613 => GraphError::rate_limit613(),
        InjectedError::MessengerBuc80006 => GraphError::messenger_buc80006(),
        InjectedError::Permission10 => GraphError::permission10(),
        InjectedError::Permission200 => GraphError::permission200(PERM_INSTAGRAM_MANAGE_MESSAGES),
        InjectedError::Permission230 => GraphError::permission230(),
        InjectedError::Policy368 => GraphError::policy368(),
        InjectedError::TokenExpired190 => GraphError::expired_token(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        ),
        InjectedError::Http503 => GraphError::http503(),
        InjectedError::ErrorInHttp200 => GraphError::error_in_200(),
    }
}
