//! Cursor paging: order, cursors, `next`/`previous`, limits.

use graph_emulator::{EmulatorConfig, Folder, Platform, ThreadCount};
use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn walks_every_unit_to_the_end_matching_ground_truth_newest_first() {
    let e = default_emu().await;
    for page in e.page_ids() {
        for platform in Platform::ALL {
            for folder in Folder::ALL {
                let q = format!(
                    "platform={}&folder={}&limit=7",
                    platform.as_str(),
                    folder.as_str()
                );
                let pages = walk(&list_url(&e, &page, &q)).await;
                let got = ids(&pages);
                let want = truth_ids(&e, &page, platform, folder);
                assert!(!want.is_empty(), "every unit has threads");
                assert_eq!(got, want, "{page} {platform:?} {folder:?}");
                let times: Vec<String> = pages
                    .iter()
                    .flat_map(|p| p["data"].as_array().cloned().unwrap())
                    .map(|t| t["updated_time"].as_str().unwrap().to_string())
                    .collect();
                assert!(
                    times.windows(2).all(|w| w[0] > w[1]),
                    "strictly newest first"
                );
            }
        }
    }
}

#[tokio::test]
async fn last_page_has_cursors_but_no_next_and_later_pages_have_previous() {
    let e = default_emu().await;
    let pages = walk(&list_url(&e, &e.page_ids()[0], "limit=10")).await;
    assert!(pages.len() >= 2);
    assert!(pages[0]["paging"].get("previous").is_none());
    for p in &pages[1..] {
        assert!(
            p["paging"]["previous"]
                .as_str()
                .unwrap()
                .contains("&before=")
        );
    }
    let last = pages.last().unwrap();
    assert!(last["paging"].get("next").is_none());
    assert!(last["paging"]["cursors"]["after"].is_string());
    assert!(last["paging"]["cursors"]["before"].is_string());
}

#[tokio::test]
async fn next_url_embeds_token_pretty_original_params_limit_and_after() {
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let v = get(&list_url(
        &e,
        page,
        "platform=instagram&folder=other&fields=id,snippet&summary=true&limit=3",
    ))
    .await
    .json();
    let next = v["paging"]["next"].as_str().unwrap();
    let prefix = format!("{}/{V}/{page}/conversations?", e.base_url());
    assert!(next.starts_with(&prefix), "{next}");
    let url = reqwest::Url::parse(next).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "pretty",
            "platform",
            "folder",
            "fields",
            "summary",
            "limit",
            "after"
        ]
    );
    assert_eq!(pairs[0].1, TOKEN);
    assert_eq!(pairs[1].1, "0");
    assert_eq!(pairs[4].1, "id,snippet");
    assert_eq!(pairs[6].1, "3");
    assert_eq!(
        pairs[7].1,
        v["paging"]["cursors"]["after"].as_str().unwrap()
    );
    assert!(
        next.contains("fields=id%2Csnippet"),
        "commas encoded like Graph: {next}"
    );
}

#[tokio::test]
async fn limit_defaults_to_25_and_is_clamped_to_100() {
    let e = emu(EmulatorConfig {
        threads_per_unit: ThreadCount::Exact(150),
        ..EmulatorConfig::default()
    })
    .await;
    let page = &e.page_ids()[0];
    let v = get(&list_url(&e, page, "")).await.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 25);
    assert!(v["paging"]["next"].as_str().unwrap().contains("&limit=25&"));
    let v = get(&list_url(&e, page, "limit=1000")).await.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 100);
    assert!(
        v["paging"]["next"]
            .as_str()
            .unwrap()
            .contains("&limit=100&")
    );
    let pages = walk(&list_url(&e, page, "limit=1000")).await;
    assert_eq!(pages.len(), 2);
    assert_eq!(ids(&pages).len(), 150);
}

#[tokio::test]
async fn before_cursor_returns_the_previous_page() {
    let e = default_emu().await;
    let pages = walk(&list_url(&e, &e.page_ids()[0], "limit=4")).await;
    let prev = get(pages[2]["paging"]["previous"].as_str().unwrap())
        .await
        .json();
    assert_eq!(prev["data"], pages[1]["data"]);
}

#[tokio::test]
async fn cursors_are_opaque_base64url() {
    let e = default_emu().await;
    let v = get(&list_url(&e, &e.page_ids()[0], "limit=2")).await.json();
    for k in ["before", "after"] {
        let c = v["paging"]["cursors"][k].as_str().unwrap();
        assert!(c.len() >= 8);
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{c}"
        );
    }
}

#[tokio::test]
async fn rejects_a_forged_cursor_with_code_100() {
    let e = default_emu().await;
    let r = get(&list_url(&e, &e.page_ids()[0], "after=QVFIU0pz")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        serde_json::json!({"message": "(#100) The parameter after is not a valid cursor", "type": "OAuthException", "code": 100})
    );
}

#[tokio::test]
async fn sdk_style_rebuilt_requests_with_after_match_following_next() {
    // The Python SDK re-sends the original request plus `after=<cursors.after>`.
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("limit=6&after={a}"),
            None => "limit=6".to_string(),
        };
        let v: Value = get(&list_url(&e, page, &q)).await.json();
        all.extend(ids(std::slice::from_ref(&v)));
        if v["paging"].get("next").is_none() {
            break;
        }
        after = Some(
            v["paging"]["cursors"]["after"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(all, truth_ids(&e, page, Platform::Messenger, Folder::Inbox));
}

#[tokio::test]
async fn before_cursor_near_the_top_returns_only_what_precedes_it() {
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let first = get(&list_url(&e, page, "limit=3")).await.json();
    let after = first["paging"]["cursors"]["after"].as_str().unwrap();
    // Page 2 starts at position 3 and has limit 10: its `previous` covers positions 0..3.
    let second = get(&list_url(&e, page, &format!("limit=10&after={after}")))
        .await
        .json();
    let prev = get(second["paging"]["previous"].as_str().unwrap())
        .await
        .json();
    assert_eq!(prev["data"], first["data"]);
}
