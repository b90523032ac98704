//! Rows per second through Python children that keep every row versus the in-process `filter`
//! on the same canonical batches. Two children: `passthrough.py` (whole rows back and forth) and
//! `keep_all.py` with `columns = ["id"]` (row for row: only `id` crosses, the answer is a `keep`
//! column).
//!
//! `taskset -c 0 cargo bench -p plugin-exec --bench passthrough` (one core for tributary *and*
//! the child: the exec cost as a pipeline pays it). Python: `$TRIBUTARY_PYTHON` or the venv.
//! Each case pushes `ROWS` threads in batches of 8,192 through the transform as the runtime does
//! (`start`, `push`, `flush`), three times; the median run is reported.

// Benchmark code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use arrow::record_batch::RecordBatch;
use plugin_exec::{ExecTransformConfig, ExecTransformPlugin};
use transform_filter::{Filter, FilterConfig};
use tributary_core::plugin::{BuildContext, BuildInput, RunContext, Transform, TransformPlugin};
use tributary_testkit::batches;

const BATCH: usize = 8192;
const RUNS: usize = 3;

fn rows() -> usize {
    std::env::var("EXEC_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn input(batch: &RecordBatch) -> BuildInput {
    BuildInput {
        schema: batch.schema(),
        domains: Vec::new(),
    }
}

async fn through(t: &dyn Transform, batch: &RecordBatch, n: usize) -> (usize, f64) {
    let started = Instant::now();
    t.start(&RunContext::for_test("bench"))
        .await
        .expect("start");
    let (mut sent, mut out) = (0, 0);
    while sent < n {
        sent += batch.num_rows();
        out += t
            .push(batch.clone())
            .await
            .expect("push")
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>();
    }
    while let Some(b) = t.flush().await.expect("flush") {
        out += b.num_rows();
    }
    (out, started.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let n = rows();
    let python = tributary_testkit::python();
    let scripts = tributary_testkit::workspace_root().join("tests/exec");
    let children = [
        ("passthrough.py", ""),
        ("keep_all.py", "columns = [\"id\"]"),
    ];
    println!(
        "| batch | rows | bytes/row (IPC) | passthrough.py rows/s | keep_all.py, columns = [\"id\"] rows/s | filter rows/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, messages) in [("threads, no messages", 0), ("threads + 20 messages", 20)] {
        let batch = batches::canonical_in_runs(BATCH, messages, 25);
        let n = if messages > 0 { n / 10 } else { n };
        let mut exec_runs = vec![Vec::new(); children.len()];
        let mut filter_runs = Vec::new();
        for _ in 0..RUNS {
            for ((script, extra), runs) in children.iter().zip(&mut exec_runs) {
                let script = scripts.join(script);
                let config: ExecTransformConfig = toml::from_str(&format!(
                    "command = [{:?}, {:?}]\n{extra}",
                    python.display().to_string(),
                    script.display().to_string()
                ))
                .expect("config");
                let exec = ExecTransformPlugin::build(
                    config,
                    &input(&batch),
                    &BuildContext::transform("bench", "pass"),
                )
                .expect("build");
                let (out, secs) = rt.block_on(through(exec.as_ref(), &batch, n));
                assert!(out >= n, "rows lost: {out} of {n}");
                runs.push(out as f64 / secs);
            }

            let config: FilterConfig =
                toml::from_str("platform = [\"instagram\"]").expect("config");
            let filter = Filter::build(
                config,
                &input(&batch),
                &BuildContext::transform("bench", "f"),
            )
            .expect("build");
            let (_, secs) = rt.block_on(through(filter.as_ref(), &batch, n));
            filter_runs.push(n as f64 / secs);
        }
        let ipc = plugin_exec::protocol::Encoder::new(&batch.schema(), &[])
            .and_then(|mut e| e.encode(&batch))
            .map(|b| b.len() / batch.num_rows())
            .unwrap_or(0);
        let exec: Vec<String> = exec_runs
            .into_iter()
            .map(|r| format!("{:.0}", median(r)))
            .collect();
        println!(
            "| {name} | {n} | {ipc} | {} | {:.0} |",
            exec.join(" | "),
            median(filter_runs)
        );
    }
}
