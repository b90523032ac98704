//! Runtime semantics with test-only plugins: delivery, backpressure, failure, interruption.

// Test code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;

use tributary_core::RunError;
use tributary_core::config;
use tributary_core::runtime::{self, RunOptions};

fn pipeline(text: &str) -> config::Pipeline {
    config::load_str(text, Path::new("t.toml"), &common::registry(), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn run(text: &str) -> Result<runtime::RunReport, RunError> {
    runtime::run(pipeline(text), RunOptions::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_and_fan_in_deliver_every_row_exactly_once() {
    let tag = common::tag("fan");
    let text = format!(
        r#"
[sources.a]
type = "gen"
tag = "{tag}"
batches = 20
rows = 7

[sources.b]
type = "gen"
tag = "{tag}"
batches = 10
rows = 5
start = 1000

[transforms.evens]
type = "even"
inputs = ["a", "b"]

[sinks.all]
type = "collect"
tag = "{tag}"
inputs = ["a", "b"]

[sinks.even]
type = "collect"
tag = "{tag}"
inputs = ["evens"]

[sinks.only_a]
type = "collect"
tag = "{tag}"
inputs = ["a"]
"#
    );
    let report = run(&text).await.unwrap();
    let probe = common::probe(&tag);
    let committed = probe.committed.lock().unwrap();
    let mut all = committed["all"].clone();
    all.sort();
    let expected: Vec<i64> = (0..140).chain(1000..1050).collect();
    assert_eq!(
        all, expected,
        "fan-in delivers each row of both sources once"
    );
    let mut even = committed["even"].clone();
    even.sort();
    assert_eq!(
        even,
        expected
            .iter()
            .copied()
            .filter(|n| n % 2 == 0)
            .collect::<Vec<_>>()
    );
    let mut only_a = committed["only_a"].clone();
    only_a.sort();
    assert_eq!(only_a, (0..140).collect::<Vec<_>>());
    assert_eq!(report.sinks.len(), 3);
    assert_eq!(report.sources.iter().map(|s| s.rows).sum::<u64>(), 190);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_bounds_batches_in_flight() {
    let tag = common::tag("slow");
    let text = format!(
        r#"
[pipeline]
buffer = 2

[sources.a]
type = "gen"
tag = "{tag}"
batches = 60
rows = 1

[sinks.slow]
type = "collect"
tag = "{tag}"
inputs = ["a"]
delay_ms = 2
"#
    );
    run(&text).await.unwrap();
    let probe = common::probe(&tag);
    assert_eq!(probe.produced.load(Ordering::SeqCst), 60);
    // Produced but not yet written: at most the channel (2), one held by the sink task, one in
    // the source task's hand, and one being produced.
    let max = probe.max_in_flight.load(Ordering::SeqCst);
    assert!(
        max <= 5,
        "in flight reached {max}: the source ran ahead of the slow sink"
    );
    assert!(
        max >= 2,
        "the channel should have filled at least once (max {max})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_fails_the_run_and_no_sink_commits() {
    let tag = common::tag("fail");
    let text = format!(
        r#"
[sources.a]
type = "gen"
tag = "{tag}"
batches = 50

[sinks.good]
type = "collect"
tag = "{tag}"
inputs = ["a"]

[sinks.bad]
type = "collect"
tag = "{tag}"
inputs = ["a"]
fail_on = 3
"#
    );
    let err = run(&text).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("sinks.bad: collect failed on purpose"),
        "{err}"
    );
    assert!(
        common::probe(&tag).committed.lock().unwrap().is_empty(),
        "no sink may commit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_fails_the_run_and_no_sink_commits() {
    let tag = common::tag("srcfail");
    let text = format!(
        r#"
[sources.a]
type = "gen"
tag = "{tag}"
batches = 50
fail_after = 5

[sources.b]
type = "gen"
tag = "{tag}"
batches = 3

[sinks.out]
type = "collect"
tag = "{tag}"
inputs = ["a", "b"]
"#
    );
    let err = run(&text).await.unwrap_err();
    assert!(
        err.to_string().contains("sources.a: gen failed on purpose"),
        "{err}"
    );
    assert!(common::probe(&tag).committed.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_drains_and_commits_nothing() {
    let tag = common::tag("int");
    let text = format!(
        r#"
[sources.a]
type = "gen"
tag = "{tag}"
batches = 0
endless = true

[sinks.out]
type = "collect"
tag = "{tag}"
inputs = ["a"]
"#
    );
    let options = RunOptions::default();
    let interrupt = options.interrupt.clone();
    let handle = tokio::spawn(runtime::run(pipeline(&text), options));
    let probe = common::probe(&tag);
    while probe
        .written
        .lock()
        .unwrap()
        .get("out")
        .copied()
        .unwrap_or(0)
        < 50
    {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    interrupt.cancel();
    let err = handle.await.unwrap().unwrap_err();
    assert!(matches!(err, RunError::Interrupted), "{err}");
    assert!(
        probe.committed.lock().unwrap().is_empty(),
        "an interrupted run commits nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinks_that_want_no_more_stop_the_sources_and_still_commit() {
    let tag = common::tag("enough");
    let text = format!(
        r#"
[sources.a]
type = "gen"
tag = "{tag}"
batches = 0
endless = true

[sinks.head]
type = "collect"
tag = "{tag}"
inputs = ["a"]
max_rows = 25
"#
    );
    let report = run(&text).await.unwrap();
    let committed = common::probe(&tag).committed.lock().unwrap()["head"].clone();
    assert_eq!(
        committed.len(),
        30,
        "stops after the batch that reached the limit"
    );
    assert_eq!(report.sinks[0].report.rows, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_finish_fails_the_run() {
    let tag = common::tag("finish");
    let text = format!(
        r#"
[sources.a]
type = "gen"
tag = "{tag}"
batches = 2

[sinks.out]
type = "collect"
tag = "{tag}"
inputs = ["a"]
fail_finish = true
"#
    );
    let err = run(&text).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("sinks.out: finish failed on purpose"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_stops_each_source_after_n_rows_and_commits() {
    let tag = common::tag("limit");
    let text = format!(
        r#"
[sources.a]
type = "gen"
tag = "{tag}"
batches = 0
endless = true
rows = 7

[sources.b]
type = "gen"
tag = "{tag}"
batches = 2
rows = 3
start = 1000

[sinks.out]
type = "collect"
tag = "{tag}"
inputs = ["a", "b"]
"#
    );
    let options = RunOptions {
        limit: Some(10),
        ..RunOptions::default()
    };
    let report = runtime::run(pipeline(&text), options).await.unwrap();
    let mut rows = common::probe(&tag).committed.lock().unwrap()["out"].clone();
    rows.sort();
    let expected: Vec<i64> = (0..10).chain(1000..1006).collect();
    assert_eq!(
        rows, expected,
        "10 rows of the endless source, all 6 of the short one"
    );
    assert_eq!(report.sources.iter().map(|s| s.rows).sum::<u64>(), 16);
}
