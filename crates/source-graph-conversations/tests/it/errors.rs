//! Fatal errors end the run at once with a message that names the page and says what to do.

use graph_emulator::{
    DEMO_TOKEN, EXPIRED_TOKEN, EmulatorConfig, FIRST_PAGE_TOKEN, Faults, InjectedError,
    LOGGED_OUT_TOKEN, MESSENGER_ONLY_TOKEN, NO_MESSAGING_TOKEN, Trigger,
};
use source_graph_conversations::client::{GraphClient, GraphError};

use crate::common::*;

/// Runs with `token` (and `cfg`) and returns the error, checking it came fast: no retries.
async fn fail(
    cfg: EmulatorConfig,
    token: &str,
    edit: impl FnOnce(&mut source_graph_conversations::client::ConversationsRequest),
) -> (GraphError, u64) {
    let emu = start(cfg).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let mut req = request(&emu, token);
    edit(&mut req);
    let err = read_all(&client, req).await.expect_err("the run must fail");
    let m = client.metrics().snapshot();
    assert_eq!(m.retries, 0, "fatal errors are not retried: {err}");
    emu.shutdown().await;
    (err, m.api_calls)
}

fn has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "`{p}` missing from: {text}");
    }
}

#[tokio::test]
async fn expired_token_says_to_issue_a_new_page_token() {
    let (err, _) = fail(small(), EXPIRED_TOKEN, |_| {}).await;
    assert!(matches!(err, GraphError::Auth { .. }), "{err:?}");
    has(
        &err.to_string(),
        &[
            "page 10485760000000",
            "the access token expired (code 190/463)",
            "issue a new Page access token",
            "pages_messaging",
            "Session has expired",
        ],
    );
}

#[tokio::test]
async fn logged_out_and_unknown_tokens_are_auth_errors() {
    let (err, _) = fail(small(), LOGGED_OUT_TOKEN, |_| {}).await;
    has(
        &err.to_string(),
        &[
            "user logged out (code 190/467)",
            "issue a new Page access token",
        ],
    );
    let (err, _) = fail(small(), "no-such-token", |_| {}).await;
    has(
        &err.to_string(),
        &["the access token is invalid (code 190)"],
    );
}

#[tokio::test]
async fn missing_permissions_name_the_permission_and_the_page() {
    let (err, _) = fail(small(), MESSENGER_ONLY_TOKEN, |r| {
        r.platforms = vec![source_graph_conversations::client::Platform::Instagram];
    })
    .await;
    assert!(matches!(err, GraphError::Permission { .. }), "{err:?}");
    has(
        &err.to_string(),
        &[
            "(code 200)",
            "instagram_manage_messages",
            "instagram, folder",
        ],
    );
    let (err, _) = fail(small(), NO_MESSAGING_TOKEN, |r| {
        r.platforms = vec![source_graph_conversations::client::Platform::Messenger];
    })
    .await;
    has(
        &err.to_string(),
        &[
            "the token lacks pages_messaging (code 230)",
            "MESSAGING task",
        ],
    );
    let (err, _) = fail(small(), FIRST_PAGE_TOKEN, |_| {}).await;
    has(
        &err.to_string(),
        &["may not read page 104857600000002 (code 10)"],
    );
}

#[tokio::test]
async fn injected_fatal_errors_end_the_run_without_retries() {
    let cases: [(InjectedError, &[&str]); 5] = [
        (InjectedError::Permission10, &["(code 10)"]),
        (InjectedError::Permission200, &["(code 200)"]),
        (InjectedError::Permission230, &["(code 230)"]),
        (InjectedError::Policy368, &["policy enforcement (code 368)"]),
        (
            InjectedError::TokenExpired190,
            &["access token expired (code 190/463)"],
        ),
    ];
    for (error, parts) in cases {
        let cfg = EmulatorConfig {
            faults: Faults::none().with_error(error, Trigger::Nth(2)),
            ..small()
        };
        let (err, _) = fail(cfg, DEMO_TOKEN, |_| {}).await;
        has(&err.to_string(), parts);
    }
}

#[tokio::test]
async fn retries_are_bounded() {
    let cfg = EmulatorConfig {
        pages: 1,
        faults: Faults::transient_rate(1.0),
        ..small()
    };
    let emu = start(cfg).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let mut req = request(&emu, DEMO_TOKEN);
    req.concurrency = 1;
    let err = read_all(&client, req).await.unwrap_err();
    assert!(
        matches!(err, GraphError::RetriesExhausted { attempts: 9, .. }),
        "{err:?}"
    );
    has(&err.to_string(), &["giving up after 9 attempts", "code 2"]);
    emu.shutdown().await;
}

#[tokio::test]
async fn app_secret_problems_are_auth_errors() {
    let cfg = EmulatorConfig {
        app_secret: Some("emu-app-secret".into()),
        ..small()
    };
    let (err, _) = fail(cfg.clone(), DEMO_TOKEN, |_| {}).await;
    has(
        &err.to_string(),
        &["appsecret_proof was refused", "set `app_secret`"],
    );
    let emu = start(cfg).await;
    let mut o = options(emu.base_url());
    o.app_secret = Some("wrong-secret".to_string().into());
    let err = read_all(&GraphClient::new(o).unwrap(), request(&emu, DEMO_TOKEN))
        .await
        .unwrap_err();
    has(
        &err.to_string(),
        &["appsecret_proof was refused", "Invalid appsecret_proof"],
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_fields_fail_with_advice() {
    // `subject` no longer exists from v23.0.
    let (err, _) = fail(small(), DEMO_TOKEN, |r| r.fields = vec!["subject".into()]).await;
    has(
        &err.to_string(),
        &["nonexisting field (subject)", "remove the field"],
    );
}

#[tokio::test]
async fn next_links_to_another_origin_are_not_followed() {
    // The emulator writes its `next` links on another origin (as a misconfigured proxy could).
    let cfg = EmulatorConfig {
        public_url: Some("http://127.0.0.2:9".into()),
        pages: 1,
        ..small()
    };
    let emu = start(cfg).await;
    let client = GraphClient::new(options(&format!("http://{}", emu.local_addr()))).unwrap();
    let mut req = request(&emu, DEMO_TOKEN);
    req.concurrency = 1;
    let err = read_all(&client, req).await.unwrap_err();
    assert!(matches!(err, GraphError::ForeignNext { .. }), "{err:?}");
    has(
        &err.to_string(),
        &[
            "refusing to follow `paging.next` to http://127.0.0.2:9",
            "must not be sent elsewhere",
        ],
    );
    assert_eq!(client.metrics().snapshot().api_calls, 1);
    emu.shutdown().await;
}
