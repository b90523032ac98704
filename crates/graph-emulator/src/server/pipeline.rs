//! One Graph request, as the steps Graph takes in order: parse the path → authenticate the
//! token → route to a node → check permissions → admit (rate limits) → inject faults →
//! answer; then count it in the stats and build the response.

use std::time::Duration;

use hyper::header::HeaderMap;
use hyper::{Method, Response};

use super::auth::authorize;
use super::body::RespBody;
use super::parse::{parse_path, query_params};
use super::route::scope;
use super::types::{Answer, Req, Shared, lock};
use crate::error::GraphError;

/// What the async wrapper does with a Graph request.
pub(super) enum Outcome {
    /// Send this response after this delay.
    Respond(Response<RespBody>, Duration),
    /// Reset the connection instead of answering.
    Reset,
}

impl Shared {
    /// Answers one Graph request (everything except `/__emulator/`).
    pub(super) fn graph(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Outcome {
        let n = self.count_request();
        let params = query_params(query);
        let mut req = Req::new(&self.cfg, n);
        let result = self.steps(&mut req, method, path, &params, headers);
        let delay = self.latency(n);
        let (status, body, err, threads) = match result {
            Ok(None) => {
                self.record(&req, 0, None, 0, 0);
                return Outcome::Reset;
            }
            Ok(Some((body, threads))) => (200u16, body, None, threads),
            Err(e) => {
                let body = e.body(&req.fbtrace);
                (e.status, body, Some(e), 0)
            }
        };
        let cut = self.cut_body(&req);
        self.record(&req, status, err.as_ref(), threads, body.len() as u64);
        let gzip = self.cfg.gzip && accepts_gzip(headers);
        let resp = self.build_response(&req, status, body, err.as_ref(), cut, gzip);
        Outcome::Respond(resp, delay)
    }

    /// Numbers the request (trace ids and latency draw from the number) and counts it.
    fn count_request(&self) -> u64 {
        let mut st = lock(&self.state);
        st.requests += 1;
        st.stats.requests_total += 1;
        st.requests
    }

    /// The steps of a Graph read in the order Graph checks them, so the first failing check
    /// decides the error. `Ok(None)` means "reset the connection".
    fn steps(
        &self,
        req: &mut Req,
        method: &Method,
        path: &str,
        params: &[(String, String)],
        headers: &HeaderMap,
    ) -> Result<Option<Answer>, GraphError> {
        let (id, edge) = parse_path(req, method, path)?;
        let token = self.authenticate(req, params, headers)?;
        if id == "me" && edge == Some("accounts") {
            return self.accounts(req, token, params).map(Some);
        }
        let grant = self.grant(token)?;
        let target = self.route(id, edge)?;
        let scope = scope(&target, params)?;
        req.route = scope.route;
        let page_id = &self.ds.page_ids[scope.page as usize];
        authorize(&grant, page_id, target.reads_messages(), scope.platform)?;

        // From here on the response carries usage headers and faults may fire.
        req.page = Some(scope.page);
        req.platform = scope.platform;
        req.unit_code = scope.unit_code;
        if let Some(e) = self.admit(req, scope.page) {
            return Err(e);
        }
        if self.reset_fires(req) {
            return Ok(None);
        }
        self.inject_error(req)?;
        self.answer(req, target, params).map(Some)
    }

    /// A configured error that fires replaces the answer; an injected throttle reports a
    /// full bucket, as a real one would.
    fn inject_error(&self, req: &mut Req) -> Result<(), GraphError> {
        match self.injected_error(req) {
            Some(e) => {
                if e.is_throttle() {
                    req.page_usage = req.page_usage.max(100);
                }
                Err(e)
            }
            None => Ok(()),
        }
    }
}

/// Whether `Accept-Encoding` lists gzip (with a non-zero quality).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(hyper::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let q_zero = parts.any(|p| p.replace(' ', "") == "q=0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
}
