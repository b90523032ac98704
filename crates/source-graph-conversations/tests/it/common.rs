//! Shared helpers: emulator configs, fast client options, and the ground-truth comparison.

use std::collections::HashMap;
use std::time::Duration;

use futures::TryStreamExt;
use graph_emulator::{EmulatorConfig, GroundTruth, RunningEmulator};
use source_graph_conversations::client::{
    ClientOptions, ConversationsRequest, GraphClient, GraphError, PageAccess, RetryPolicy, Thread,
    parse_graph_time,
};

/// A small dataset: 2 pages x 2 platforms x 4 folders, 15-45 threads per unit.
pub fn small() -> EmulatorConfig {
    EmulatorConfig {
        seed: 11,
        ..EmulatorConfig::default()
    }
}

pub async fn start(cfg: EmulatorConfig) -> RunningEmulator {
    graph_emulator::start(cfg)
        .await
        .expect("start the emulator")
}

/// Options for tests: no pacing, millisecond backoffs.
pub fn options(base_url: &str) -> ClientOptions {
    let mut o = ClientOptions::new(base_url);
    o.requests_per_second_per_page = 0.0;
    o.retry = RetryPolicy {
        max_retries: 8,
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
    };
    o.timeout = Duration::from_secs(20);
    o
}

/// Every page of the emulator with `token`, page size 10 (several API pages per unit).
pub fn request(emu: &RunningEmulator, token: &str) -> ConversationsRequest {
    let pages = emu
        .page_ids()
        .into_iter()
        .map(|p| PageAccess::new(p, token))
        .collect();
    let mut r = ConversationsRequest::new(pages);
    r.page_size = 10;
    r
}

pub async fn read_all(
    client: &GraphClient,
    request: ConversationsRequest,
) -> Result<Vec<Thread>, GraphError> {
    client.conversations(request).threads().try_collect().await
}

/// Every ground-truth thread arrived exactly once, with the right page, platform and folder,
/// byte-exact text and the same `updated_time`.
pub fn assert_matches_truth(threads: &[Thread], truth: &GroundTruth) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in threads {
        *counts.entry(t.id.as_str()).or_default() += 1;
    }
    let dupes: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        dupes.is_empty(),
        "threads emitted more than once: {dupes:?}"
    );
    let by_id: HashMap<&str, &graph_emulator::TruthThread> =
        truth.threads.iter().map(|t| (t.id.as_str(), t)).collect();
    let missing: Vec<_> = by_id
        .keys()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} threads missing, e.g. {:?}",
        missing.len(),
        by_id.len(),
        missing.first()
    );
    assert_eq!(
        threads.len(),
        truth.threads.len(),
        "threads that are not in the ground truth"
    );
    for t in threads {
        let want = by_id[t.id.as_str()];
        assert_eq!(t.page_id, want.page_id, "{}", t.id);
        assert_eq!(t.platform.as_str(), want.platform.as_str(), "{}", t.id);
        assert_eq!(t.folder.as_str(), want.folder.as_str(), "{}", t.id);
        assert_eq!(
            t.updated_time,
            parse_graph_time(&want.updated_time),
            "{}",
            t.id
        );
        assert_eq!(
            t.snippet.as_deref(),
            Some(want.snippet.as_str()),
            "{}",
            t.id
        );
        assert_eq!(t.message_count, Some(want.message_count as i64), "{}", t.id);
        let unread = (want.unread_count > 0).then_some(want.unread_count as i64);
        assert_eq!(t.unread_count, unread, "{}", t.id);
    }
}

/// The texts of the newest `n` messages of a truth thread, parsed from its JSON.
pub fn truth_messages(t: &graph_emulator::TruthThread, n: usize) -> Vec<(String, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(&t.json).expect("truth json");
    v["messages"]["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .take(n)
                .map(|m| {
                    (
                        m["id"].as_str().unwrap_or_default().to_string(),
                        m["message"].as_str().map(str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
