//! `GET /me/accounts`: user tokens list their Pages (paged like the conversations edge), each
//! with a Page token that reads only its own Page; Pages without the MESSAGING task; expired
//! user tokens; Page tokens that have no `accounts` edge.

use graph_emulator::{
    Accounts, EXPIRED_USER_TOKEN, EmulatorConfig, Faults, InjectedError, Trigger, USER_TOKEN,
    page_token,
};
use serde_json::Value;

use crate::common::*;

const FIELDS: &str = "id,name,access_token,tasks,instagram_business_account";

fn accounts_url(e: &graph_emulator::RunningEmulator, token: &str, query: &str) -> String {
    format!(
        "{}/{V}/me/accounts?access_token={token}&{query}",
        e.base_url()
    )
}

fn six_pages_two_per_response() -> EmulatorConfig {
    EmulatorConfig {
        pages: 6,
        accounts: Accounts {
            per_page: 2,
            without_messaging: [graph_emulator::page_id(4)].into_iter().collect(),
            ..Accounts::default()
        },
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn lists_every_page_over_three_responses_with_absolute_next_links() {
    let e = emu(six_pages_two_per_response()).await;
    let pages = walk(&accounts_url(&e, USER_TOKEN, &format!("fields={FIELDS}"))).await;
    assert_eq!(pages.len(), 3, "{pages:?}");
    let listed: Vec<&Value> = pages
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().iter())
        .collect();
    let ids: Vec<&str> = listed.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        e.page_ids().iter().map(String::as_str).collect::<Vec<_>>()
    );
    for p in &pages[..2] {
        let next = p["paging"]["next"].as_str().unwrap();
        assert!(
            next.starts_with(&format!("{}/{V}/me/accounts?", e.base_url())),
            "{next}"
        );
        assert!(next.contains("after="), "{next}");
    }
    assert!(pages[2]["paging"]["next"].is_null());
    for p in &listed {
        let id = p["id"].as_str().unwrap();
        assert_eq!(p["access_token"].as_str(), Some(page_token(id).as_str()));
        assert!(p["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(p["instagram_business_account"]["id"].as_str().is_some());
        let tasks: Vec<&str> = p["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(
            tasks.contains(&"MESSAGING"),
            id != graph_emulator::page_id(4),
            "{id}: {tasks:?}"
        );
    }
    // Fields in request order; `id` first here because it was asked first.
    let keys: Vec<&String> = listed[0].as_object().unwrap().keys().collect();
    assert_eq!(keys[0], "id");
}

#[tokio::test]
async fn a_page_token_reads_only_its_own_page() {
    let e = emu(six_pages_two_per_response()).await;
    let (own, other) = (&e.page_ids()[0], &e.page_ids()[1]);
    let token = page_token(own);
    let ok = get(&format!(
        "{}/{V}/{own}/conversations?access_token={token}",
        e.base_url()
    ))
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let refused = get(&format!(
        "{}/{V}/{other}/conversations?access_token={token}",
        e.base_url()
    ))
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.error()["code"], 10);
}

#[tokio::test]
async fn the_token_of_a_page_without_messaging_cannot_read_conversations() {
    let e = emu(six_pages_two_per_response()).await;
    let id = graph_emulator::page_id(4);
    let token = page_token(&id);
    for (platform, code) in [("messenger", 230), ("instagram", 200)] {
        let r = get(&format!(
            "{}/{V}/{id}/conversations?platform={platform}&access_token={token}",
            e.base_url()
        ))
        .await;
        assert_eq!(r.error()["code"], code, "{platform}: {}", r.text);
    }
}

#[tokio::test]
async fn a_user_token_needs_page_tokens_for_conversations() {
    let e = default_emu().await;
    let r = get(&format!(
        "{}/{V}/{}/conversations?access_token={USER_TOKEN}",
        e.base_url(),
        e.page_ids()[0]
    ))
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error()["code"], 210);
}

#[tokio::test]
async fn an_expired_user_token_answers_190_463_and_a_page_token_has_no_accounts_edge() {
    let e = default_emu().await;
    let r = get(&accounts_url(&e, EXPIRED_USER_TOKEN, "")).await;
    assert_eq!(r.status, 400);
    let err = r.error();
    assert_eq!(
        (err["code"].as_i64(), err["error_subcode"].as_i64()),
        (Some(190), Some(463))
    );
    let r = get(&accounts_url(&e, &page_token(&e.page_ids()[0]), "")).await;
    assert_eq!(r.error()["code"], 100);
    assert!(
        r.text.contains("(accounts) on node type (Page)"),
        "{}",
        r.text
    );
    let r = get(&accounts_url(&e, "nope", "")).await;
    assert_eq!(r.error()["code"], 190);
    let r = get(&accounts_url(&e, USER_TOKEN, "fields=id,colour")).await;
    assert!(r.text.contains("nonexisting field (colour)"), "{}", r.text);
}

#[tokio::test]
async fn default_fields_and_injected_errors_apply_to_the_listing() {
    let e = emu(EmulatorConfig {
        faults: Faults::none().with_error(InjectedError::Transient2, Trigger::Nth(1)),
        ..EmulatorConfig::default()
    })
    .await;
    let first = get(&accounts_url(&e, USER_TOKEN, "")).await;
    assert_eq!(first.error()["code"], 2, "{}", first.text);
    let r = get(&accounts_url(&e, USER_TOKEN, "")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let p = &r.json()["data"][0];
    for key in ["access_token", "category", "name", "id", "tasks"] {
        assert!(!p[key].is_null(), "{key} missing: {p}");
    }
    assert!(p["instagram_business_account"].is_null());
    assert_eq!(e.stats().requests_by_route.get("accounts"), Some(&2));
}
