//! Benchmarks of the `graph_conversations` source against `graph-emulator` (real HTTP on
//! 127.0.0.1). Run with `cargo bench -p source-graph-conversations` (release profile).
//!
//! 1. `paced`: 16 pages x 2 platforms x 4 folders, 10 API pages per unit, 100 ms latency and
//!    the emulator's 2 calls/s per page limit. Reports wall time against the rate-limit lower
//!    bound, and the throttle responses the emulator sent (the goal is zero).
//! 2. `unpaced`: the same shape with no latency and no limit, bigger units: end-to-end threads/s
//!    through the plugin (HTTP + decode + Arrow), with the process CPU time (emulator included).
//! 3. `decode`: response bodies fetched once, then decoded and turned into canonical batches on
//!    one thread, both ways side by side: the typed path (serde_json into `Thread`s, then
//!    `threads_to_batch`), the plugin's (`decode_list_page`: sonic-rs straight into Arrow
//!    builders), and the plugin's visitors run by serde_json (the parser comparison).
//!    Threads/s per core of this crate's own work.
//!
//! Arguments: `paced`, `unpaced`, `decode` to run only some (default: all).

// Benchmark code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use graph_emulator::{EmulatorConfig, Latency, ThreadCount};
use source_graph_conversations::client::{Folder, Platform, UnitKey, parse_list_page};
use source_graph_conversations::columns::{decode_list_page, decode_list_page_serde_json};
use source_graph_conversations::source::{Columns, threads_to_batch};
use source_graph_conversations::{GraphConversations, GraphConversationsConfig, build_source};
use tributary_core::plugin::{BuildContext, RunContext, Source, SourcePlugin};

const PAGES: usize = 16;
const UNITS_PER_PAGE: usize = 8;
const PAGE_SIZE: usize = 25;
const API_PAGES_PER_UNIT: usize = 10;
const RATE: f64 = 2.0;
const LATENCY: Duration = Duration::from_millis(100);

