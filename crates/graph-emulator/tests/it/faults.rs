//! Deterministic fault injection: errors, page anomalies, cut bodies, resets, latency.

use std::time::{Duration, Instant};

use graph_emulator::{
    EmulatorConfig, Faults, Folder, InjectedError, Latency, Platform, ThreadCount, Trigger,
    TruncateMode,
};
use serde_json::{Value, json};

use crate::common::*;

fn with_faults(faults: Faults) -> EmulatorConfig {
    EmulatorConfig {
        threads_per_unit: ThreadCount::Exact(40),
        faults,
        ..EmulatorConfig::default()
    }
}

/// (error, HTTP status, expected error object without fbtrace_id)
fn expected_errors() -> Vec<(InjectedError, u16, Value)> {
    vec![
        (
            InjectedError::Unknown1,
            500,
            json!({"message": "An unknown error occurred", "type": "OAuthException", "code": 1, "error_subcode": 99}),
        ),
        (
            InjectedError::ReduceData1,
            500,
            json!({"message": "Please reduce the amount of data you're asking for, then retry your request", "type": "OAuthException", "code": 1}),
        ),
        (
            InjectedError::Transient2,
            400,
            json!({"message": "An unexpected error has occurred. Please retry your request later.", "type": "OAuthException", "code": 2, "is_transient": true}),
        ),
        (
            InjectedError::AppLimit4,
            400,
            json!({"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}),
        ),
        (
            InjectedError::UserLimit17,
            400,
            json!({"message": "(#17) User request limit reached", "type": "OAuthException", "code": 17}),
        ),
        (
            InjectedError::PageLimit32,
            400,
            json!({"message": "(#32) Page request limit reached", "type": "OAuthException", "code": 32}),
        ),
        (
            InjectedError::RateLimit613,
            400,
            json!({"message": "(#613) Calls to this api have exceeded the rate limit.", "type": "OAuthException", "code": 613}),
        ),
        (
            InjectedError::MessengerBuc80006,
            400,
            json!({"message": "(#80006) There have been too many messenger api calls to this Page account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.", "type": "OAuthException", "code": 80006}),
        ),
        (
            InjectedError::Permission10,
            403,
            json!({"message": "(#10) Application does not have permission for this action", "type": "OAuthException", "code": 10}),
        ),
        (
            InjectedError::Permission200,
            403,
            json!({"message": "(#200) Requires instagram_manage_messages permission to manage the object", "type": "OAuthException", "code": 200}),
        ),
        (
            InjectedError::Permission230,
            403,
            json!({"message": "(#230) Requires pages_messaging permission to manage the object", "type": "OAuthException", "code": 230}),
        ),
        (
            InjectedError::Policy368,
            400,
            json!({"message": "The action attempted has been deemed abusive or is otherwise disallowed", "type": "OAuthException", "code": 368}),
        ),
        (
            InjectedError::ErrorInHttp200,
            200,
            json!({"message": "An unexpected error has occurred. Please retry your request later.", "type": "OAuthException", "code": 2, "is_transient": true}),
        ),
    ]
}

#[tokio::test]
async fn injects_each_error_with_graph_envelope_and_status_then_recovers() {
    for (error, status, body) in expected_errors() {
        let e = emu(with_faults(
            Faults::none().with_error(error, Trigger::Nth(1)),
        ))
        .await;
        let url = list_url(&e, &e.page_ids()[0], "limit=5");
        let r = get(&url).await;
        assert_eq!(r.status, status, "{error:?}: {}", r.text);
        assert_eq!(r.error(), body, "{error:?}");
        assert!(r.header("x-business-use-case-usage").is_some(), "{error:?}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(
                format!(
                    "OAuth \"Facebook Platform\" \"invalid_request\" \"{}\"",
                    body["message"].as_str().unwrap()
                )
                .as_str()
            ),
        );
        // The retry is the unit's second request: it succeeds.
        assert_eq!(get(&url).await.status, 200, "{error:?}");
        assert_eq!(e.stats().faults_injected[error.name()], 1);
    }
}

#[tokio::test]
async fn injected_throttles_report_full_usage() {
    let e = emu(with_faults(
        Faults::none().with_error(InjectedError::PageLimit32, Trigger::Nth(1)),
    ))
    .await;
    let r = get(&list_url(&e, &e.page_ids()[0], "")).await;
    let usage: Value =
        serde_json::from_str(r.header("x-business-use-case-usage").unwrap()).unwrap();
    assert!(usage[&e.page_ids()[0]][0]["call_count"].as_u64().unwrap() >= 100);
    assert_eq!(e.stats().throttled_by_code[&32], 1);
}

#[tokio::test]
async fn injected_expired_token_answers_190_463() {
    let e = emu(with_faults(
        Faults::none().with_error(InjectedError::TokenExpired190, Trigger::Nth(1)),
    ))
    .await;
    let r = get(&list_url(&e, &e.page_ids()[0], "")).await;
    assert_eq!(r.status, 400);
    let err = r.error();
    assert_eq!(
        (err["code"].clone(), err["error_subcode"].clone()),
        (json!(190), json!(463))
    );
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("\"invalid_token\"")
    );
}

