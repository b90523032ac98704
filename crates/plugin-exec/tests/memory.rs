//! 1M rows through a pass-through Python child: every row comes back, and this process's peak
//! memory after 1M rows is about what it was after the first 100k (the pipes, the two-batch
//! output buffer and the one batch being written are all that is ever held).
//!
//! Its own test binary, so the peak resident set (`VmHWM`) is this test's alone (nextest also runs
//! each test in a process of its own).

// Test code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use plugin_exec::{ExecTransformConfig, ExecTransformPlugin};
use tributary_core::plugin::{BuildContext, BuildInput, RunContext, Transform, TransformPlugin};

const ROWS: usize = 1_000_000;
const BATCH: usize = 8192;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn batch(start: usize, len: usize) -> RecordBatch {
    let ids: Vec<i64> = (start as i64..(start + len) as i64).collect();
    // About 120 bytes of text a row: 1M rows are ~130 MB through each pipe.
    let text: Vec<String> = ids
        .iter()
        .map(|i| format!("{i:>12} {}", "lorem ipsum dolor sit amet ".repeat(4)))
        .collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as _),
        ("text", Arc::new(StringArray::from(text)) as _),
    ])
    .unwrap()
}

/// An exec transform running `tests/exec/<script>` (config lines `extra`) on `schema`, started.
async fn started(script: &str, extra: &str, schema: &SchemaRef) -> Box<dyn Transform> {
    let python = tributary_testkit::python();
    let script = tributary_testkit::workspace_root()
        .join("tests/exec")
        .join(script);
    let config: ExecTransformConfig = toml::from_str(&format!(
        "command = [{:?}, {:?}]\n{extra}",
        python.display().to_string(),
        script.display().to_string()
    ))
    .unwrap();
    let input = BuildInput {
        schema: schema.clone(),
        domains: Vec::new(),
    };
    let transform =
        ExecTransformPlugin::build(config, &input, &BuildContext::transform("t", "exec")).unwrap();
    transform
        .start(&RunContext::for_test("exec"))
        .await
        .unwrap();
    transform
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_over_1m_rows_through_a_pass_through_child() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("text", DataType::Utf8, true),
    ]));
    let transform = started("passthrough.py", "", &schema).await;

    let (mut sent, mut received, mut expected_sum, mut sum) = (0usize, 0usize, 0i64, 0i64);
    let mut peak_at_100k = 0;
    let count = |batches: Vec<RecordBatch>, received: &mut usize, sum: &mut i64| {
        for b in batches {
            assert_eq!(b.schema(), schema);
            *received += b.num_rows();
            let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            *sum += ids.iter().flatten().sum::<i64>();
        }
    };
    while sent < ROWS {
        let len = BATCH.min(ROWS - sent);
        let b = batch(sent, len);
        expected_sum += (sent as i64..(sent + len) as i64).sum::<i64>();
        sent += len;
        let out = transform.push(b).await.unwrap();
        count(out, &mut received, &mut sum);
        if peak_at_100k == 0 && sent >= 100_000 {
            peak_at_100k = peak_rss_kib();
        }
    }
    while let Some(b) = transform.flush().await.unwrap() {
        count(vec![b], &mut received, &mut sum);
    }
    let peak = peak_rss_kib();
    assert_eq!(received, ROWS, "every row comes back");
    assert_eq!(sum, expected_sum, "the same rows come back");
    eprintln!("peak RSS after 100k rows: {peak_at_100k} KiB; after 1M: {peak} KiB");
    assert!(
        peak < peak_at_100k + 32 * 1024,
        "peak RSS grew from {peak_at_100k} KiB (100k rows) to {peak} KiB (1M rows)"
    );
}

/// Row for row (`columns`), tributary holds each batch until its answer: a child that reads
/// everything before answering must not make it hold the whole input. It stops sending at the
/// bound, and the stalled child fails the run after `timeout_secs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_for_row_holds_at_most_the_unanswered_bound() {
    let transform = started(
        "keep_all.py",
        "columns = [\"id\"]\nenv = { MODE = \"hoard\" }\ntimeout_secs = 2",
        &batch(0, 1).schema(),
    )
    .await;
    let before = peak_rss_kib();
    let (mut sent, mut taken) = (0, 0);
    let one = batch(0, BATCH).get_array_memory_size();
    let error = loop {
        assert!(sent < ROWS, "all {ROWS} rows were taken without an answer");
        let len = BATCH.min(ROWS - sent);
        match transform.push(batch(sent, len)).await {
            Ok(out) => assert!(out.is_empty(), "the hoarding child answered early"),
            Err(e) => break e.to_string(),
        }
        sent += len;
        taken += one;
    };
    let peak = peak_rss_kib();
    eprintln!("stopped after {sent} rows ({taken} bytes held); peak RSS {before} -> {peak} KiB");
    assert!(error.contains("unanswered for 2 s"), "{error}");
    // Taken: the bound and one batch past it (the one that crossed it), never the whole input
    // (about twice the bound).
    assert!(
        taken <= plugin_exec::transform::MAX_UNANSWERED_BYTES + one,
        "{taken} bytes taken, bound {}",
        plugin_exec::transform::MAX_UNANSWERED_BYTES
    );
    assert!(
        peak < before + 100 * 1024,
        "peak RSS grew from {before} KiB to {peak} KiB"
    );
}
