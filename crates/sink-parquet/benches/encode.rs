//! Benchmark: the `parquet` sink encoding canonical conversations (two participants, 20
//! messages each) to zstd Parquet on one core, against pyarrow writing the same batches.
//!
//! ```text
//! cargo bench -p sink-parquet --bench encode                # 100k and 1M rows
//! BENCH_ROWS=20000,100000 cargo bench -p sink-parquet --bench encode
//! ```
//!
//! How it measures:
//! - A pool of 20,000 distinct rows (20 batches of 1,000) is generated once and saved as an
//!   uncompressed Parquet file; both writers load it and write it cyclically until they reach
//!   the row count, so both encode exactly the same batches in the same order.
//! - Each measurement is a fresh child process pinned to CPU 0 (`taskset -c 0`): the Rust sink
//!   on a current-thread runtime, pyarrow with one CPU and one I/O thread
//!   (`pyarrow.dataset.write_dataset`, the streaming writer, 65,536-row groups, zstd level 3).
//! - Time covers start → last write → finish (commit included for the sink); loading the pool is
//!   excluded. Peak memory is the child's `VmHWM`; "over pool" subtracts the RSS measured after
//!   loading the pool, i.e. what the writer itself held at its peak.

// Benchmark code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/it/data.rs"]
mod data;

use std::fs::File;
use std::process::Command;
use std::time::Instant;

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use sink_parquet::ParquetConfig;
use tributary_core::canonical::conversations_schema;
use tributary_core::plugin::{BuildInput, RunContext, Sink};

const POOL_BATCHES: u64 = 20;
const POOL_BATCH_ROWS: usize = 1_000;
const MESSAGES: usize = 20;

const PYARROW: &str = r#"
import sys, os, time, json
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.dataset as ds
pa.set_cpu_count(1)
pa.set_io_thread_count(1)
rows, pool_path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pool = pq.read_table(pool_path).to_batches(max_chunksize=1000)
def status(key):
    return int(open('/proc/self/status').read().split(key + ':')[1].split()[0])
rss_pool = status('VmRSS')
in_bytes = 0
def batches():
    global in_bytes
    left, i = rows, 0
    while left > 0:
        b = pool[i % len(pool)]
        i += 1
        if b.num_rows > left:
            b = b.slice(0, left)
        left -= b.num_rows
        in_bytes += b.nbytes
        yield b
fmt = ds.ParquetFileFormat()
opts = fmt.make_write_options(compression='zstd', compression_level=3)
t0 = time.perf_counter()
ds.write_dataset(batches(), out, schema=pool[0].schema, format=fmt, file_options=opts,
                 min_rows_per_group=65536, max_rows_per_group=65536, max_rows_per_file=0,
                 use_threads=False, existing_data_behavior='overwrite_or_ignore')
secs = time.perf_counter() - t0
out_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
print(json.dumps({"rows": rows, "secs": secs, "in_bytes": in_bytes, "out_bytes": out_bytes,
                  "rss_pool_kb": rss_pool, "peak_kb": status('VmHWM'), "version": pa.__version__}))
