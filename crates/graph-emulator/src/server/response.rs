//! The way out: the stats a response counts in, and the HTTP response itself with Graph's
//! headers (content type, version, trace id, app and Business Use Case usage) and, when a
//! fault cuts it, a body shorter than announced.

use std::time::Duration;

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use super::body::RespBody;
use super::types::{Req, Shared, lock};
use crate::config::TruncateMode;
use crate::data::Platform;
use crate::error::GraphError;
use crate::truth::PageStats;

impl Shared {
    /// Counts the request in the stats once its outcome is known (`status` 0: a reset).
    pub(super) fn record(
        &self,
        req: &Req,
        status: u16,
        err: Option<&GraphError>,
        threads: u64,
        bytes: u64,
    ) {
        let mut st = lock(&self.state);
        let stats = &mut st.stats;
        *stats
            .requests_by_route
            .entry(req.route.to_string())
            .or_default() += 1;
        if status != 0 {
            *stats.responses_by_status.entry(status).or_default() += 1;
        }
        stats.threads_served += threads;
        stats.bytes_served += bytes;
        let throttled = err.is_some_and(|e| e.is_throttle());
        if let Some(e) = err.filter(|e| e.plain_body.is_none()) {
            *stats.errors_by_code.entry(e.code).or_default() += 1;
            if throttled {
                *stats.throttled_by_code.entry(e.code).or_default() += 1;
            }
        }
        if let Some(page) = req.page {
            let id = &self.ds.page_ids[page as usize];
            if !stats.per_page.contains_key(id) {
                stats.per_page.insert(id.clone(), PageStats::default());
            }
            if let Some(ps) = stats.per_page.get_mut(id) {
                ps.requests += 1;
                ps.threads_served += threads;
                ps.throttled += u64::from(throttled);
            }
        }
    }

    /// The HTTP response: status, body (cut when `cut`), and Graph's headers.
    pub(super) fn build_response(
        &self,
        req: &Req,
        status: u16,
        body: Vec<u8>,
        err: Option<&GraphError>,
        cut: bool,
        gzip: bool,
    ) -> Response<RespBody> {
        let (body, gzip) = match gzip.then(|| gzipped(&body)).flatten() {
            Some(z) => {
                let mut st = lock(&self.state);
                st.stats.gzipped_responses += 1;
                st.stats.gzipped_bytes += z.len() as u64;
                (z, true)
            }
            None => (body, false),
        };
        let full_len = body.len();
        let mut body = Bytes::from(body);
        let resp_body = if cut {
            body.truncate(full_len / 2);
            match self.cfg.faults.truncate_mode {
                TruncateMode::CloseEarly => RespBody::Cut(
                    Some(body),
                    Box::pin(tokio::time::sleep(Duration::from_millis(20))),
                ),
                TruncateMode::ShortBody => RespBody::Full(Some(body)),
            }
        } else {
            RespBody::Full(Some(body))
        };
        let mut resp = Response::new(resp_body);
        *resp.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        let plain = err.is_some_and(|e| e.plain_body.is_some());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(if plain {
                "text/plain; charset=UTF-8"
            } else {
                "application/json; charset=UTF-8"
            }),
        );
        if gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if cut && self.cfg.faults.truncate_mode == TruncateMode::CloseEarly {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(full_len));
        }
        if let Ok(v) = HeaderValue::from_str(&req.version) {
            h.insert("facebook-api-version", v);
        }
        if let Ok(v) = HeaderValue::from_str(&req.fbtrace) {
            h.insert("x-fb-trace-id", v);
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache, no-store, must-revalidate"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        self.push_usage_headers(h, req);
        if let Some(www) = err.and_then(|e| e.www_authenticate_header())
            && let Ok(v) = HeaderValue::from_str(&www)
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }

    /// `x-app-usage` always; `x-business-use-case-usage` when the request has a page (with
    /// the Instagram account too on Instagram), as Graph reports them.
    fn push_usage_headers(&self, h: &mut HeaderMap, req: &Req) {
        let app = req.app_usage;
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{{\"call_count\":{app},\"total_time\":{},\"total_cputime\":{}}}",
            app / 2,
            app / 4
        )) {
            h.insert("x-app-usage", v);
        }
        if let Some(page) = req.page {
            let u = req.page_usage;
            let entry = |id: &str, kind: &str| {
                format!(
                    "\"{id}\":[{{\"type\":\"{kind}\",\"call_count\":{u},\"total_cputime\":{},\"total_time\":{},\"estimated_time_to_regain_access\":{}}}]",
                    u / 4,
                    u / 2,
                    req.regain_minutes
                )
            };
            let mut v = format!("{{{}", entry(&self.ds.page_ids[page as usize], "messenger"));
            if req.platform == Platform::Instagram {
                v.push(',');
                v.push_str(&entry(&self.ds.ig_ids[page as usize], "instagram"));
            }
            v.push('}');
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert("x-business-use-case-usage", v);
            }
        }
    }
}

/// `body` gzip-compressed at the fastest level: the emulator shares the machine with the
/// client it serves, so its CPU time is kept small (the client decodes any level alike).
fn gzipped(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail; if it did, the body goes out uncompressed.
    enc.write_all(body).and_then(|()| enc.finish()).ok()
}
