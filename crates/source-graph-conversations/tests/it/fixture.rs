//! Behaviours the emulator does not produce, served by a tiny axum fixture on 127.0.0.1:0:
//! a `next` link that does not advance, and `estimated_time_to_regain_access`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use source_graph_conversations::client::{
    ConversationsRequest, Folder, GraphClient, GraphError, PageAccess, Platform,
};

use crate::common::*;

#[derive(Clone, Default)]
struct Fixture {
    origin: Arc<Mutex<String>>,
    hits: Arc<Mutex<Vec<Instant>>>,
}

async fn serve(router: axum::Router<Fixture>, fixture: Fixture) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    *fixture.origin.lock().unwrap() = origin.clone();
    tokio::spawn(async move { axum::serve(listener, router.with_state(fixture)).await });
    origin
}

fn one_unit(token: &str) -> ConversationsRequest {
    let mut r = ConversationsRequest::new(vec![PageAccess::new("1", token)]);
    r.platforms = vec![Platform::Messenger];
    r.folders = vec![Folder::Inbox];
    r
}

fn page(id: &str, next: Option<String>) -> String {
    let next = next
        .map(|n| format!(r#","paging":{{"next":"{n}"}}"#))
        .unwrap_or_default();
    format!(r#"{{"data":[{{"id":"{id}","updated_time":"2026-11-20T09:28:50+0000"}}]{next}}}"#)
}

#[tokio::test]
async fn a_next_link_that_does_not_advance_is_an_error_not_a_loop() {
    async fn list(
        State(f): State<Fixture>,
        Query(q): Query<Vec<(String, String)>>,
    ) -> impl IntoResponse {
        f.hits.lock().unwrap().push(Instant::now());
        let origin = f.origin.lock().unwrap().clone();
        let id = if q.iter().any(|(k, _)| k == "after") {
            "t_2"
        } else {
            "t_1"
        };
        // Always the same `after`: the second page points at itself.
        page(
            id,
            Some(format!(
                "{origin}/v25.0/1/conversations?access_token=tok-123456&after=SAME"
            )),
        )
    }
    let fixture = Fixture::default();
    let base = serve(
        axum::Router::new().route("/v25.0/1/conversations", get(list)),
        fixture.clone(),
    )
    .await;
    let client = GraphClient::new(options(&base)).unwrap();
    let err = read_all(&client, one_unit("tok-123456")).await.unwrap_err();
    assert!(
        matches!(err, GraphError::CursorNotAdvancing { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("pagination did not advance") && text.contains("after=SAME"),
        "{text}"
    );
    assert!(!text.contains("tok-123456"), "{text}");
    assert_eq!(fixture.hits.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn estimated_time_to_regain_access_pauses_the_page_up_to_the_cap() {
    async fn list(
        State(f): State<Fixture>,
        Query(q): Query<Vec<(String, String)>>,
    ) -> impl IntoResponse {
        f.hits.lock().unwrap().push(Instant::now());
        let origin = f.origin.lock().unwrap().clone();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-business-use-case-usage",
            r#"{"1":[{"type":"messenger","call_count":40,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":1}]}"#
                .parse()
                .unwrap(),
        );
        let body = if q.iter().any(|(k, _)| k == "after") {
            page("t_2", None)
        } else {
            page(
                "t_1",
                Some(format!("{origin}/v25.0/1/conversations?after=A")),
            )
        };
        (headers, body)
    }
    let fixture = Fixture::default();
    let base = serve(
        axum::Router::new().route("/v25.0/1/conversations", get(list)),
        fixture.clone(),
    )
    .await;
    let mut o = options(&base);
    // One minute to regain access, capped at 400 ms.
    o.retry.max_backoff = Duration::from_millis(400);
    let client = GraphClient::new(o).unwrap();
    let threads = read_all(&client, one_unit("t")).await.unwrap();
    assert_eq!(threads.len(), 2);
    let hits = fixture.hits.lock().unwrap().clone();
    let gap = hits[1] - hits[0];
    assert!(
        gap >= Duration::from_millis(390) && gap < Duration::from_secs(5),
        "{gap:?}"
    );
    assert_eq!(client.metrics().snapshot().usage_pauses, 2);
}
