//! `pages = "all"`: the Pages come from `GET /me/accounts` at run time, each read with its own
//! Page token, narrowed by `exclude_pages` and `require_tasks`, sharded after discovery.

use std::collections::BTreeSet;

use arrow::array::AsArray;
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use graph_emulator::{Accounts, EmulatorConfig, RunningEmulator, ThreadCount, page_id, page_token};
use source_graph_conversations::{GraphConversations, GraphConversationsConfig};
use tributary_core::RunError;
use tributary_core::plugin::{BuildContext, CheckResult, RunContext, Source, SourcePlugin};
use tributary_core::shard::Shard;

use crate::common::*;

/// 6 Pages listed 2 per `/me/accounts` response (3 responses); page 5 (index 4) lacks MESSAGING.
fn six_pages() -> EmulatorConfig {
    EmulatorConfig {
        seed: 3,
        pages: 6,
        threads_per_unit: ThreadCount::Around(6),
        accounts: Accounts {
            per_page: 2,
            without_messaging: [page_id(4)].into_iter().collect(),
            ..Accounts::default()
        },
        ..EmulatorConfig::default()
    }
}

fn all_pages(emu: &RunningEmulator, token: &str, extra: &str) -> GraphConversationsConfig {
    toml::from_str(&format!(
        r#"base_url = "{}"
pages = "all"
access_token = "{token}"
page_size = 10
requests_per_second_per_page = 0
min_backoff_ms = 1
max_backoff_secs = 0.02
{extra}"#,
        emu.base_url()
    ))
    .expect("valid config")
}

fn build(cfg: GraphConversationsConfig) -> Box<dyn Source> {
    GraphConversations::build(cfg, &BuildContext::source("test", "pages")).expect("builds")
}

async fn run(
    cfg: GraphConversationsConfig,
    ctx: &RunContext,
) -> Result<Vec<RecordBatch>, RunError> {
    let mut stream = build(cfg).open(ctx);
    let mut out = Vec::new();
    while let Some(b) = stream.next().await {
        out.push(b?);
    }
    Ok(out)
}

/// (page_id, thread id) of every row.
fn rows(batches: &[RecordBatch]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for b in batches {
        let pages = b.column_by_name("page_id").unwrap().as_string::<i32>();
        let ids = b.column_by_name("id").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            out.insert((pages.value(i).to_string(), ids.value(i).to_string()));
        }
    }
    out
}

fn truth_rows(emu: &RunningEmulator, skip: &[String]) -> BTreeSet<(String, String)> {
    emu.ground_truth()
        .threads
        .iter()
        .filter(|t| !skip.contains(&t.page_id))
        .map(|t| (t.page_id.clone(), t.id.clone()))
        .collect()
}

#[tokio::test]
async fn reads_every_page_of_three_account_responses_with_each_pages_own_token() {
    let emu = start(EmulatorConfig {
        accounts: Accounts {
            per_page: 2,
            ..Accounts::default()
        },
        ..six_pages()
    })
    .await;
    let batches = run(
        all_pages(&emu, graph_emulator::USER_TOKEN, ""),
        &RunContext::for_test("pages"),
    )
    .await
    .unwrap();
    assert_eq!(rows(&batches), truth_rows(&emu, &[]));
    let stats = emu.stats();
    assert_eq!(stats.requests_by_route.get("accounts"), Some(&3));
    // The user token cannot read conversations (#210): every Page was read with its own token.
    assert!(!stats.errors_by_code.contains_key(&210), "{stats:?}");
}

#[tokio::test]
async fn skips_pages_without_messaging_and_excluded_pages() {
    let emu = start(six_pages()).await;
    let excluded = page_id(1);
    let batches = run(
        all_pages(
            &emu,
            graph_emulator::USER_TOKEN,
            &format!("exclude_pages = [\"{excluded}\"]"),
        ),
        &RunContext::for_test("pages"),
    )
    .await
    .unwrap();
    let got = rows(&batches);
    assert_eq!(got, truth_rows(&emu, &[page_id(4), excluded.clone()]));
    assert!(!got.iter().any(|(p, _)| *p == page_id(4) || *p == excluded));
    // Neither was even asked for: no (#230) from the Page without MESSAGING.
    assert!(!emu.stats().errors_by_code.contains_key(&230));
}

