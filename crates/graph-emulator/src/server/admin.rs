//! The `/__emulator/` routes: ground truth (streamed NDJSON), stats, health and mutations.
//! No token needed; not counted against any limit.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::mpsc;

use super::body::{RespBody, json_response};
use super::parse::{param, query_params};
use super::types::{Shared, lock};
use crate::data::{Folder, Platform, UnitKey, UnitView};
use crate::truth::{Mutation, push_ndjson_line, truth_json, units};

impl Shared {
    /// Applies a mutation; returns the affected thread ids.
    pub(crate) fn mutate(&self, m: Mutation) -> Vec<String> {
        let ds = &self.ds;
        let mut ov = self.write_overlay();
        let key_of = |id: &str| ds.parse_thread_id(id).and_then(|n| ds.thread_key(n));
        match m {
            Mutation::NewThreads {
                page_id,
                platform,
                folder,
                count,
            } => {
                let Some(page) = ds.page_index(&page_id) else {
                    return Vec::new();
                };
                let keys = ov.add_threads(
                    UnitKey {
                        page,
                        platform,
                        folder,
                    },
                    count,
                );
                keys.into_iter()
                    .filter_map(|k| ov.resolve(ds, k).map(|t| ds.thread_id(&t)))
                    .collect()
            }
            Mutation::Update { thread_id } => match key_of(&thread_id) {
                Some(k) if ov.update(ds, k) => vec![thread_id],
                _ => Vec::new(),
            },
            Mutation::Delete { thread_id } => match key_of(&thread_id) {
                Some(k) if ov.delete(ds, k) => vec![thread_id],
                _ => Vec::new(),
            },
        }
    }
}

/// `/__emulator/...`: ground truth, stats, mutations. No token needed.
pub(super) async fn admin(shared: Arc<Shared>, req: Request<Incoming>) -> Response<RespBody> {
    {
        let mut st = lock(&shared.state);
        st.stats.requests_total += 1;
        *st.stats
            .requests_by_route
            .entry("emulator".to_string())
            .or_default() += 1;
    }
    let path = req.uri().path().trim_end_matches('/').to_string();
    let params = query_params(req.uri().query());
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/__emulator/ground_truth") => ground_truth_stream(shared, &params),
        (Method::GET, "/__emulator/stats") => {
            let stats = lock(&shared.state).stats.clone();
            json_response(
                StatusCode::OK,
                "application/json",
                serde_json::to_vec(&stats).unwrap_or_default(),
            )
        }
        (Method::GET, "/__emulator/health") => json_response(StatusCode::OK, "text/plain", b"ok".to_vec()),
        (Method::POST, "/__emulator/mutate") => post_mutation(&shared, req).await,
        _ => json_response(
            StatusCode::NOT_FOUND,
            "text/plain",
            b"unknown emulator route: try /__emulator/ground_truth, /__emulator/stats, POST /__emulator/mutate"
                .to_vec(),
        ),
    }
}

/// `POST /__emulator/mutate`: applies a [`Mutation`] given as JSON, answers the affected ids.
async fn post_mutation(shared: &Shared, req: Request<Incoming>) -> Response<RespBody> {
    use http_body_util::BodyExt;
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                "text/plain",
                e.to_string().into_bytes(),
            );
        }
    };
    match serde_json::from_slice::<Mutation>(&body) {
        Ok(m) => {
            let ids = shared.mutate(m);
            json_response(
                StatusCode::OK,
                "application/json",
                serde_json::to_vec(&serde_json::json!({ "ids": ids })).unwrap_or_default(),
            )
        }
        Err(e) => json_response(
            StatusCode::BAD_REQUEST,
            "text/plain",
            format!("invalid mutation: {e}").into_bytes(),
        ),
    }
}

/// Streams the ground truth as NDJSON (optionally filtered by `page_id`, `platform`,
/// `folder`), generated on a blocking thread from a snapshot of the overlay, so a dataset of
/// a million threads never sits in memory.
fn ground_truth_stream(shared: Arc<Shared>, params: &[(String, String)]) -> Response<RespBody> {
    let page_filter = param(params, "page_id").map(str::to_string);
    let platform_filter = param(params, "platform").and_then(Platform::parse);
    let folder_filter = param(params, "folder").and_then(Folder::parse);
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let snapshot = shared.read_overlay().clone();
    tokio::task::spawn_blocking(move || {
        let ds = &shared.ds;
        let mut out = Vec::with_capacity(128 * 1024);
        let mut thread = Vec::with_capacity(64 * 1024);
        for unit in units(ds) {
            let page_id = &ds.page_ids[unit.page as usize];
            if page_filter.as_ref().is_some_and(|p| p != page_id)
                || platform_filter.is_some_and(|p| p != unit.platform)
                || folder_filter.is_some_and(|f| f != unit.folder)
            {
                continue;
            }
            let view = UnitView::new(ds, &snapshot, unit);
            for t in view.iter_from(0) {
                thread.clear();
                truth_json(ds, &t, &mut thread);
                push_ndjson_line(&mut out, page_id, unit.platform, unit.folder, &thread);
                if out.len() >= 64 * 1024 {
                    let chunk =
                        Bytes::from(std::mem::replace(&mut out, Vec::with_capacity(128 * 1024)));
                    if tx.blocking_send(chunk).is_err() {
                        return; // the client went away
                    }
                }
            }
        }
        if !out.is_empty() {
            let _ = tx.blocking_send(Bytes::from(out));
        }
    });
    let mut resp = Response::new(RespBody::Stream(rx));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}