#[tokio::test]
async fn http_503_fault_has_a_plain_body() {
    let e = emu(with_faults(
        Faults::none().with_error(InjectedError::Http503, Trigger::Nth(1)),
    ))
    .await;
    let r = get(&list_url(&e, &e.page_ids()[0], "")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.text, "Service Unavailable");
}

#[tokio::test]
async fn transient_error_rate_is_deterministic_by_seed() {
    let run = |seed: u64| async move {
        let mut cfg = with_faults(Faults::transient_rate(0.3));
        cfg.seed = seed;
        let e = emu(cfg).await;
        let url = list_url(&e, &e.page_ids()[0], "limit=1");
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(get(&url).await.status);
        }
        statuses
    };
    let a = run(5).await;
    assert_eq!(a, run(5).await, "same seed, same faults");
    assert_ne!(a, run(6).await, "another seed, other faults");
    let failures = a.iter().filter(|s| **s == 400).count();
    assert!((3..=25).contains(&failures), "about 30 % fail: {failures}");
}

#[tokio::test]
async fn every_nth_trigger_fires_periodically() {
    let e = emu(with_faults(
        Faults::none().with_error(InjectedError::Transient2, Trigger::EveryNth(3)),
    ))
    .await;
    let url = list_url(&e, &e.page_ids()[0], "limit=1");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(&url).await.status);
    }
    assert_eq!(statuses, [200, 200, 400, 200, 200, 400]);
}

#[tokio::test]
async fn empty_page_still_has_next_and_the_walk_completes() {
    let e = emu(with_faults(Faults {
        empty_page: Trigger::Nth(2),
        ..Faults::none()
    }))
    .await;
    let page = &e.page_ids()[0];
    let pages = walk(&list_url(&e, page, "limit=10")).await;
    assert!(pages[1]["data"].as_array().unwrap().is_empty());
    assert!(pages[1]["paging"].get("cursors").is_none());
    let next = pages[1]["paging"]["next"].as_str().unwrap();
    let prev_next = pages[0]["paging"]["next"].as_str().unwrap();
    assert_ne!(
        next, prev_next,
        "a fresh cursor string, so no-progress guards do not fire"
    );
    assert_eq!(
        ids(&pages),
        truth_ids(&e, page, Platform::Messenger, Folder::Inbox)
    );
    assert_eq!(e.stats().faults_injected["empty-page"], 1);
}

#[tokio::test]
async fn repeats_a_thread_across_a_page_boundary() {
    let e = emu(with_faults(Faults {
        repeat_across_boundary: Trigger::Nth(2),
        ..Faults::none()
    }))
    .await;
    let page = &e.page_ids()[0];
    let pages = walk(&list_url(&e, page, "limit=10")).await;
    let got = ids(&pages);
    assert_eq!(got.len(), 41);
    assert_eq!(got[9], got[10], "last of page 1 is first of page 2");
    let mut dedup = got.clone();
    dedup.dedup();
    assert_eq!(
        dedup,
        truth_ids(&e, page, Platform::Messenger, Folder::Inbox)
    );
}

#[tokio::test]
async fn moves_a_thread_to_the_top_mid_walk() {
    let e = emu(with_faults(Faults {
        move_to_top: Trigger::Nth(2),
        ..Faults::none()
    }))
    .await;
    let page = &e.page_ids()[0];
    let before = truth_ids(&e, page, Platform::Messenger, Folder::Inbox);
    let pages = walk(&list_url(&e, page, "limit=10")).await;
    let got = ids(&pages);
    let after = truth_ids(&e, page, Platform::Messenger, Folder::Inbox);
    // Thread at position 10 + 5 received a message and is now the newest.
    let moved = &before[15];
    assert_eq!(&after[0], moved);
    assert!(!got.contains(moved), "the walk missed the moved thread");
    assert_eq!(got[9], got[10], "and saw a duplicate");
    let gt = e.ground_truth();
    let t = gt.get(moved).unwrap();
    assert!(
        t.updated_time
            > gt.unit(page, Platform::Messenger, Folder::Inbox)
                .nth(1)
                .unwrap()
                .updated_time
    );
    assert_eq!(e.stats().faults_injected["move-to-top"], 1);
}

