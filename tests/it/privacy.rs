//! `pipelines/privacy.toml` (the `pseudonymize` transform) through the command line, against the
//! embedded emulator: no raw personal data in any output byte, pseudonyms a Python `hmac` call
//! reproduces, stable across runs, and message rows consistent with their threads.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use graph_emulator::GroundTruth;
use serde_json::Value;

use crate::{embedded_truth, root, run, tributary};

const KEY: &str = "it-privacy-key-5f0c1a9e3b7d4c2a8e6f0b1d3c5a7e9f";

/// `pipelines/privacy.toml` with uncompressed Parquet (so a byte scan sees every string as
/// written), with `edit` applied to its text, written into a fresh directory.
fn privacy_pipeline(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(root().join("pipelines/privacy.toml")).unwrap();
    let text = text
        .replace(
            "[sinks.conversations_lake]\n",
            "[sinks.conversations_lake]\ncompression = \"none\"\n",
        )
        .replace(
            "[sinks.messages_lake]\n",
            "[sinks.messages_lake]\ncompression = \"none\"\n",
        );
    assert_eq!(text.matches("compression = \"none\"").count(), 2);
    let file = dir.path().join("privacy.toml");
    fs::write(&file, edit(text)).unwrap();
    (dir, file)
}

/// Runs the pipeline in `dir` with `key`, at debug level; returns standard error.
fn run_privacy(dir: &Path, file: &Path, key: &str) -> String {
    let (code, stdout, stderr) = run(tributary()
        .current_dir(dir)
        .env("PSEUDONYM_KEY", key)
        .args(["-vv", "run"])
        .arg(file));
    assert_eq!(code, 0, "{stderr}");
    format!("{stdout}\n{stderr}")
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The personal data the emulator served: every name, email and username of every participant,
/// sender and message sender/recipient, the thread names, and the customers' ids (Page ids are
/// the business, not a person, and stay in `page_id`).
fn personal_data(truth: &GroundTruth) -> BTreeSet<String> {
    fn profile(p: &Value, pages: &BTreeSet<&str>, out: &mut BTreeSet<String>) {
        for field in ["name", "email", "username"] {
            if let Some(v) = p[field].as_str() {
                out.insert(v.to_owned());
            }
        }
        if let Some(id) = p["id"].as_str().filter(|id| !pages.contains(id)) {
            out.insert(id.to_owned());
        }
    }
    let pages: BTreeSet<&str> = truth.threads.iter().map(|t| t.page_id.as_str()).collect();
    let mut out = BTreeSet::new();
    for t in &truth.threads {
        let thread: Value = serde_json::from_str(&t.json).unwrap();
        if let Some(name) = thread["name"].as_str() {
            out.insert(name.to_owned());
        }
        for edge in ["participants", "senders", "former_participants"] {
            for p in thread[edge]["data"].as_array().into_iter().flatten() {
                profile(p, &pages, &mut out);
            }
        }
        for m in thread["messages"]["data"].as_array().into_iter().flatten() {
            profile(&m["from"], &pages, &mut out);
            for p in m["to"]["data"].as_array().into_iter().flatten() {
                profile(p, &pages, &mut out);
            }
        }
    }
    out
}

/// The values of `needles` found in any file under `dir` (or in `text`), byte for byte.
fn found_in(dir: &Path, text: &str, needles: &BTreeSet<String>) -> BTreeSet<String> {
    // One pass per file: candidates by their first 4 bytes, then a full comparison (a plain
    // substring search per needle is minutes for thousands of needles in a debug build).
    assert!(
        needles.iter().all(|n| n.len() >= 4),
        "needles of 4 bytes or more"
    );
    let mut by_prefix: std::collections::HashMap<&[u8], Vec<&str>> = Default::default();
    for n in needles {
        by_prefix.entry(&n.as_bytes()[..4]).or_default().push(n);
    }
    let mut found = BTreeSet::new();
    let files = files_under(dir).into_iter().map(|f| fs::read(f).unwrap());
    for bytes in files.chain([text.as_bytes().to_vec()]) {
        for i in 0..bytes.len().saturating_sub(3) {
            if let Some(candidates) = by_prefix.get(&bytes[i..i + 4]) {
                for n in candidates {
                    if bytes[i..].starts_with(n.as_bytes()) {
                        found.insert((*n).to_owned());
                    }
                }
            }
        }
    }
    found
}

#[test]
fn pseudonymized_lake_holds_no_raw_personal_data_and_never_the_key() {
    let truth = embedded_truth();
    let personal = personal_data(&truth);
    let emails = personal.iter().filter(|v| v.contains('@')).count();
    assert!(
        emails > 10 && personal.len() > 100,
        "the emulator served personal data to look for: {} values, {emails} emails",
        personal.len()
    );

    // The control: the same source landed raw leaks, so the scan below can fail.
    let (raw_dir, raw_file) =
        privacy_pipeline(|t| t.replace("inputs = [\"private\"]", "inputs = [\"pages\"]"));
    let raw_log = run_privacy(raw_dir.path(), &raw_file, KEY);
    let leaked = found_in(&raw_dir.path().join("out"), "", &personal);
    assert!(
        leaked.len() * 2 > personal.len(),
        "without pseudonymize the scan finds the raw values ({} of {})",
        leaked.len(),
        personal.len()
    );
    assert!(!raw_log.contains(KEY));

    let (dir, file) = privacy_pipeline(|t| t);
    let log = run_privacy(dir.path(), &file, KEY);
    let out = dir.path().join("out");
    assert!(
        files_under(&out.join("private/conversations"))
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "parquet"))
    );
    let leaked = found_in(&out, &log, &personal);
    assert!(
        leaked.is_empty(),
        "raw personal data in the output or logs: {leaked:?}"
    );
    let key = BTreeSet::from([KEY.to_owned()]);
    assert!(
        found_in(dir.path(), &log, &key).is_empty(),
        "the key is in an output file or the -vv log"
    );
}

