//! The per-page calls-per-second limit and the usage headers.

use std::time::Duration;

use graph_emulator::{EmulatorConfig, ThrottleCode};
use serde_json::{Value, json};

use crate::common::*;

fn limited(code: ThrottleCode) -> EmulatorConfig {
    EmulatorConfig {
        rate_limit_per_page: Some(2.0),
        rate_limit_code: code,
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn throttles_beyond_two_calls_per_second_with_613() {
    let e = emu(limited(ThrottleCode::Code613)).await;
    let url = list_url(&e, &e.page_ids()[0], "limit=1");
    let mut throttled = Vec::new();
    for _ in 0..5 {
        let r = get(&url).await;
        if r.status != 200 {
            throttled.push(r);
        }
    }
    assert!(!throttled.is_empty(), "5 quick calls exceed 2/s");
    let r = &throttled[0];
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        json!({"message": "(#613) Calls to this api have exceeded the rate limit.", "type": "OAuthException", "code": 613})
    );
    let usage: Value =
        serde_json::from_str(r.header("x-business-use-case-usage").unwrap()).unwrap();
    assert!(usage[&e.page_ids()[0]][0]["call_count"].as_u64().unwrap() >= 100);
    assert_eq!(e.stats().throttled_by_code[&613], throttled.len() as u64);
    assert_eq!(
        e.stats().per_page[&e.page_ids()[0]].throttled,
        throttled.len() as u64
    );
    // Other pages have their own budget.
    assert_eq!(
        get(&list_url(&e, &e.page_ids()[1], "limit=1")).await.status,
        200
    );
    // The budget refills.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&url).await.status, 200);
}

#[tokio::test]
async fn throttles_with_80006_when_configured() {
    let e = emu(limited(ThrottleCode::Code80006)).await;
    let url = list_url(&e, &e.page_ids()[0], "limit=1");
    let mut codes = Vec::new();
    for _ in 0..5 {
        let r = get(&url).await;
        if r.status != 200 {
            codes.push(r.error()["code"].clone());
        }
    }
    assert!(!codes.is_empty());
    assert!(codes.iter().all(|c| *c == 80006));
}

#[tokio::test]
async fn alternate_throttle_code_starts_with_613_then_80006() {
    let e = emu(limited(ThrottleCode::Alternate)).await;
    let url = list_url(&e, &e.page_ids()[0], "limit=1");
    let mut codes = Vec::new();
    for _ in 0..6 {
        let r = get(&url).await;
        if r.status != 200 {
            codes.push(r.error()["code"].as_u64().unwrap());
        }
    }
    assert!(codes.len() >= 2, "{codes:?}");
    assert_eq!(codes[0], 613);
    assert_eq!(codes[1], 80006);
}

#[tokio::test]
async fn usage_headers_on_every_conversation_route_response() {
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let gt = e.ground_truth();
    let t = &gt.threads[0];
    for url in [
        list_url(&e, page, "limit=2"),
        list_url(&e, page, "fields=nope"),
        node_url(&e, &t.id, ""),
        node_url(&e, &format!("{}/messages", t.id), ""),
        node_url(&e, &t.message_ids[0], ""),
    ] {
        let r = get(&url).await;
        let buc: Value =
            serde_json::from_str(r.header("x-business-use-case-usage").expect("BUC header"))
                .unwrap();
        let entry = &buc[page][0];
        assert_eq!(entry["type"], "messenger", "{url}");
        for k in [
            "call_count",
            "total_cputime",
            "total_time",
            "estimated_time_to_regain_access",
        ] {
            assert!(entry[k].is_u64(), "{k} in {entry}");
        }
        let app: Value = serde_json::from_str(r.header("x-app-usage").expect("app usage")).unwrap();
        assert!(app["call_count"].is_u64());
    }
}

#[tokio::test]
async fn usage_grows_with_the_call_rate() {
    let e = emu(limited(ThrottleCode::Code613)).await;
    let url = list_url(&e, &e.page_ids()[0], "limit=1");
    let first: Value =
        serde_json::from_str(get(&url).await.header("x-business-use-case-usage").unwrap()).unwrap();
    let second: Value =
        serde_json::from_str(get(&url).await.header("x-business-use-case-usage").unwrap()).unwrap();
    let c = |v: &Value| v[&e.page_ids()[0]][0]["call_count"].as_u64().unwrap();
    assert!(c(&second) > c(&first), "{first} then {second}");
}

#[tokio::test]
async fn instagram_usage_is_reported_under_page_and_instagram_account() {
    let e = default_emu().await;
    let r = get(&list_url(
        &e,
        &e.page_ids()[0],
        "platform=instagram&limit=1",
    ))
    .await;
    let buc: Value = serde_json::from_str(r.header("x-business-use-case-usage").unwrap()).unwrap();
    assert_eq!(buc[&e.page_ids()[0]][0]["type"], "messenger");
    assert_eq!(buc["17841400000000001"][0]["type"], "instagram");
}
