//! The `stdout` sink through `tributary run`, against the embedded emulator: the table and NDJSON
//! as a user sees them, and a reader that leaves early (`| head -3`).

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tributary_core::canonical;

use crate::e2e::pipeline_with;
use crate::{run, tributary};

/// `[sinks.out]`, a `stdout` sink on the source, with `keys` (TOML lines) added.
fn stdout_sink(keys: &str) -> String {
    format!("[sinks.out]\ntype = \"stdout\"\ninputs = [\"pages\"]\n{keys}\n")
}

/// Runs `cmd` with its standard output read like `| head -n`: `n` lines, then the pipe closes.
/// Returns the lines, the exit code and standard error.
fn head(cmd: &mut Command, n: usize) -> (Vec<String>, Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start tributary");
    let stdout = child.stdout.take().expect("piped stdout");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(n)
        .map(Result::unwrap)
        .collect();
    // `stdout` is dropped here: the reader is gone.
    let out = child.wait_with_output().expect("tributary ran");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (lines, out.status.code(), stderr)
}

/// The run ended successfully and said nothing about an error or the pipe.
fn assert_quiet_success(code: Option<i32>, stderr: &str) {
    assert_eq!(code, Some(0), "{stderr}");
    let lower = stderr.to_lowercase();
    assert!(
        !lower.contains("error") && !lower.contains("broken pipe"),
        "no error text: {stderr}"
    );
}