/// Reads both tables with pyarrow and checks them against the ground truth and Python's `hmac`.
const CHECK: &str = r#"
import hashlib, hmac, json, sys
import pyarrow.dataset as ds
key, conv_dir, msg_dir, truth_file = sys.argv[1:5]
h = lambda v: None if v is None else hmac.new(key.encode(), v.encode(), hashlib.sha256).hexdigest()
norm = lambda v: None if v is None else v.strip().lower()
def expected(p):
    return {"id": h(p.get("id")), "email": h(norm(p.get("email"))), "username": h(p.get("username")), "name": None}
truth = {}
for line in open(truth_file):
    t = json.loads(line)
    truth[t["id"]] = t
conv = ds.dataset(conv_dir, format="parquet", partitioning="hive").to_table().to_pylist()
msgs = ds.dataset(msg_dir, format="parquet").to_table().to_pylist()
bad = 0
checked = 0
participants = {}
for row in conv:
    t = truth[row["id"]]
    for edge in ["participants", "senders"]:
        want = [expected(p) for p in t[edge]["data"]]
        got = [{k: p[k] for k in ("id", "email", "username")} | {"name": None} for p in row[edge]]
        bad += want != got
        checked += len(want)
    # Names are masked (length class only), never raw.
    for p, raw in zip(row["participants"], t["participants"]["data"]):
        if raw.get("name") is not None:
            n = len(raw["name"])
            cls = 0 if n == 0 else 4 if n <= 4 else 8 if n <= 8 else 16 if n <= 16 else 32 if n <= 32 else 64
            bad += p["name"] != "*" * cls
    bad += row["snippet"] is not None or row["name"] is not None
    participants[row["id"]] = {p["id"] for p in row["participants"]}
    checked += 1
by_id = {}
for t in truth.values():
    for m in t["messages"]["data"]:
        by_id[m["id"]] = m
