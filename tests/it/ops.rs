//! Operability: check, schema, config-schema, the JSON report, progress bars on a terminal.

use std::fs;
use std::path::Path;

use crate::{root, run, tributary};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let file = dir.join(name);
    fs::write(&file, text).unwrap();
    file
}

#[test]
fn check_reports_ok_and_fail_per_page_and_platform_with_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "p.toml",
        r#"
[sources.pages]
type = "graph_conversations"
base_url = "embedded"
access_token = "demo-token"
pages = ["104857600000001",
         { id = "104857600000002", access_token = "messenger-only-token" },
         { id = "104857600000003", access_token = "expired-token" }]

[sinks.out]
type = "stdout"
inputs = ["pages"]
"#,
    );
    let (code, stdout, stderr) = run(tributary().arg("check").arg(&file));
    assert_eq!(code, 1, "a failing check exits 1:\n{stdout}{stderr}");
    let line = |target: &str| {
        stdout
            .lines()
            .find(|l| l.contains(target))
            .unwrap_or_else(|| panic!("no `{target}`:\n{stdout}"))
            .to_owned()
    };
    assert!(line("104857600000001 messenger").contains("OK"), "{stdout}");
    assert!(line("104857600000001 instagram").contains("OK"), "{stdout}");
    assert!(line("104857600000002 messenger").contains("OK"), "{stdout}");
    let missing = line("104857600000002 instagram");
    assert!(
        missing.contains("FAIL") && missing.contains("instagram_manage_messages"),
        "{missing}"
    );
    let expired = line("104857600000003 messenger");
    assert!(
        expired.contains("FAIL") && expired.contains("190/463"),
        "{expired}"
    );
    assert!(stdout.contains("fix: "), "{stdout}");
    assert!(stdout.contains("3 of 6 checks passed"), "{stdout}");

    // All valid: exit 0.
    let ok = write(
        dir.path(),
        "ok.toml",
        &fs::read_to_string(&file)
            .unwrap()
            .replace("messenger-only-token", "demo-token")
            .replace("expired-token", "demo-token"),
    );
    let (code, stdout, _) = run(tributary().arg("check").arg(&ok));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("6 of 6 checks passed"), "{stdout}");
}

