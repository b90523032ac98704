//! How fast the emulator serves conversation pages: threads/s and MB/s of JSON, client and
//! server on ONE single-threaded tokio runtime (so on one core; pin it with `taskset -c 0`).
//!
//! Run: `taskset -c 0 cargo bench -p graph-emulator`
//! Size: `GRAPH_EMULATOR_BENCH_THREADS` (default 200000 threads in the walked unit).
//!
//! Scenarios (each walks one unit to the end by following `paging.next`, `limit=100`):
//! - `participants+20msgs`: threads with participants and `messages.limit(20){...}` — the
//!   heaviest realistic page; the client only reads the bytes.
//! - `participants`: thread fields and participants, no messages.
//! - `participants+20msgs, client parses`: the same walk, the client parsing every page into
//!   `serde_json::Value` — what consuming the pages costs, for comparison.
//!
//! No timed assertions: it prints numbers.

// Benchmark code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use graph_emulator::{EmulatorConfig, MessageCount, ThreadCount};

const THREAD_FIELDS: &str = "participants,updated_time,snippet,message_count,unread_count";
const MESSAGE_FIELDS: &str = "messages.limit(20){id,created_time,from,to,message}";

/// Finds `"next":"..."` near the end of a page without parsing the JSON.
fn next_url(body: &[u8]) -> Option<String> {
    let tail_start = body.len().saturating_sub(4096);
    let tail = std::str::from_utf8(&body[tail_start..]).ok()?;
    let at = tail.rfind("\"next\":\"")?;
    let rest = &tail[at + 8..];
    let end = rest.find('"')?;
    let url = rest[..end].replace("\\/", "/");
    // The page-level `next` closes the body; a nested one is followed by more data.
    (&tail[at + 8 + end..] == "\"}}").then_some(url)
}

struct Outcome {
    threads: u64,
    bytes: u64,
    pages: u64,
    secs: f64,
}

async fn walk(client: &reqwest::Client, first: String, parse: bool) -> Outcome {
    let t0 = Instant::now();
    let (mut threads, mut bytes, mut pages) = (0u64, 0u64, 0u64);
    let mut url = Some(first);
    while let Some(u) = url {
        let resp = client.get(&u).send().await.expect("request");
        assert!(resp.status().is_success(), "{}", resp.status());
        let body = resp.bytes().await.expect("body");
        bytes += body.len() as u64;
        pages += 1;
        if parse {
            let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            threads += v["data"].as_array().map_or(0, |a| a.len() as u64);
            url = v["paging"]["next"].as_str().map(str::to_string);
        } else {
            url = next_url(&body);
        }
    }
    Outcome {
        threads,
        bytes,
        pages,
        secs: t0.elapsed().as_secs_f64(),
    }
}

fn main() {
    let n: usize = std::env::var("GRAPH_EMULATOR_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let emu = graph_emulator::start(EmulatorConfig {
            pages: 1,
            threads_per_unit: ThreadCount::Exact(n),
            messages_per_thread: MessageCount::Exact(20),
            ..EmulatorConfig::default()
        })
        .await
        .expect("start");
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let page = &emu.page_ids()[0];
        println!("graph-emulator serve benchmark: {n} threads per unit, 20 messages each, limit=100, single-threaded runtime");
        let scenarios = [
            ("participants+20msgs", format!("{THREAD_FIELDS},{MESSAGE_FIELDS}"), false),
            ("participants", THREAD_FIELDS.to_string(), false),
            ("participants+20msgs, client parses", format!("{THREAD_FIELDS},{MESSAGE_FIELDS}"), true),
        ];
        for (name, fields, parse) in scenarios {
            let before = emu.stats().threads_served;
            let url = format!(
                "{}/v19.0/{page}/conversations?access_token=demo-token&limit=100&fields={fields}",
                emu.base_url()
            );
            let o = walk(&client, url, parse).await;
            // Counted by the server, so the byte-reading client need not parse.
            let threads = emu.stats().threads_served - before;
            assert!(!parse || threads == o.threads);
            assert_eq!(threads, n as u64, "walked the whole unit");
            println!(
                "{name:<38} {:>9.0} threads/s {:>8.1} MB/s  ({} threads, {} pages, {:.1} MB, {:.2} s)",
                threads as f64 / o.secs,
                o.bytes as f64 / 1e6 / o.secs,
                threads,
                o.pages,
                o.bytes as f64 / 1e6,
                o.secs
            );
        }
        emu.shutdown().await;
    });
}