fn config(base: &str, pages: usize, page_size: usize, rate: f64) -> GraphConversationsConfig {
    let ids: Vec<String> = (0..pages)
        .map(graph_emulator::page_id)
        .map(|p| format!("\"{p}\""))
        .collect();
    toml::from_str(&format!(
        r#"base_url = "{base}"
pages = [{}]
access_token = "demo-token"
page_size = {page_size}
requests_per_second_per_page = {rate}"#,
        ids.join(", ")
    ))
    .expect("bench config")
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`, 100 Hz ticks).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

async fn run_source(source: Box<dyn Source>) -> (usize, usize, Duration) {
    let ctx = RunContext::for_test("bench");
    let t0 = Instant::now();
    let mut stream = source.open(&ctx);
    let (mut rows, mut batches) = (0, 0);
    while let Some(b) = stream.next().await {
        let b = b.expect("bench run failed");
        rows += b.num_rows();
        batches += 1;
    }
    (rows, batches, t0.elapsed())
}

async fn paced() {
    let emu = graph_emulator::start(EmulatorConfig {
        pages: PAGES,
        threads_per_unit: ThreadCount::Exact(PAGE_SIZE * API_PAGES_PER_UNIT),
        latency: Latency::Fixed(LATENCY),
        rate_limit_per_page: Some(RATE),
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator");
    let source = GraphConversations::build(
        config(emu.base_url(), PAGES, PAGE_SIZE, RATE),
        &BuildContext::source("bench", "pages"),
    )
    .expect("build");
    let (rows, batches, took) = run_source(source).await;
    let stats = emu.stats();
    let calls_per_page = (UNITS_PER_PAGE * API_PAGES_PER_UNIT) as f64;
    // The fastest any client can go: the emulator's bucket starts full (2 tokens), then
    // one call per 1/rate; plus one response latency.
    let bound = (calls_per_page - RATE) / RATE + LATENCY.as_secs_f64();
    let throttled: u64 = stats.throttled_by_code.values().sum();
    println!(
        "paced: {PAGES} pages x {UNITS_PER_PAGE} units x {API_PAGES_PER_UNIT} API pages, latency {} ms, limit {RATE}/s/page",
        LATENCY.as_millis()
    );
    println!(
        "paced: {rows} threads in {batches} batches, {} requests, wall {:.2} s, lower bound {bound:.2} s, ratio {:.3}, throttle responses {throttled}",
        stats
            .requests_by_route
            .get("conversations")
            .copied()
            .unwrap_or(0),
        took.as_secs_f64(),
        took.as_secs_f64() / bound,
    );
    emu.shutdown().await;
}

async fn unpaced() {
    let per_unit = 2500;
    let emu = graph_emulator::start(EmulatorConfig {
        pages: PAGES,
        threads_per_unit: ThreadCount::Exact(per_unit),
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator");
    let source = build_source(
        config(emu.base_url(), PAGES, 100, 0.0),
        &BuildContext::source("bench", "pages"),
    )
    .expect("build");
    let cpu0 = cpu_seconds();
    let (rows, batches, took) = run_source(Box::new(source)).await;
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    let stats = emu.stats();
    println!(
        "unpaced: {rows} threads in {batches} batches ({} requests, {:.1} MB of JSON) in {:.2} s: {:.0} threads/s end to end (emulator in the same process)",
        stats
            .requests_by_route
            .get("conversations")
            .copied()
            .unwrap_or(0),
        stats.bytes_served as f64 / 1e6,
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64(),
    );
    if let Some(cpu) = cpu {
        println!(
            "unpaced: process CPU {cpu:.2} s (client + emulator): {:.0} threads per CPU-second",
            rows as f64 / cpu
        );
    }
    emu.shutdown().await;
}

async fn decode() {
    let emu = graph_emulator::start(EmulatorConfig {
        pages: 1,
        threads_per_unit: ThreadCount::Exact(2000),
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator");
    let fields = source_graph_conversations::client::DEFAULT_THREAD_FIELDS.join(",");
    let unit = UnitKey {
        page_id: graph_emulator::page_id(0),
        platform: Platform::Messenger,
        folder: Folder::Inbox,
    };
    let http = reqwest::Client::new();
    let mut bodies = Vec::new();
    let mut url = Some(format!(
        "{}/v25.0/{}/conversations?platform=messenger&folder=inbox&limit=100&access_token=demo-token&fields={fields}",
        emu.base_url(),
        unit.page_id
    ));
    while let Some(u) = url.take() {
        let body = http
            .get(&u)
            .send()
            .await
            .expect("GET")
            .bytes()
            .await
            .expect("body");
        let (_, next) = parse_list_page(&body, &unit).expect("decode");
        url = next;
        bodies.push(body);
    }
    emu.shutdown().await;
    let columns = Columns::new(
        &source_graph_conversations::client::DEFAULT_THREAD_FIELDS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        false,
    );
    let bytes: usize = bodies.iter().map(|b| b.len()).sum();
    let rounds = 20;
    // The paths over the same bodies, alternating round by round so drift hits all alike.
    let (mut typed, mut columns_s, mut columns_j) = (0.0, 0.0, 0.0);
    let mut rows = (0, 0, 0);
    for _ in 0..rounds {
        let t0 = Instant::now();
        for body in &bodies {
            let (threads, _) = parse_list_page(body, &unit).expect("decode");
            let batch = threads_to_batch(&threads, chrono::Utc::now(), &columns).expect("batch");
            rows.0 += batch.num_rows();
        }
        typed += t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        for body in &bodies {
            let page = decode_list_page(body, &unit, &columns, None).expect("decode");
            rows.1 += page.batch.num_rows();
        }
        columns_s += t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        for body in &bodies {
            let page = decode_list_page_serde_json(body, &unit, &columns, None).expect("decode");
            rows.2 += page.batch.num_rows();
        }
        columns_j += t0.elapsed().as_secs_f64();
    }
    assert_eq!((rows.0, rows.0), (rows.1, rows.2));
    let mb = (bytes * rounds) as f64 / 1e6;
    for (name, took) in [
        ("typed (serde_json -> Thread -> threads_to_batch)", typed),
        ("columns, serde_json (the same visitors)", columns_j),
        ("columns (sonic-rs straight into Arrow builders)", columns_s),
    ] {
        println!(
            "decode, {name}: {} threads ({mb:.1} MB JSON) into canonical batches on one core in {took:.2} s: {:.0} threads/s/core, {:.0} MB/s",
            rows.0,
            rows.0 as f64 / took,
            mb / took,
        );
    }
    println!(
        "decode: columns (sonic-rs) / typed = {:.2}x threads/s; sonic-rs / serde_json with the same visitors = {:.2}x",
        typed / columns_s,
        columns_j / columns_s
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        if want("paced") {
            paced().await;
        }
        if want("unpaced") {
            unpaced().await;
        }
        if want("decode") {
            decode().await;
        }
    });
}