"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let rows = args[2].parse().expect("rows");
        child(rows, &args[3], &args[4]);
        return;
    }
    let sizes: Vec<u64> = std::env::var("BENCH_ROWS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("BENCH_ROWS: comma-separated row counts")
        })
        .collect();
    let work = tempfile::tempdir().expect("tempdir");
    let pool = work.path().join("pool.parquet");
    let t = Instant::now();
    write_pool(&pool);
    eprintln!(
        "pool: {} rows generated in {:.1}s",
        POOL_BATCHES as usize * POOL_BATCH_ROWS,
        t.elapsed().as_secs_f64()
    );

    let exe = std::env::current_exe().expect("exe");
    let python = tributary_testkit::python();
    let mut results = Vec::new();
    for &rows in &sizes {
        for writer in ["tributary", "pyarrow"] {
            let out = work.path().join(format!("out-{writer}-{rows}"));
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", "0"]);
            if writer == "tributary" {
                cmd.arg(&exe).arg("child").arg(rows.to_string());
            } else {
                cmd.arg(&python).args(["-c", PYARROW]).arg(rows.to_string());
            }
            let output = cmd.arg(&pool).arg(&out).output().expect("run the child");
            assert!(
                output.status.success(),
                "{writer} {rows}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let line = String::from_utf8_lossy(&output.stdout);
            let r: Value = serde_json::from_str(line.trim().lines().last().unwrap_or_default())
                .unwrap_or_else(|e| panic!("{writer}: {e}: {line}"));
            let _ = std::fs::remove_dir_all(&out);
            eprintln!("{writer} {rows}: {r}");
            results.push((writer, r));
        }
    }

    println!(
        "| writer | rows | time (s) | rows/s | input MB/s (Arrow) | output MB | peak RSS (MB) | over pool (MB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (writer, r) in &results {
        let secs = r["secs"].as_f64().unwrap_or(f64::NAN);
        let rows = r["rows"].as_f64().unwrap_or(f64::NAN);
        let mb = |k: &str| r[k].as_f64().unwrap_or(f64::NAN) / 1e6;
        let kb_to_mb = |k: &str| r[k].as_f64().unwrap_or(f64::NAN) / 1024.0;
        println!(
            "| {writer} | {rows} | {secs:.2} | {:.0} | {:.1} | {:.1} | {:.0} | {:.0} |",
            rows / secs,
            mb("in_bytes") / secs,
            mb("out_bytes"),
            kb_to_mb("peak_kb"),
            kb_to_mb("peak_kb") - kb_to_mb("rss_pool_kb"),
        );
    }
}

/// The distinct rows both writers cycle through, as an uncompressed Parquet file.
fn write_pool(path: &std::path::Path) {
    let file = File::create(path).expect("pool file");
    let mut w = ArrowWriter::try_new(file, conversations_schema(), None).expect("pool writer");
    for seed in 0..POOL_BATCHES {
        let rows = data::synthetic_rows(POOL_BATCH_ROWS, MESSAGES, seed);
        w.write(&data::batch(&rows)).expect("pool write");
    }
    w.close().expect("pool close");
}

/// One measurement: the sink writes `rows` rows to `out`; prints a JSON line.
fn child(rows: u64, pool: &str, out: &str) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(pool).expect("pool"))
        .expect("pool reader")
        .with_batch_size(POOL_BATCH_ROWS)
        .build()
        .expect("pool reader");
    let pool: Vec<RecordBatch> = reader.map(|b| b.expect("pool batch")).collect();
    let rss_pool = status_kb("VmRSS");
    let config: ParquetConfig = toml::from_str(&format!(
        // The defaults a pipeline gets (256 MiB files, 65,536-row groups), zstd level 3.
        "path = \"{out}\"\ncompression = \"zstd\"\ncompression_level = 3"
    ))
    .expect("config");
    let input = BuildInput {
        schema: conversations_schema(),
        domains: Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (secs, in_bytes, report) = runtime.block_on(async {
        let mut sink: Box<dyn Sink> =
            Box::new(sink_parquet::parquet_sink(config, &input).expect("build"));
        let ctx = RunContext::for_test("bench");
        let t = Instant::now();
        sink.start(&ctx).await.expect("start");
        let (mut left, mut in_bytes) = (rows as usize, 0usize);
        for batch in pool.iter().cycle() {
            if left == 0 {
                break;
            }
            let b = if batch.num_rows() > left {
                batch.slice(0, left)
            } else {
                batch.clone()
            };
            left -= b.num_rows();
            in_bytes += b
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
                .sum::<usize>();
            sink.write(&b).await.expect("write");
        }
        let report = sink.finish().await.expect("finish");
        (t.elapsed().as_secs_f64(), in_bytes, report)
    });
    println!(
        "{}",
        json!({
            "rows": report.rows, "secs": secs, "in_bytes": in_bytes, "out_bytes": report.bytes,
            "files": report.files, "rss_pool_kb": rss_pool, "peak_kb": status_kb("VmHWM"),
        })
    );
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(key).and_then(|v| {
                    v.trim_start_matches(':')
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                })
            })
        })
        .unwrap_or(0)
}
