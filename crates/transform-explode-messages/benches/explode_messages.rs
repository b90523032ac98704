//! Throughput of `explode_messages` on realistic canonical batches, on one thread.
//!
//! `cargo bench -p transform-explode-messages --bench explode_messages` (pin it with
//! `taskset -c 0` for one core). Times `apply` on the same 8,192-thread batch with 20 messages
//! per thread (163,840 message rows out), built through the plugin as a pipeline does. Prints the
//! median and best of many runs as input threads and output message rows per second.

// Benchmark code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, ListArray, RecordBatch};
use arrow::buffer::NullBuffer;
use transform_explode_messages::{ExplodeMessages, ExplodeMessagesConfig};
use tributary_core::plugin::{BuildContext, BuildInput, TransformPlugin};
use tributary_testkit::batches;

/// Threads per batch.
const THREADS: usize = 8192;
/// Messages per thread (Graph's detail cap).
const MESSAGES: usize = 20;

/// `batch` with every 10th thread's `messages` null (its child rows still present): the path
/// that gathers children with `take` instead of slicing them.
fn with_null_threads(batch: &RecordBatch) -> RecordBatch {
    let index = batch.schema().index_of("messages").expect("messages");
    let list = batch.column(index).as_list::<i32>().clone();
    let (field, offsets, values, _) = list.into_parts();
    let nulls = NullBuffer::from_iter((0..batch.num_rows()).map(|i| !i.is_multiple_of(10)));
    let list = ListArray::new(field, offsets, values, Some(nulls));
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(list);
    RecordBatch::try_new(batch.schema(), columns).expect("batch")
}

fn main() {
    let batch = batches::canonical(THREADS, MESSAGES);
    let threads = batch.num_rows();
    let input = BuildInput {
        schema: batch.schema(),
        domains: vec![],
    };
    let ctx = BuildContext::transform("bench", "messages");
    let transform = ExplodeMessages::build(ExplodeMessagesConfig {}, &input, &ctx).expect("builds");
    println!(
        "explode_messages: {threads} threads x {} messages/batch, {} MiB/batch in memory",
        MESSAGES,
        batch.get_array_memory_size() / (1024 * 1024)
    );

    let cases = [
        (
            "every thread has 20 messages (slices the child arrays)",
            batch.clone(),
        ),
        (
            "every 10th thread null, owning child rows (take; worst)",
            with_null_threads(&batch),
        ),
    ];
    for (name, batch) in cases {
        let mut out_rows = 0;
        let times = time(|| {
            let out = transform.apply(black_box(batch.clone())).expect("applies");
            out_rows = out.map_or(0, |b| b.num_rows());
            black_box(out_rows);
        });
        let median = times[times.len() / 2];
        let best = times[0];
        let per_sec = |n: usize, d: Duration| n as f64 / d.as_secs_f64() / 1e6;
        println!(
            "  {name:<56} median {:>8.1} µs = {:>6.2} M threads/s, {:>6.1} M message rows/s  (best {:.1} M message rows/s, {} runs)",
            median.as_secs_f64() * 1e6,
            per_sec(threads, median),
            per_sec(out_rows, median),
            per_sec(out_rows, best),
            times.len()
        );
    }
}

/// Per-run durations: 3 warm-up runs, then runs until 2 s have passed (at least 20).
fn time(mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..3 {
        f();
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 20 || start.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    times
}
