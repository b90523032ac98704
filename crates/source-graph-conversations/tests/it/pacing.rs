//! Pacing against every limiter model the emulator offers: complete and exact, and (nearly)
//! never throttled. Real HTTP, real time: each run is bounded by the limiter, a few seconds.

use std::time::Duration;

use graph_emulator::{EmulatorConfig, Folder, LimiterModel, Platform, ThreadCount};
use source_graph_conversations::client::{
    ClientOptions, ConversationsRequest, GraphClient, PageAccess, RetryPolicy,
};

use crate::common::*;

/// `pages` Pages, one platform and two folders of exactly `threads` threads each, limited at
/// `rate` calls per second per Page by `limiter`.
fn limited(pages: usize, threads: usize, rate: f64, limiter: LimiterModel) -> EmulatorConfig {
    EmulatorConfig {
        seed: 5,
        pages,
        threads_per_unit: ThreadCount::Exact(threads),
        rate_limit_per_page: Some(rate),
        limiter,
        ..EmulatorConfig::default()
    }
}

/// The plugin's defaults for pacing and retries (2/s per Page), at `rate`.
fn paced(base: &str, rate: f64) -> ClientOptions {
    let mut o = ClientOptions::new(base);
    o.requests_per_second_per_page = rate;
    o.retry = RetryPolicy {
        max_retries: 8,
        min_backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(30),
    };
    o.timeout = Duration::from_secs(20);
    o
}

fn one_platform(emu: &graph_emulator::RunningEmulator, page_size: u32) -> ConversationsRequest {
    let pages = emu
        .page_ids()
        .into_iter()
        .map(|p| PageAccess::new(p, graph_emulator::DEMO_TOKEN))
        .collect();
    let mut r = ConversationsRequest::new(pages);
    r.platforms = vec![source_graph_conversations::client::Platform::Messenger];
    r.folders = vec![
        source_graph_conversations::client::Folder::Inbox,
        source_graph_conversations::client::Folder::Other,
    ];
    r.page_size = page_size;
    r
}

/// Runs the client with its default pacing against `cfg` and checks the result is exact and the
/// emulator throttled at most 1 % of the calls. Returns (calls, throttled).
async fn run_clean(cfg: EmulatorConfig, rate: f64, page_size: u32) -> (u64, u64) {
    let emu = start(cfg).await;
    let client = GraphClient::new(paced(emu.base_url(), rate)).unwrap();
    let threads = read_all(&client, one_platform(&emu, page_size))
        .await
        .unwrap();
    let truth = emu.ground_truth();
    let wanted: Vec<_> = truth
        .threads
        .iter()
        .filter(|t| t.platform == Platform::Messenger)
        .filter(|t| matches!(t.folder, Folder::Inbox | Folder::Other))
        .cloned()
        .collect();
    assert_matches_truth(&threads, &graph_emulator::GroundTruth { threads: wanted });
    let stats = emu.stats();
    let calls: u64 = stats.per_page.values().map(|p| p.requests).sum();
    let throttled: u64 = stats.per_page.values().map(|p| p.throttled).sum();
    assert!(
        throttled * 100 <= calls,
        "{throttled} of {calls} calls throttled: {stats:?}"
    );
    emu.shutdown().await;
    (calls, throttled)
}

#[tokio::test]
async fn token_bucket_run_is_exact_and_unthrottled() {
    let cfg = limited(3, 40, 2.0, LimiterModel::TokenBucket);
    let (calls, _) = run_clean(cfg, 2.0, 10).await;
    assert_eq!(calls, 3 * 2 * 4, "one call per API page, no retries");
}

#[tokio::test]
async fn strict_sliding_window_with_arrival_jitter_is_exact_and_unthrottled() {
    let mut cfg = limited(
        3,
        40,
        2.0,
        LimiterModel::SlidingWindow {
            window: Duration::from_secs(1),
        },
    );
    // Calls sent 525 ms apart may arrive up to 25 ms closer together.
    cfg.arrival_jitter = Duration::from_millis(25);
    cfg.latency = graph_emulator::Latency::Uniform {
        min: Duration::from_millis(20),
        max: Duration::from_millis(300),
    };
    run_clean(cfg, 2.0, 10).await;
}

