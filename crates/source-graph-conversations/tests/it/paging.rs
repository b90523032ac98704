//! Pagination, dedupe, messages and watermarks against a well-behaved emulator.

use std::collections::BTreeMap;

use futures::StreamExt;
use graph_emulator::{DEMO_TOKEN, Mutation};
use source_graph_conversations::client::{
    Folder, GraphClient, MessagesRequest, Platform, UnitKey, parse_graph_time,
};

use crate::common::*;

#[tokio::test]
async fn reads_every_thread_of_every_unit_exactly_once() {
    let emu = start(small()).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let threads = read_all(&client, request(&emu, DEMO_TOKEN)).await.unwrap();
    assert_matches_truth(&threads, &emu.ground_truth());
    let m = client.metrics().snapshot();
    assert_eq!(m.retries, 0);
    assert_eq!(m.units_done, 16);
    assert_eq!(m.api_calls, emu.stats().requests_by_route["conversations"]);
    emu.shutdown().await;
}

#[tokio::test]
async fn gzip_is_asked_for_and_inflated_and_optional_on_both_sides() {
    for (client_gzip, server_gzip) in [(true, true), (false, true), (true, false)] {
        let emu = start(graph_emulator::EmulatorConfig {
            gzip: server_gzip,
            messages_per_thread: graph_emulator::MessageCount::Exact(3),
            ..small()
        })
        .await;
        let mut o = options(emu.base_url());
        o.gzip = client_gzip;
        let client = GraphClient::new(o).unwrap();
        let mut req = request(&emu, DEMO_TOKEN);
        req.messages = Some(MessagesRequest {
            max: 3,
            fields: vec!["id".into(), "message".into()],
        });
        let threads = read_all(&client, req).await.unwrap();
        assert_matches_truth(&threads, &emu.ground_truth());
        let stats = emu.stats();
        let calls = client.metrics().snapshot().api_calls;
        let expected = if client_gzip && server_gzip { calls } else { 0 };
        assert_eq!(
            stats.gzipped_responses, expected,
            "{client_gzip} {server_gzip}"
        );
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn one_item_per_api_page_and_unknown_fields_kept() {
    let emu = start(small()).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let mut pages = client.conversations(request(&emu, DEMO_TOKEN));
    let mut sizes = Vec::new();
    let mut extra = 0;
    while let Some(p) = pages.next().await {
        let p = p.unwrap();
        sizes.push(p.threads.len());
        extra += p
            .threads
            .iter()
            .filter(|t| t.extra_json().is_some_and(|j| j.contains("\"ad_id\"")))
            .count();
    }
    assert!(sizes.iter().all(|n| *n <= 10), "{sizes:?}");
    assert!(sizes.len() >= 16 * 2, "{} pages", sizes.len());
    assert!(
        extra > 0,
        "the emulator adds an unrequested `ad_id` to some threads: it must land in extra"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn filters_platforms_folders_and_user_id() {
    let emu = start(small()).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let mut req = request(&emu, DEMO_TOKEN);
    req.platforms = vec![Platform::Instagram];
    req.folders = vec![Folder::Spam, Folder::PageDone];
    let threads = read_all(&client, req).await.unwrap();
    let mut truth = emu.ground_truth();
    truth.threads.retain(|t| {
        t.platform.as_str() == "instagram" && matches!(t.folder.as_str(), "spam" | "page_done")
    });
    assert_matches_truth(&threads, &truth);
    emu.shutdown().await;
}

#[tokio::test]
async fn messages_come_with_the_thread_newest_first_with_exact_text() {
    let emu = start(small()).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let mut req = request(&emu, DEMO_TOKEN);
    req.folders = vec![Folder::Inbox];
    req.messages = Some(MessagesRequest {
        max: 7,
        fields: vec!["id".into(), "message".into(), "from".into(), "to".into()],
    });
    let threads = read_all(&client, req).await.unwrap();
    let truth = emu.ground_truth();
    let mut checked = 0;
    for t in &threads {
        let want = truth_messages(truth.get(&t.id).unwrap(), 7);
        let got: Vec<_> = t
            .messages
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| (m.id.clone().unwrap(), m.message.clone()))
            .collect();
        assert_eq!(got, want, "{}", t.id);
        checked += got.len();
    }
    assert!(checked > threads.len() * 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn nested_messages_paging_is_followed_up_to_max() {
    let mut cfg = small();
    // Graph serves at most 4 per page here, so reaching 20 messages takes nested `next` links.
    cfg.max_limit = 4;
    let emu = start(cfg).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let mut req = request(&emu, DEMO_TOKEN);
    req.folders = vec![Folder::Other];
    req.platforms = vec![Platform::Messenger];
    req.messages = Some(MessagesRequest {
        max: 20,
        fields: vec!["id".into(), "message".into()],
    });
    let threads = read_all(&client, req).await.unwrap();
    let truth = emu.ground_truth();
    for t in &threads {
        let want = truth_messages(truth.get(&t.id).unwrap(), 20);
        let got: Vec<_> = t
            .messages
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| (m.id.clone().unwrap(), m.message.clone()))
            .collect();
        assert_eq!(got, want, "{}", t.id);
    }
    assert!(
        threads
            .iter()
            .any(|t| t.messages.as_ref().unwrap().len() == 20)
    );
    assert!(
        emu.stats()
            .requests_by_route
            .get("messages")
            .copied()
            .unwrap_or(0)
            > 0
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn watermark_walk_stops_at_older_threads_but_keeps_equal_times() {
    let mut cfg = small();
    // Ties across every page boundary (page size 10).
    cfg.faults.equal_times_every = Some(10);
    let emu = start(cfg).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let page = emu.page_ids()[0].clone();
    let unit = UnitKey {
        page_id: page.clone(),
        platform: Platform::Messenger,
        folder: Folder::Inbox,
    };
    let truth = emu.ground_truth();
    let unit_truth: Vec<_> = truth
        .unit(
            &page,
            graph_emulator::Platform::Messenger,
            graph_emulator::Folder::Inbox,
        )
        .collect();
    assert!(unit_truth.len() > 12);
    // Index 10 shares its time with index 9 (the last thread of page 1).
    let stop = parse_graph_time(&unit_truth[10].updated_time).unwrap();
    assert_eq!(Some(stop), parse_graph_time(&unit_truth[9].updated_time));
    let mut req = request(&emu, DEMO_TOKEN);
    req.pages.truncate(1);
    req.platforms = vec![Platform::Messenger];
    req.folders = vec![Folder::Inbox];
    req.stop_at = BTreeMap::from([(unit.clone(), stop)]);
    let mut pages = client.conversations(req);
    let watermarks = pages.watermarks();
    let mut ids = Vec::new();
    while let Some(p) = pages.next().await {
        ids.extend(p.unwrap().threads.into_iter().map(|t| t.id));
    }
    let want: Vec<_> = unit_truth[..=10].iter().map(|t| t.id.clone()).collect();
    assert_eq!(
        ids, want,
        "threads at the watermark's time are kept, older ones are not read"
    );
    assert_eq!(
        client.metrics().snapshot().api_calls,
        2,
        "stops after the page that reached the watermark"
    );
    assert_eq!(
        watermarks.get(&unit),
        parse_graph_time(&unit_truth[0].updated_time)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn incremental_rerun_reads_only_what_changed() {
    let emu = start(small()).await;
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let first = client.conversations(request(&emu, DEMO_TOKEN));
    let watermarks = first.watermarks();
    let all: Vec<_> = first.threads().collect().await;
    assert!(all.iter().all(Result::is_ok));
    let marks = watermarks.all();
    assert_eq!(marks.len(), 16);
    // One customer writes again: that thread moves to the top of its unit.
    let victim = emu.ground_truth().threads[25].id.clone();
    assert_eq!(
        emu.mutate(Mutation::Update {
            thread_id: victim.clone()
        }),
        vec![victim.clone()]
    );
    let mut req = request(&emu, DEMO_TOKEN);
    req.stop_at = marks.clone();
    let second = GraphClient::new(options(emu.base_url())).unwrap();
    let threads = read_all(&second, req).await.unwrap();
    assert!(
        threads.iter().any(|t| t.id == victim),
        "the updated thread is read again"
    );
    for t in &threads {
        // Everything else is the thread at each unit's watermark (equal times are not skipped).
        assert!(
            t.id == victim || t.updated_time == marks.get(&t.unit()).copied(),
            "{}",
            t.id
        );
    }
    assert_eq!(threads.len(), 17);
    assert_eq!(
        second.metrics().snapshot().api_calls,
        16,
        "one API page per unit"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn pacing_keeps_a_rate_limited_run_free_of_throttles() {
    let mut cfg = small();
    cfg.pages = 1;
    cfg.rate_limit_per_page = Some(20.0);
    let emu = start(cfg).await;
    let mut o = options(emu.base_url());
    o.requests_per_second_per_page = 20.0;
    let client = GraphClient::new(o).unwrap();
    let t0 = std::time::Instant::now();
    let threads = read_all(&client, request(&emu, DEMO_TOKEN)).await.unwrap();
    let took = t0.elapsed();
    assert_matches_truth(&threads, &emu.ground_truth());
    let stats = emu.stats();
    assert!(
        stats.throttled_by_code.is_empty(),
        "{:?}",
        stats.throttled_by_code
    );
    let calls = client.metrics().snapshot().api_calls;
    assert_eq!(client.metrics().snapshot().throttles, 0);
    assert!(
        took.as_secs_f64() >= (calls - 1) as f64 / 20.0 * 0.95,
        "{calls} calls in {took:?}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn without_pacing_the_limit_throttles_and_retries_recover() {
    let mut cfg = small();
    cfg.pages = 1;
    cfg.rate_limit_per_page = Some(20.0);
    // A wall-clock window reports hourly usage (low), so no usage header warns the unpaced
    // client: throttles happen, and a generous budget lets the retries get through.
    cfg.limiter = graph_emulator::LimiterModel::FixedWindow {
        window: std::time::Duration::from_secs(1),
    };
    let emu = start(cfg).await;
    let mut o = options(emu.base_url());
    o.retry.max_retries = 60;
    let client = GraphClient::new(o).unwrap();
    let threads = read_all(&client, request(&emu, DEMO_TOKEN)).await.unwrap();
    assert_matches_truth(&threads, &emu.ground_truth());
    let m = client.metrics().snapshot();
    assert!(m.throttles > 0 && m.retries >= m.throttles, "{m:?}");
    assert_eq!(
        m.throttles,
        emu.stats().throttled_by_code.values().sum::<u64>()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn app_secret_adds_a_valid_proof() {
    let mut cfg = small();
    cfg.pages = 1;
    cfg.app_secret = Some("emu-app-secret".into());
    let emu = start(cfg).await;
    let mut o = options(emu.base_url());
    o.app_secret = Some("emu-app-secret".to_string().into());
    let client = GraphClient::new(o).unwrap();
    let threads = read_all(&client, request(&emu, DEMO_TOKEN)).await.unwrap();
    assert_matches_truth(&threads, &emu.ground_truth());
    emu.shutdown().await;
}

#[tokio::test]
async fn usage_headers_near_the_limit_pause_before_any_throttle() {
    let mut cfg = small();
    cfg.pages = 1;
    cfg.rate_limit_per_page = Some(20.0);
    let emu = start(cfg).await;
    let mut o = options(emu.base_url());
    // Pacing off: only the usage headers (85% and up) can keep this run clear of the limit.
    o.retry.max_backoff = std::time::Duration::from_millis(300);
    let client = GraphClient::new(o).unwrap();
    let mut req = request(&emu, DEMO_TOKEN);
    req.concurrency = 1;
    let threads = read_all(&client, req).await.unwrap();
    assert_matches_truth(&threads, &emu.ground_truth());
    let m = client.metrics().snapshot();
    assert!(m.usage_pauses > 0, "{m:?}");
    assert_eq!(m.throttles, 0, "{m:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn user_id_reads_one_persons_thread() {
    let emu = start(small()).await;
    let truth = emu.ground_truth();
    let target = &truth.threads[40];
    let json: serde_json::Value = serde_json::from_str(&target.json).unwrap();
    // The customer is the participant that is not the Page (or its Instagram account).
    let customer = json["participants"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .find(|id| id.len() >= 19 && id.starts_with('1'))
        .expect("a customer participant")
        .to_string();
    let client = GraphClient::new(options(emu.base_url())).unwrap();
    let mut req = request(&emu, DEMO_TOKEN);
    req.user_id = Some(customer);
    let threads = read_all(&client, req).await.unwrap();
    let ids: Vec<_> = threads.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [target.id.as_str()]);
    emu.shutdown().await;
}