#[test]
fn schema_prints_each_components_arrow_schema() {
    let (code, stdout, stderr) =
        run(tributary().args(["schema", "pipelines/ig-inbox-and-messages.toml"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("sources.pages (graph_conversations)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("updated_time: Timestamp(ms, \"UTC\")")
            || stdout.contains("updated_time: Timestamp(Millisecond, Some(\"UTC\"))"),
        "{stdout}"
    );
    assert!(
        stdout.contains("transforms.messages (explode_messages)"),
        "{stdout}"
    );
    assert!(stdout.contains("conversation_id: Utf8"), "{stdout}");
}

#[test]
fn config_schema_accepts_every_example_and_rejects_a_typo() {
    let (code, schema, stderr) = run(tributary().arg("config-schema"));
    assert_eq!(code, 0, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let schema_file = write(dir.path(), "schema.json", &schema);
    // Pipeline files only (pipelines/ also holds the scripts of the exec examples).
    let mut files: Vec<_> = fs::read_dir(root().join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let typo = write(
        dir.path(),
        "typo.toml",
        &fs::read_to_string(&files[0])
            .unwrap()
            .replace("[sources.pages]", "[sources.pages]\npage_sise = 3"),
    );
    let script = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    doc = tomllib.load(open(path, "rb"))
    errors = list(v.iter_errors(doc))
    print(path, "ok" if not errors else "invalid")
"#;
    let mut args: Vec<String> = vec![schema_file.display().to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.push(typo.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tributary_testkit::run_python(script, &args);
    let out = String::from_utf8(out.stdout).unwrap();
    for f in &files {
        assert!(
            out.contains(&format!("{} ok", f.display())),
            "{} must satisfy the schema:\n{out}",
            f.display()
        );
    }
    assert!(
        out.contains(&format!("{} invalid", typo.display())),
        "an unknown key must violate the schema:\n{out}"
    );
}

#[test]
fn the_json_report_matches_its_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.toml");
    fs::copy(root().join("pipelines/demo.toml"), &file).unwrap();
    let report = dir.path().join("report.json");
    let (code, _, stderr) = run(tributary()
        .current_dir(dir.path())
        .args(["run", "--progress", "never"])
        .arg(&file)
        .arg("--report")
        .arg(&report));
    assert_eq!(code, 0, "{stderr}");
    let script = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
report = json.load(open(sys.argv[2]))
jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
units = [u for u in report["units"] if u["component"] == "sources.pages" and u["unit"]]
assert len(units) == 32, len(units)
assert sum(u["api_calls"] for u in units) > 0
print("valid")
"#;
    let schema = root().join("tests/schemas/run-report.schema.json");
    let out = tributary_testkit::run_python(
        script,
        &[&schema.display().to_string(), &report.display().to_string()],
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "valid");
}

/// Runs `tributary` under a pseudo-terminal (util-linux `script`), returning what the terminal saw.
fn on_a_terminal(args: &str, dir: &Path) -> String {
    let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_tributary-cli"));
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir)
        .env("COLUMNS", "160")
        .output()
        .expect("`script` (util-linux) runs a command on a pseudo-terminal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_bars_appear_on_a_terminal_and_not_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    // Paced slowly enough (2 calls/s per page) that the bars get drawn several times.
    let file = write(
        dir.path(),
        "p.toml",
        r#"
[sources.pages]
type = "graph_conversations"
base_url = "embedded"
access_token = "demo-token"
pages = ["104857600000001"]
folders = ["inbox", "spam"]

[sinks.lake]
type = "parquet"
inputs = ["pages"]
path = "out"
"#,
    );
    let terminal = on_a_terminal(&format!("run {}", file.display()), dir.path());
    assert!(
        terminal.contains("threads ·"),
        "bars on a terminal:\n{terminal}"
    );
    assert!(terminal.contains("API calls"), "{terminal}");

    let (code, _, stderr) = run(tributary().current_dir(dir.path()).arg("run").arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("threads ·"),
        "no bars in a pipe:\n{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no escape codes in a pipe:\n{stderr}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_and_never_hold_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.toml");
    fs::copy(root().join("pipelines/demo.toml"), &file).unwrap();
    let canary = "demo-token";
    let (code, _, stderr) = run(tributary()
        .current_dir(dir.path())
        .args(["--log-format", "json", "-v", "run"])
        .arg(&file));
    assert_eq!(code, 0, "{stderr}");
    let mut events = 0;
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        events += 1;
    }
    assert!(events >= 3, "{stderr}");
    assert!(
        stderr.contains("sink committed"),
        "commits are logged:\n{stderr}"
    );
    assert!(
        stderr.contains("run finished"),
        "the summary is a log event:\n{stderr}"
    );
    assert!(
        !stderr.contains(canary),
        "the access token never reaches the logs:\n{stderr}"
    );
}

#[test]
fn dry_run_lists_what_it_would_write_and_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.toml");
    fs::copy(root().join("pipelines/demo.toml"), &file).unwrap();
    let (code, _, stderr) = run(tributary()
        .current_dir(dir.path())
        .args(["run", "--dry-run"])
        .arg(&file));
    assert_eq!(code, 0, "{stderr}");
    let planned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("dry run: would write"))
        .collect();
    assert!(!planned.is_empty(), "{stderr}");
    assert!(
        planned.iter().all(|l| l.contains("out/demo/conversations/platform=") && l.contains("/updated_date=")),
        "each planned file with its partitions: {planned:?}"
    );
    assert!(
        stderr.contains("dry run 2"),
        "the summary says it was a dry run:\n{stderr}"
    );
    let files = tributary_testkit::sinks::files_under(dir.path());
    assert_eq!(
        files,
        vec!["demo.toml".to_owned()],
        "nothing but the pipeline file exists after a dry run"
    );
}