#[tokio::test]
async fn wall_clock_fixed_window_run_is_exact_and_unthrottled() {
    let cfg = limited(
        3,
        40,
        2.0,
        LimiterModel::FixedWindow {
            window: Duration::from_secs(1),
        },
    );
    run_clean(cfg, 2.0, 10).await;
}

#[tokio::test]
async fn usage_pool_slows_the_page_before_it_is_exhausted() {
    // Time compressed tenfold: 20 calls/s per Page, and a pool of 100 calls per 6 s (16.7/s
    // sustained) that a client at its configured rate would exhaust after ~5.5 s.
    let cfg = limited(
        2,
        1000,
        20.0,
        LimiterModel::Usage {
            window: Duration::from_secs(6),
            budget: 100,
        },
    );
    let (calls, throttled) = run_clean(cfg, 20.0, 10).await;
    assert!(calls >= 400, "the pool had to bind: {calls} calls");
    assert!(throttled <= calls / 100, "{throttled} of {calls}");
}

#[tokio::test]
async fn a_stricter_limiter_than_configured_is_learned_after_a_few_throttles() {
    // The client believes 4/s; the emulator allows 2 in any rolling second.
    let cfg = limited(
        1,
        150,
        2.0,
        LimiterModel::SlidingWindow {
            window: Duration::from_secs(1),
        },
    );
    let emu = start(cfg).await;
    let client = GraphClient::new(paced(emu.base_url(), 4.0)).unwrap();
    let threads = read_all(&client, one_platform(&emu, 10)).await.unwrap();
    assert_eq!(threads.len(), 300);
    let stats = emu.stats();
    let p = stats.per_page.values().next().unwrap();
    // 30 API pages; a client that never learned would be throttled on about half its calls.
    assert!(p.throttled <= 4, "{p:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_app_wide_limit_is_learned_across_pages() {
    // 6 Pages at 2/s each would send 10.9 calls/s; the app allows 6 per rolling second.
    let mut cfg = limited(6, 40, 2.0, LimiterModel::TokenBucket);
    cfg.app_rate_limit = Some(6.0);
    let emu = start(cfg).await;
    let client = GraphClient::new(paced(emu.base_url(), 2.0)).unwrap();
    let threads = read_all(&client, one_platform(&emu, 5)).await.unwrap();
    assert_eq!(threads.len(), 6 * 2 * 40);
    let stats = emu.stats();
    let calls: u64 = stats.per_page.values().map(|p| p.requests).sum();
    let app = stats.throttled_by_code.get(&4).copied().unwrap_or(0);
    assert!(app > 0, "the app limit must have been met: {stats:?}");
    // Learned after the first event or two, not throttled all run long.
    assert!(
        app * 10 <= calls,
        "{app} of {calls} calls throttled by the app limit"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_throttle_storm_ends_in_a_clean_finish_without_hammering() {
    // Every call between 1 s and 11 s after start is throttled.
    let mut cfg = limited(2, 60, 2.0, LimiterModel::TokenBucket);
    cfg.faults.throttle_storm = Some((Duration::from_secs(1), Duration::from_secs(11)));
    let emu = start(cfg).await;
    let client = GraphClient::new(paced(emu.base_url(), 2.0)).unwrap();
    let threads = read_all(&client, one_platform(&emu, 10)).await.unwrap();
    assert_eq!(threads.len(), 2 * 2 * 60);
    let stats = emu.stats();
    let throttled: u64 = stats.per_page.values().map(|p| p.throttled).sum();
    // Backoff doubles from 2 s and the Page waits as one: a handful of calls per Page in the
    // storm, not one every half second (which would be ~40).
    assert!(throttled <= 2 * 6, "{throttled} throttled calls: {stats:?}");
    // Every API page was read once: 60 threads in pages of 10 per unit, 4 units.
    assert_eq!(
        stats.per_page.values().map(|p| p.requests).sum::<u64>() - throttled,
        2 * 2 * 6
    );
    emu.shutdown().await;
}