/// The cells of a table line `| a | b |`, trimmed.
fn cells(line: &str) -> Vec<&str> {
    let inner = line
        .strip_prefix('|')
        .and_then(|l| l.strip_suffix('|'))
        .unwrap_or_else(|| panic!("not a table row: {line:?}"));
    inner.split('|').map(str::trim).collect()
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]` then `Z` or `+00:00`: RFC 3339, in UTC.
fn is_rfc3339_utc(value: &str) -> bool {
    let Some(local) = value
        .strip_suffix('Z')
        .or_else(|| value.strip_suffix("+00:00"))
    else {
        return false;
    };
    let (Some(seconds), Some(fraction)) = (local.get(..19), local.get(19..)) else {
        return false;
    };
    let shape_ok = seconds
        .chars()
        .zip("dddd-dd-ddTdd:dd:dd".chars())
        .all(|(c, p)| if p == 'd' { c.is_ascii_digit() } else { c == p });
    let fraction_ok = fraction.is_empty()
        || fraction.strip_prefix('.').is_some_and(|digits| {
            (1..=9).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
        });
    shape_ok && fraction_ok
}

#[test]
fn rfc3339_utc_check_accepts_z_and_offset_and_rejects_the_rest() {
    assert!(is_rfc3339_utc("2026-11-19T16:33:10Z"));
    assert!(is_rfc3339_utc("2026-11-25T18:04:33.178Z"));
    assert!(is_rfc3339_utc("2026-11-19T16:33:10+00:00"));
    assert!(!is_rfc3339_utc("2026-11-19T16:33:10+0000"), "Graph's form");
    assert!(!is_rfc3339_utc("2026-11-19 16:33:10Z"));
    assert!(!is_rfc3339_utc("2026-11-19T16:33:10+01:00"));
    assert!(!is_rfc3339_utc("2026-11-19T16:33:10.Z"));
}

#[test]
fn table_prints_the_chosen_columns_aligned_cut_to_max_width_with_max_rows_and_a_footer() {
    let dir = tempfile::tempdir().unwrap();
    // ASCII-only columns, so that alignment can be checked character by character.
    let file = pipeline_with(
        dir.path(),
        50,
        &stdout_sink(
            "format = \"table\"\n\
             columns = [\"platform\", \"folder\", \"id\", \"updated_time\"]\n\
             max_width = 12\n\
             max_rows = 5",
        ),
    );
    let (code, stdout, stderr) = run(tributary().arg("run").arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.ends_with('\n'),
        "the footer ends its line, so stderr does not glue on: {stdout:?}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    // border, header, border, 5 rows, border, footer
    assert_eq!(lines.len(), 10, "{stdout}");
    let (table, footer) = (&lines[..9], lines[9]);
    assert_eq!(
        footer, "5 rows (the first; raise `max_rows` to see more)",
        "{stdout}"
    );

    // Aligned: every line of the table as wide as the border, column separators in the same
    // places.
    let border = table[0];
    assert!(
        border.starts_with("+-") && border.ends_with("-+"),
        "{stdout}"
    );
    assert_eq!((table[2], table[8]), (border, border), "{stdout}");
    let separators = |line: &str| -> Vec<usize> {
        line.chars()
            .enumerate()
            .filter(|(_, c)| *c == '|' || *c == '+')
            .map(|(i, _)| i)
            .collect()
    };
    for line in table {
        assert_eq!(
            line.chars().count(),
            border.chars().count(),
            "aligned:\n{stdout}"
        );
        assert_eq!(separators(line), separators(border), "aligned:\n{stdout}");
    }

    assert_eq!(
        cells(table[1]),
        ["platform", "folder", "id", "updated_time"],
        "the chosen columns, in order"
    );
    let rows: Vec<Vec<&str>> = table[3..8].iter().map(|l| cells(l)).collect();
    for row in &rows {
        let [platform, folder, id, updated] = row[..] else {
            panic!("4 cells: {row:?}");
        };
        assert!(canonical::PLATFORMS.contains(&platform), "{row:?}");
        assert!(canonical::FOLDERS.contains(&folder), "{row:?}");
        for cell in row {
            assert!(cell.chars().count() <= 12, "cut to max_width: {row:?}");
        }
        // Thread ids (`t_` and 18 digits) and timestamps are longer than 12 characters: cut in
        // the middle, keeping their start and end.
        for cut in [id, updated] {
            assert!(
                cut.contains('…') && cut.chars().count() == 12,
                "cut with an ellipsis: {row:?}"
            );
        }
        assert!(id.starts_with("t_") && updated.starts_with("20"), "{row:?}");
    }
}

#[test]
fn ndjson_lines_are_json_objects_with_keys_in_schema_order_and_utc_rfc3339_times() {
    let dir = tempfile::tempdir().unwrap();
    // Messages too, for the timestamps nested in lists of structs.
    let file = pipeline_with(
        dir.path(),
        50,
        &format!(
            "messages = {{ max = 3, fields = [\"id\", \"created_time\", \"from\", \"to\", \"message\"] }}\n{}",
            stdout_sink("format = \"ndjson\"")
        ),
    );
    let (code, stdout, stderr) = run(tributary().arg("run").arg(&file));
    assert_eq!(code, 0, "{stderr}");

    let schema = canonical::conversations_schema();
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let times: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| f.data_type() == &canonical::timestamp_type())
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(times, ["updated_time", "extracted_at"]);
    let message_keys: Vec<String> = canonical::message_fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();

    let mut ids = std::collections::BTreeSet::new();
    let mut messages_seen = 0;
    for line in stdout.lines() {
        let row: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let row = row.as_object().expect("one object per line");
        let keys: Vec<&str> = row.keys().map(String::as_str).collect();
        assert_eq!(keys, columns, "every column, in schema order: {line}");
        for time in &times {
            let value = &row[*time];
            assert!(
                value.is_null() || value.as_str().is_some_and(is_rfc3339_utc),
                "{time} = {value}"
            );
        }
        for message in row["messages"].as_array().into_iter().flatten() {
            let message = message.as_object().expect("a message is an object");
            let keys: Vec<&String> = message.keys().collect();
            assert_eq!(keys, message_keys.iter().collect::<Vec<_>>(), "{line}");
            let created = &message["created_time"];
            assert!(
                created.as_str().is_some_and(is_rfc3339_utc),
                "created_time = {created}"
            );
            messages_seen += 1;
        }
        assert!(
            ids.insert(row["id"].as_str().expect("id").to_owned()),
            "each thread once: {line}"
        );
    }
    // 4 pages x 8 (platform, folder) units of about 30 threads.
    assert!(ids.len() > 100, "{} rows:\n{stderr}", ids.len());
    assert!(messages_seen > 100, "{messages_seen} messages");
}

#[test]
fn a_closed_stdout_pipe_ends_the_run_quietly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_with(dir.path(), 50, &stdout_sink(""));
    let (lines, code, stderr) = head(tributary().arg("run").arg(&file), 3);
    assert_eq!(lines.len(), 3);
    assert!(
        lines.iter().all(|l| l.starts_with('{')),
        "NDJSON lines: {lines:?}"
    );
    assert_quiet_success(code, &stderr);
}

#[test]
fn a_pipe_closed_during_the_table_ends_the_run_quietly_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    // About 1 MB of table: far more than a pipe holds, so the write meets the closed pipe.
    let file = pipeline_with(
        dir.path(),
        50,
        &stdout_sink("format = \"table\"\nmax_rows = 1000\nmax_width = 200"),
    );
    let report = dir.path().join("report.json");
    let (lines, code, stderr) = head(
        tributary()
            .arg("run")
            .arg(&file)
            .arg("--report")
            .arg(&report),
        3,
    );
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].starts_with("+-"), "{lines:?}");
    assert_eq!(cells(&lines[1]).first(), Some(&"page_id"), "{lines:?}");
    assert_eq!(lines[2], lines[0], "{lines:?}");
    assert_quiet_success(code, &stderr);

    // The sink really met the closed pipe: a table cut off is reported as no rows shown.
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    let out = report["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "out")
        .unwrap();
    assert_eq!(out["report"]["rows"], 0, "{out}");
}
