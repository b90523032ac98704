//! Throughput of `pseudonymize` on realistic canonical batches and message rows, on one thread.
//!
//! `cargo bench -p transform-pseudonymize --bench pseudonymize` (pin it with `taskset -c 0` for
//! one core). Times `apply` with the default plan on the same 8,192-thread batch the `filter` and
//! `explode_messages` benches use (2 participants, 2 senders, 20 messages with a sender and a
//! recipient per thread: 44 participant structs a thread, 88 strings to hash), then on the
//! 163,840 message rows `explode_messages` makes of it. Prints the median and best of many runs
//! as rows per second, and the cost without the per-batch memo (every value hashed: the worst
//! case, a batch in which no value repeats).

// Benchmark code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use transform_explode_messages::{ExplodeMessages, ExplodeMessagesConfig};
use transform_pseudonymize::{Pseudonymize, PseudonymizeConfig, pseudonym};
use tributary_core::plugin::{BuildContext, BuildInput, Transform, TransformPlugin};
use tributary_testkit::batches;

/// Threads per batch.
const THREADS: usize = 8192;
/// Messages per thread (Graph's detail cap).
const MESSAGES: usize = 20;
/// A bench key (never a real one).
const KEY: &str = "bench-key-0123456789abcdef0123456789abcdef";

fn build(batch: &RecordBatch, ctx: &BuildContext) -> Box<dyn Transform> {
    let config: PseudonymizeConfig = toml_key();
    let input = BuildInput {
        schema: batch.schema(),
        domains: vec![],
    };
    Pseudonymize::build(config, &input, ctx).expect("builds")
}

fn toml_key() -> PseudonymizeConfig {
    toml::from_str(&format!("key = \"{KEY}\"")).expect("config")
}

fn main() {
    let threads = batches::canonical(THREADS, MESSAGES);
    let ctx = BuildContext::transform("bench", "private");
    let explode = ExplodeMessages::build(
        ExplodeMessagesConfig {},
        &BuildInput {
            schema: threads.schema(),
            domains: vec![],
        },
        &ctx,
    )
    .expect("explode builds");
    let rows = explode
        .apply(threads.clone())
        .expect("explodes")
        .expect("rows");
    println!(
        "pseudonymize (default plan): {THREADS} threads x {MESSAGES} messages/batch, {} MiB/batch in memory",
        threads.get_array_memory_size() / (1024 * 1024)
    );
    for (name, batch) in [
        ("conversation threads (canonical schema)", threads),
        ("message rows (explode_messages output)", rows),
    ] {
        let t = build(&batch, &ctx);
        let n = batch.num_rows();
        let times = time(|| {
            black_box(t.apply(black_box(batch.clone())).expect("applies"));
        });
        report(name, n, &times);
    }

    // As the Graph source emits them: one batch per API page of 100 threads, each with its
    // own memo (a fresh batch, not a slice).
    let pages: Vec<RecordBatch> = (0..THREADS / 100)
        .map(|_| batches::canonical(100, MESSAGES))
        .collect();
    let t = build(&pages[0], &ctx);
    let n: usize = pages.iter().map(RecordBatch::num_rows).sum();
    let times = time(|| {
        for page in &pages {
            black_box(t.apply(black_box(page.clone())).expect("applies"));
        }
    });
    report("threads in batches of 100 (one API page each)", n, &times);

    // The HMAC alone, per value: what a batch without repeated values pays.
    let mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).expect("key");
    let values: Vec<String> = (0..100_000)
        .map(|i| format!("{}@facebook.com", 6_570_000_000u64 + i))
        .collect();
    let times = time(|| {
        for v in &values {
            black_box(pseudonym(&mac, black_box(v.as_bytes())));
        }
    });
    report(
        "HMAC-SHA256 + hex alone (distinct 24-byte values)",
        values.len(),
        &times,
    );
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

fn report(name: &str, rows: usize, times: &[Duration]) {
    let median = times[times.len() / 2];
    let best = times[0];
    let per_sec = |d: Duration| rows as f64 / d.as_secs_f64() / 1e6;
    println!(
        "  {name:<52} {rows:>7} rows  median {:>9.1} µs = {:>6.2} M rows/s  (best {:.2} M rows/s, {} runs)",
        median.as_secs_f64() * 1e6,
        per_sec(median),
        per_sec(best),
        times.len()
    );
}