#[tokio::test]
async fn require_tasks_empty_reads_a_page_without_messaging_and_fails_on_it() {
    let emu = start(six_pages()).await;
    let err = run(
        all_pages(&emu, graph_emulator::USER_TOKEN, "require_tasks = []"),
        &RunContext::for_test("pages"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains(&page_id(4)), "{err}");
    assert!(err.contains("230") || err.contains("200"), "{err}");
}

#[tokio::test]
async fn an_expired_user_token_fails_with_the_fix() {
    let emu = start(six_pages()).await;
    let err = run(
        all_pages(&emu, graph_emulator::EXPIRED_USER_TOKEN, ""),
        &RunContext::for_test("pages"),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("GET /me/accounts"), "{err}");
    assert!(
        err.contains("the access token expired (code 190/463)"),
        "{err}"
    );
    assert!(
        err.contains("issue a new user or system-user access token"),
        "{err}"
    );
    assert!(!err.contains(graph_emulator::EXPIRED_USER_TOKEN), "{err}");
}

#[tokio::test]
async fn a_page_token_in_place_of_the_user_token_is_explained() {
    let emu = start(six_pages()).await;
    let token = page_token(&page_id(0));
    let err = run(all_pages(&emu, &token, ""), &RunContext::for_test("pages"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is a Page token"), "{err}");
    assert!(err.contains("user or system-user token"), "{err}");
    assert!(!err.contains(&token), "{err}");
}

#[tokio::test]
async fn a_page_token_is_refused_on_another_page() {
    let emu = start(six_pages()).await;
    let cfg: GraphConversationsConfig = toml::from_str(&format!(
        r#"base_url = "{}"
pages = [{{ id = "{}", access_token = "{}" }}]
requests_per_second_per_page = 0
min_backoff_ms = 1"#,
        emu.base_url(),
        page_id(1),
        page_token(&page_id(0))
    ))
    .unwrap();
    let err = run(cfg, &RunContext::for_test("pages"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("code 10"), "{err}");
    assert!(
        err.contains(&format!("may not read page {}", page_id(1))),
        "{err}"
    );
}

#[tokio::test]
async fn shards_split_the_discovered_pages_and_add_up_to_one_run() {
    let emu = start(six_pages()).await;
    let mut union = BTreeSet::new();
    for k in 0..3 {
        let shard = Shard::new(k, 3).unwrap();
        let mut ctx = RunContext::for_test("pages");
        ctx.shard = Some(shard);
        let got = rows(
            &run(all_pages(&emu, graph_emulator::USER_TOKEN, ""), &ctx)
                .await
                .unwrap(),
        );
        for (page, _) in &got {
            assert!(shard.owns(page), "{page} read by {shard}");
        }
        assert!(union.is_disjoint(&got), "a thread read by two shards");
        union.extend(got);
    }
    assert_eq!(union, truth_rows(&emu, &[page_id(4)]));
}

#[tokio::test]
async fn check_lists_one_line_per_discovered_page() {
    let emu = start(six_pages()).await;
    let source = build(all_pages(&emu, graph_emulator::USER_TOKEN, ""));
    let results: Vec<CheckResult> = source.check(&RunContext::for_test("pages")).await;
    assert_eq!(results.len(), 1 + 6, "{results:#?}");
    assert_eq!(results[0].target, "GET /me/accounts");
    assert!(results[0].ok, "{results:#?}");
    for id in emu.page_ids() {
        let line = results
            .iter()
            .find(|r| r.target.starts_with(&format!("page {id} ")))
            .unwrap_or_else(|| panic!("no line for {id}: {results:#?}"));
        if id == page_id(4) {
            assert!(!line.ok);
            assert!(line.detail.contains("MESSAGING"), "{line:?}");
            assert!(
                line.fix
                    .as_deref()
                    .is_some_and(|f| f.contains("exclude_pages"))
            );
        } else {
            assert!(line.ok, "{line:?}");
        }
    }
    let expired = build(all_pages(&emu, graph_emulator::EXPIRED_USER_TOKEN, ""));
    let results = expired.check(&RunContext::for_test("pages")).await;
    assert_eq!(results.len(), 1);
    assert!(
        !results[0].ok && results[0].detail.contains("190/463"),
        "{results:?}"
    );
    assert!(results[0].fix.is_some());
}