#[tokio::test]
async fn cuts_the_body_after_announcing_the_full_length() {
    let e = emu(with_faults(Faults {
        truncate_body: Trigger::Nth(1),
        truncate_mode: TruncateMode::CloseEarly,
        ..Faults::none()
    }))
    .await;
    let url = list_url(&e, &e.page_ids()[0], "limit=10");
    let r = client().get(&url).send().await.expect("headers arrive");
    assert_eq!(r.status(), 200);
    let announced = r.content_length().unwrap();
    assert!(announced > 100);
    let body = r.bytes().await;
    assert!(
        body.is_err(),
        "the body ends early: {:?}",
        body.map(|b| b.len())
    );
    assert_eq!(get(&url).await.status, 200);
}

#[tokio::test]
async fn cuts_the_body_mid_json_with_a_matching_length() {
    let e = emu(with_faults(Faults {
        truncate_body: Trigger::Nth(1),
        truncate_mode: TruncateMode::ShortBody,
        ..Faults::none()
    }))
    .await;
    let url = list_url(&e, &e.page_ids()[0], "limit=10");
    let r = get(&url).await;
    assert_eq!(r.status, 200);
    assert!(r.text.starts_with("{\"data\":["));
    assert!(serde_json::from_str::<Value>(&r.text).is_err());
    let full = get(&url).await.text;
    assert_eq!(r.text.len(), full.len() / 2);
    assert_eq!(e.stats().faults_injected["truncate-body"], 1);
}

#[tokio::test]
async fn resets_the_connection_without_a_response() {
    let e = emu(with_faults(Faults {
        connection_reset: Trigger::Nth(1),
        ..Faults::none()
    }))
    .await;
    let url = list_url(&e, &e.page_ids()[0], "");
    let err = client().get(&url).send().await.expect_err("no response");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
    assert_eq!(get(&url).await.status, 200);
    assert_eq!(e.stats().faults_injected["connection-reset"], 1);
}

#[tokio::test]
async fn equal_updated_time_across_page_boundaries() {
    let mut cfg = with_faults(Faults {
        equal_times_every: Some(10),
        ..Faults::none()
    });
    cfg.threads_per_unit = ThreadCount::Exact(30);
    let e = emu(cfg).await;
    let pages = walk(&list_url(&e, &e.page_ids()[0], "limit=10")).await;
    assert_eq!(pages.len(), 3);
    for w in pages.windows(2) {
        let last = w[0]["data"].as_array().unwrap().last().unwrap()["updated_time"].clone();
        let first = w[1]["data"][0]["updated_time"].clone();
        assert_eq!(last, first);
    }
    let times: Vec<&str> = pages[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["updated_time"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] > w[1]),
        "strict inside a page"
    );
}

#[tokio::test]
async fn heavy_expansion_answers_code_1_and_halving_limit_succeeds() {
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let fields = "fields=id,messages.limit(50){id,message}";
    let r = get(&list_url(&e, page, &format!("{fields}&limit=100"))).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.error(),
        json!({"message": "Please reduce the amount of data you're asking for, then retry your request", "type": "OAuthException", "code": 1})
    );
    // 50 × 50 = 2500 is exactly the default threshold: allowed.
    assert_eq!(
        get(&list_url(&e, page, &format!("{fields}&limit=50")))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&list_url(&e, page, &format!("{fields}&limit=51")))
            .await
            .status,
        500
    );
}

#[tokio::test]
async fn fixed_latency_delays_every_graph_response() {
    let e = emu(EmulatorConfig {
        latency: Latency::Fixed(Duration::from_millis(120)),
        ..EmulatorConfig::default()
    })
    .await;
    let url = list_url(&e, &e.page_ids()[0], "limit=1");
    let t0 = Instant::now();
    assert_eq!(get(&url).await.status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(120));
}

#[tokio::test]
async fn uniform_latency_stays_within_bounds() {
    let e = emu(EmulatorConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(20),
            max: Duration::from_millis(60),
        },
        ..EmulatorConfig::default()
    })
    .await;
    let url = list_url(&e, &e.page_ids()[0], "limit=1");
    for _ in 0..5 {
        let t0 = Instant::now();
        assert_eq!(get(&url).await.status, 200);
        assert!(t0.elapsed() >= Duration::from_millis(20));
    }
}