consistent = 0
for row in msgs:
    m = by_id[row["id"]]
    bad += row["from_id"] != h(m["from"]["id"])
    bad += row["from_username"] != h(m["from"].get("username"))
    bad += row["from_name"] is not None or row["message"] is not None
    bad += [p["id"] for p in row["to"]] != [h(p["id"]) for p in m["to"]["data"]]
    ids = participants[row["conversation_id"]]
    if row["from_id"] in ids and all(p["id"] in ids for p in row["to"]):
        consistent += 1
print(f"rows {len(conv)} messages {len(msgs)} checked {checked} consistent {consistent} bad {bad}")
"#;

#[test]
fn pseudonyms_equal_python_hmac_and_message_rows_match_their_threads() {
    let truth = embedded_truth();
    let (dir, file) = privacy_pipeline(|t| t);
    run_privacy(dir.path(), &file, KEY);
    let truth_file = dir.path().join("truth.ndjson");
    truth.write_ndjson(&truth_file).unwrap();
    let out = dir.path().join("out/private");
    let result = tributary_testkit::run_python(
        CHECK,
        &[
            KEY,
            out.join("conversations").to_str().unwrap(),
            out.join("messages").to_str().unwrap(),
            truth_file.to_str().unwrap(),
        ],
    );
    let line = String::from_utf8(result.stdout).unwrap();
    let messages: usize = truth
        .threads
        .iter()
        .map(|t| t.message_ids.len().min(20))
        .sum();
    let n = truth.threads.len();
    assert_eq!(
        line.trim(),
        format!(
            "rows {n} messages {messages} checked {} consistent {messages} bad 0",
            n * 5
        ),
        "2 participants + 2 senders per thread, and the thread itself"
    );
}

/// Every table of a run, as DuckDB renders it, sorted: a fingerprint of the whole output.
fn tables(dir: &Path) -> String {
    // `extracted_at` is the time of the run, the one column that differs by design.
    let script = "import duckdb,sys\nfor t, x in (('conversations', ' exclude (extracted_at)'), ('messages', '')):\n  for row in duckdb.sql(f\"select *{x} from read_parquet('{sys.argv[1]}/out/private/{t}/**/*.parquet', hive_partitioning=1) order by all\").fetchall(): print(row)";
    let out = tributary_testkit::run_python(script, &[dir.to_str().unwrap()]);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_same_input_and_key_give_the_same_lake_across_runs() {
    let (a, file_a) = privacy_pipeline(|t| t);
    run_privacy(a.path(), &file_a, KEY);
    let (b, file_b) = privacy_pipeline(|t| t);
    run_privacy(b.path(), &file_b, KEY);
    let first = tables(a.path());
    assert!(first.lines().count() > 100, "{first}");
    assert_eq!(first, tables(b.path()), "same input, same key, same output");

    let (c, file_c) = privacy_pipeline(|t| t);
    run_privacy(c.path(), &file_c, "another-key-also-at-least-32-bytes-long");
    assert_ne!(first, tables(c.path()), "another key, other pseudonyms");
}

#[test]
fn a_short_key_is_refused_at_validate_without_being_shown() {
    let short = "short-secret-17b";
    let (dir, file) = privacy_pipeline(|t| t);
    let (code, stdout, stderr) = run(tributary()
        .current_dir(dir.path())
        .env("PSEUDONYM_KEY", short)
        .arg("validate")
        .arg(&file));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("shorter than 32 bytes"), "{stderr}");
    assert!(stderr.contains("transforms.private"), "{stderr}");
    assert!(
        !stderr.contains(short) && !stdout.contains(short),
        "{stderr}"
    );

    // The example's fallback key validates, with a warning that it is public.
    let (code, _, stderr) = run(tributary()
        .arg("validate")
        .arg(root().join("pipelines/privacy.toml")));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("public demo key"), "{stderr}");

    // `schema` shows the output schema at build time, without the key.
    let (code, stdout, stderr) = run(tributary()
        .current_dir(dir.path())
        .env("PSEUDONYM_KEY", KEY)
        .arg("schema")
        .arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("private") && stdout.contains("participants"),
        "{stdout}"
    );
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
}
