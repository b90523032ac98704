//! Interop: Meta's official Python SDK (`facebook-business`) reads every thread of a page
//! through its `Page(...).get_conversations(...)` cursor, pointed at the emulator.

use std::path::PathBuf;
use std::process::Command;

use graph_emulator::{EmulatorConfig, TokenGrant};

/// `TRIBUTARY_PYTHON`, else `<workspace>/.venv/bin/python`. Never skips: a missing
/// interpreter fails the test with the fix.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TRIBUTARY_PYTHON") {
        return PathBuf::from(p);
    }
    // The workspace directory is canonicalised, not the interpreter: `.venv/bin/python` is a
    // symlink, and Python finds its venv only through the path it was started by.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = std::fs::canonicalize(&root)
        .unwrap_or(root)
        .join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python for the SDK interop test: run `make venv` (creates .venv from tests/requirements.txt) or set TRIBUTARY_PYTHON"
    );
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_cursor_reads_every_thread_of_a_page() {
    let mut tokens = std::collections::BTreeMap::new();
    tokens.insert("sdk-token".to_string(), TokenGrant::full());
    let e = crate::common::emu(EmulatorConfig {
        tokens,
        // The SDK computes appsecret_proof itself: this checks our HMAC end to end.
        app_secret: Some("sdk-secret".to_string()),
        ..EmulatorConfig::default()
    })
    .await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/sdk_reads_all.py");
    let page = e.page_ids()[1].clone();
    let out = Command::new(python())
        .arg(&script)
        .args([e.base_url(), "sdk-token", "sdk-secret", &page, "7"])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<&str> = stdout.lines().collect();
    let want: Vec<String> = e
        .ground_truth()
        .threads
        .iter()
        .filter(|t| t.page_id == page)
        .map(|t| format!("{} {} {}", t.platform.as_str(), t.folder.as_str(), t.id))
        .collect();
    assert!(
        want.len() > 100,
        "the page has threads in all 8 (platform, folder) units"
    );
    assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
    let s = e.stats();
    assert!(
        s.requests_by_route["conversations"] >= 4,
        "paged through several pages"
    );
}
