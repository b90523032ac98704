//! Admission: counts a request for its unit, applies the throttle storm, the app limit and
//! the per-page limiter model, and fills the usage numbers the response headers report.
//! (The limiter models themselves live in [`crate::limit`].)

use std::time::Instant;

use super::types::{Req, Shared, lock};
use crate::config::{LimiterModel, ThrottleCode};
use crate::error::GraphError;
use crate::limit::Bucket;

/// Budget used for usage headers when no rate limit is configured: large, so usage stays
/// low and clients that pause near 85 % are never slowed by a limit that does not exist.
const NOMINAL_RATE: f64 = 1000.0;
/// Usage reported without a rate limit never exceeds this.
const UNLIMITED_USAGE_CAP: u64 = 80;

impl Shared {
    /// Counts the request for its unit and page, applies the rate limits, fills usage numbers.
    pub(super) fn admit(&self, req: &mut Req, page: u32) -> Option<GraphError> {
        let now = Instant::now();
        let limit = self.cfg.rate_limit_per_page.filter(|r| *r > 0.0);
        let rate = limit.unwrap_or(NOMINAL_RATE);
        let cap = rate.max(1.0);
        let pages = self.cfg.pages.max(1) as f64;
        let mut st = lock(&self.state);
        let counter = st.unit_requests.entry(req.unit_code).or_default();
        *counter += 1;
        req.unit_n = *counter;
        if let Some((from, to)) = self.cfg.faults.throttle_storm {
            let t = now.saturating_duration_since(self.started);
            if t >= from && t < to {
                req.page_usage = 100;
                return Some(GraphError::rate_limit613());
            }
        }

        let app = st.app.get_or_insert_with(|| Bucket::new(cap * pages, now));
        app.refill(rate * pages, cap * pages, now);
        app.drain_one();
        req.app_usage = app.usage(cap * pages).min(UNLIMITED_USAGE_CAP);
        if let Some(app_rate) = self.cfg.app_rate_limit.filter(|r| *r > 0.0)
            && !st.limits.admit_app(app_rate, now)
        {
            req.app_usage = 100;
            return Some(GraphError::app_limit4());
        }

        let Some(rate) = limit else {
            // No limit: usage from a nominal bucket, never alarming.
            let a = st
                .limits
                .admit_page(LimiterModel::TokenBucket, NOMINAL_RATE, page, now);
            req.page_usage = a.usage.min(UNLIMITED_USAGE_CAP);
            return None;
        };
        let a = st.limits.admit_page(self.cfg.limiter, rate, page, now);
        if a.allowed {
            req.page_usage = a.usage;
            st.throttle_streak.remove(&page);
            return None;
        }
        req.page_usage = a.usage.max(100);
        req.regain_minutes = a.regain_minutes;
        if a.by_pool {
            return Some(GraphError::messenger_buc80006());
        }
        let streak = st.throttle_streak.entry(page).or_default();
        *streak += 1;
        Some(match self.cfg.rate_limit_code {
            ThrottleCode::Code613 => GraphError::rate_limit613(),
            ThrottleCode::Code80006 => GraphError::messenger_buc80006(),
            ThrottleCode::Alternate if *streak == 1 => GraphError::rate_limit613(),
            ThrottleCode::Alternate => GraphError::messenger_buc80006(),
        })
    }
}
