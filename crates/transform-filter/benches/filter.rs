//! Throughput of `filter` on realistic canonical batches, on one thread.
//!
//! `cargo bench -p transform-filter --bench filter` (pin it with `taskset -c 0` for one core).
//! Each case builds the transform through the plugin, as a pipeline does, then times `apply` on
//! the same 8,192-thread batch (participants and 20 messages per thread: the filter copies every
//! column of the rows it keeps, so the nested columns are most of the cost), in two layouts: the
//! (platform, folder) unit changing every thread (worst case) or every 25 threads (one API page).
//! Prints the median and best of many runs as rows (threads) per second.

// Benchmark code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use transform_filter::{Filter, FilterConfig};
use tributary_core::plugin::{BuildContext, BuildInput, TransformPlugin};
use tributary_testkit::batches;

/// Threads per batch.
const THREADS: usize = 8192;
/// Messages per thread (Graph's detail cap).
const MESSAGES: usize = 20;

fn list(values: &[&str]) -> Option<Vec<String>> {
    Some(values.iter().map(|v| (*v).to_owned()).collect())
}

fn main() {
    for (layout, run) in [
        ("unit changes every thread (worst case)", 1),
        ("unit changes every 25 threads (one API page)", 25),
    ] {
        let batch = batches::canonical_in_runs(THREADS, MESSAGES, run);
        let rows = batch.num_rows();
        let input = BuildInput {
            schema: batch.schema(),
            domains: vec![],
        };
        let ctx = BuildContext::transform("bench", "filter");
        println!(
            "filter, {layout}: {rows} threads/batch, {} MiB/batch in memory",
            batch.get_array_memory_size() / (1024 * 1024)
        );

        let cases: [(&str, FilterConfig); 4] = [
            (
                "platform = [instagram] (keeps 1/2)",
                FilterConfig {
                    platform: list(&["instagram"]),
                    ..FilterConfig::default()
                },
            ),
            (
                "platform = [instagram], folder = [inbox] (keeps 1/8)",
                FilterConfig {
                    platform: list(&["instagram"]),
                    folder: list(&["inbox"]),
                    ..FilterConfig::default()
                },
            ),
            (
                "exclude_folder = [spam] (keeps 3/4)",
                FilterConfig {
                    exclude_folder: list(&["spam"]),
                    ..FilterConfig::default()
                },
            ),
            (
                "platform = [messenger, instagram] (keeps all: no copy)",
                FilterConfig {
                    platform: list(&["messenger", "instagram"]),
                    ..FilterConfig::default()
                },
            ),
        ];
        for (name, config) in cases {
            let transform = Filter::build(config, &input, &ctx).expect("builds");
            let mut kept = 0;
            let times = time(|| {
                let out = transform.apply(black_box(batch.clone())).expect("applies");
                kept = out.map_or(0, |b| b.num_rows());
                black_box(kept);
            });
            report(name, rows, kept, &times);
        }
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

fn report(name: &str, rows: usize, kept: usize, times: &[Duration]) {
    let median = times[times.len() / 2];
    let best = times[0];
    let per_sec = |d: Duration| rows as f64 / d.as_secs_f64() / 1e6;
    println!(
        "  {name:<56} kept {kept:>5}  median {:>8.1} µs = {:>7.1} M rows/s  (best {:.1} M rows/s, {} runs)",
        median.as_secs_f64() * 1e6,
        per_sec(median),
        per_sec(best),
        times.len()
    );
}
