//! Auth, permission and request errors, with Graph's exact envelopes, statuses and headers.

use std::collections::BTreeMap;

use graph_emulator::{EmulatorConfig, TokenGrant};
use serde_json::json;

use crate::common::*;

fn url_with_token(e: &graph_emulator::RunningEmulator, token: &str, query: &str) -> String {
    format!(
        "{}/{V}/{}/conversations?access_token={token}&{query}",
        e.base_url(),
        e.page_ids()[0]
    )
}

#[tokio::test]
async fn missing_token_answers_code_104() {
    let e = default_emu().await;
    let r = get(&format!(
        "{}/{V}/{}/conversations",
        e.base_url(),
        e.page_ids()[0]
    ))
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        json!({"message": "An access token is required to request this resource.", "type": "OAuthException", "code": 104})
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            "OAuth \"Facebook Platform\" \"invalid_request\" \"An access token is required to request this resource.\""
        )
    );
}

#[tokio::test]
async fn unknown_token_answers_code_190_with_www_authenticate() {
    let e = default_emu().await;
    let r = get(&url_with_token(&e, "nope", "")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        json!({"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190})
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some("OAuth \"Facebook Platform\" \"invalid_token\" \"Invalid OAuth access token.\"")
    );
}

#[tokio::test]
async fn expired_token_answers_code_190_subcode_463() {
    let e = default_emu().await;
    let r = get(&url_with_token(&e, graph_emulator::EXPIRED_TOKEN, "")).await;
    assert_eq!(r.status, 400);
    let err = r.error();
    assert_eq!(err["type"], "OAuthException");
    assert_eq!(err["code"], 190);
    assert_eq!(err["error_subcode"], 463);
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Error validating access token: Session has expired on Thursday, 19-Nov-26 10:00:00 PST. The current time is "),
        "{msg}"
    );
    assert!(msg.ends_with(" PST."), "{msg}");
    let www = r.header("www-authenticate").unwrap();
    assert!(www.starts_with("OAuth \"Facebook Platform\" \"invalid_token\" \"Error validating access token: Session has expired"), "{www}");
}

#[tokio::test]
async fn logged_out_token_answers_code_190_subcode_467() {
    let e = default_emu().await;
    let r = get(&url_with_token(&e, graph_emulator::LOGGED_OUT_TOKEN, "")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        json!({"message": "Error validating access token: The session is invalid because the user logged out.", "type": "OAuthException", "code": 190, "error_subcode": 467})
    );
}

#[tokio::test]
async fn token_without_the_page_answers_code_10_with_403() {
    let e = default_emu().await;
    let url = format!(
        "{}/{V}/{}/conversations?access_token={}",
        e.base_url(),
        e.page_ids()[1],
        graph_emulator::FIRST_PAGE_TOKEN
    );
    let r = get(&url).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.error(),
        json!({"message": "(#10) Application does not have permission for this action", "type": "OAuthException", "code": 10})
    );
    assert_eq!(
        get(&url_with_token(&e, graph_emulator::FIRST_PAGE_TOKEN, ""))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn token_without_instagram_permission_answers_code_200_on_instagram_only() {
    let e = default_emu().await;
    let tok = graph_emulator::MESSENGER_ONLY_TOKEN;
    let r = get(&url_with_token(&e, tok, "platform=instagram")).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.error(),
        json!({"message": "(#200) Requires instagram_manage_messages permission to manage the object", "type": "OAuthException", "code": 200})
    );
    assert_eq!(
        get(&url_with_token(&e, tok, "platform=messenger"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn token_without_pages_messaging_answers_code_230() {
    let e = default_emu().await;
    let r = get(&url_with_token(
        &e,
        graph_emulator::NO_MESSAGING_TOKEN,
        "platform=messenger",
    ))
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.error(),
        json!({"message": "(#230) Requires pages_messaging permission to manage the object", "type": "OAuthException", "code": 230})
    );
}

#[tokio::test]
async fn rejects_since_and_until_with_code_100() {
    let e = default_emu().await;
    for p in ["since", "until"] {
        let r = get(&list_url(&e, &e.page_ids()[0], &format!("{p}=1700000000"))).await;
        assert_eq!(r.status, 400);
        assert_eq!(
            r.error(),
            json!({"message": format!("(#100) Param {p} is not supported: time-based pagination is not available for the conversations endpoint"), "type": "OAuthException", "code": 100})
        );
    }
}

#[tokio::test]
async fn rejects_unknown_field_with_code_100_on_node_type_unifiedthread() {
    let e = default_emu().await;
    let r = get(&list_url(&e, &e.page_ids()[0], "fields=id,bogus")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        json!({"message": "(#100) Tried accessing nonexisting field (bogus) on node type (UnifiedThread)", "type": "OAuthException", "code": 100})
    );
    assert!(r.header("x-business-use-case-usage").is_some());
}

#[tokio::test]
async fn rejects_unknown_message_field_on_node_type_message() {
    let e = default_emu().await;
    let r = get(&list_url(
        &e,
        &e.page_ids()[0],
        "fields=messages{id,colour}",
    ))
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error()["message"],
        "(#100) Tried accessing nonexisting field (colour) on node type (Message)"
    );
}

#[tokio::test]
async fn subject_exists_before_v23_and_not_after() {
    let e = default_emu().await;
    let page = &e.page_ids()[0];
    let old = get(&format!(
        "{}/v19.0/{page}/conversations?access_token={TOKEN}&fields=subject&limit=1",
        e.base_url()
    ))
    .await;
    assert_eq!(old.status, 200);
    assert!(old.json()["data"][0]["subject"].is_null());
    let new = get(&format!(
        "{}/v23.0/{page}/conversations?access_token={TOKEN}&fields=subject",
        e.base_url()
    ))
    .await;
    assert_eq!(new.status, 400);
    assert_eq!(
        new.error()["message"],
        "(#100) Tried accessing nonexisting field (subject) on node type (UnifiedThread)"
    );
}

#[tokio::test]
async fn rejects_malformed_fields_with_syntax_error_2500() {
    let e = default_emu().await;
    let r = get(&list_url(&e, &e.page_ids()[0], "fields=messages{id")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        json!({"message": "Syntax error \"Expected \"}\".\" at character 11: messages{id", "type": "OAuthException", "code": 2500})
    );
}

#[tokio::test]
async fn rejects_invalid_platform_and_folder_with_code_100() {
    let e = default_emu().await;
    let r = get(&list_url(&e, &e.page_ids()[0], "platform=whatsapp")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["code"], 100);
    let r = get(&list_url(&e, &e.page_ids()[0], "folder=archive")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["code"], 100);
}

fn secret_config() -> EmulatorConfig {
    let mut tokens = BTreeMap::new();
    tokens.insert("access-token-234".to_string(), TokenGrant::full());
    EmulatorConfig {
        tokens,
        app_secret: Some("appsecret-123".to_string()),
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn app_secret_requires_appsecret_proof() {
    let e = emu(secret_config()).await;
    let r = get(&url_with_token(&e, "access-token-234", "")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        json!({"message": "API calls from the server require an appsecret_proof argument", "type": "GraphMethodException", "code": 100})
    );
}

#[tokio::test]
async fn rejects_a_wrong_appsecret_proof() {
    let e = emu(secret_config()).await;
    let proof = graph_emulator::appsecret_proof("another-secret", "access-token-234");
    let r = get(&url_with_token(
        &e,
        "access-token-234",
        &format!("appsecret_proof={proof}"),
    ))
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        json!({"message": "Invalid appsecret_proof provided in the API argument", "type": "GraphMethodException", "code": 100})
    );
}

#[tokio::test]
async fn accepts_the_appsecret_proof_test_vectors() {
    let e = emu(secret_config()).await;
    // HMAC-SHA256 of the token (and of `token|1700000000` for appsecret_time) keyed with the
    // secret, as Meta's "Securing Requests" describes: secret appsecret-123, token
    // access-token-234 (computed with Python's hmac).
    let plain = "cdfcbc87edc90f8123cd3797a0d6f6f7eedf63d97038a15d1693d297f653d7f2";
    let timed = "24576cd34ef4671d43d4876e233b5fca8c51165f9a6e5187c1cb53e2e365d6d0";
    assert_eq!(
        graph_emulator::appsecret_proof("appsecret-123", "access-token-234"),
        plain
    );
    let r = get(&url_with_token(
        &e,
        "access-token-234",
        &format!("appsecret_proof={plain}&limit=2"),
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let next = r.json()["paging"]["next"].as_str().unwrap().to_string();
    assert!(
        !next.contains("appsecret_proof"),
        "the proof is never echoed: {next}"
    );
    let r = get(&url_with_token(
        &e,
        "access-token-234",
        &format!("appsecret_proof={timed}&appsecret_time=1700000000"),
    ))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = get(&url_with_token(
        &e,
        "access-token-234",
        &format!("appsecret_proof={timed}&appsecret_time=1700000001"),
    ))
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn rejects_non_get_methods() {
    let e = default_emu().await;
    let r = client()
        .post(list_url(&e, &e.page_ids()[0], ""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "GraphMethodException");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unsupported post request.")
    );
}
