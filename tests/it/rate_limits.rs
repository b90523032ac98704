//! What a run tells about the rate limit: one summary line per Page and `wait_ms` per unit.

use std::fs;

use crate::{root, run, tributary};

#[test]
fn the_summary_has_a_line_per_page_and_the_report_the_time_spent_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.toml");
    fs::copy(root().join("pipelines/demo.toml"), &file).unwrap();
    let report = dir.path().join("report.json");
    let (code, _stdout, stderr) = run(tributary()
        .current_dir(dir.path())
        .env_remove("GRAPH_BASE_URL")
        .arg("run")
        .arg(&file)
        .arg("--report")
        .arg(&report));
    assert_eq!(code, 0, "{stderr}");
    // The demo reads 4 Pages; each gets its own line with calls, throttles and waiting time.
    for page in 1..=4 {
        let id = format!("page 10485760000000{page}");
        let line = stderr
            .lines()
            .find(|l| l.trim_start().starts_with(&id))
            .unwrap_or_else(|| panic!("no summary line for {id}:\n{stderr}"));
        assert!(
            line.contains(" calls")
                && line.contains(" throttled")
                && line.contains("s waiting for the rate limit"),
            "{line}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    let units: Vec<_> = report["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["component"] == "sources.pages" && u["unit"] != "")
        .collect();
    assert_eq!(units.len(), 4 * 2 * 4);
    assert!(units.iter().all(|u| u["wait_ms"].is_u64()));
    // Several calls per Page at 20/s, two units of a Page in flight: the pacer made some wait.
    let waited: u64 = units.iter().map(|u| u["wait_ms"].as_u64().unwrap()).sum();
    let calls: u64 = units.iter().map(|u| u["api_calls"].as_u64().unwrap()).sum();
    assert!(calls > 4 && waited > 0, "{waited} ms for {calls} calls");
}
