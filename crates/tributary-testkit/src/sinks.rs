//! Driving a sink by hand in tests, and looking at what it left on disk.

use std::path::Path;

use arrow::record_batch::RecordBatch;
use tributary_core::plugin::{RunContext, Sink, SinkReport};

/// `start` → `write` each batch → `finish`, panicking on any error.
pub async fn run(mut sink: Box<dyn Sink>, ctx: &RunContext, batches: &[RecordBatch]) -> SinkReport {
    sink.start(ctx).await.expect("start");
    for b in batches {
        sink.write(b).await.expect("write");
    }
    sink.finish().await.expect("finish")
}

/// Every regular file below `dir`, relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A path as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
