//! The command line: exit codes, help, the broken-pipeline corpus.

use std::fs;

use crate::{root, run, tributary};

/// Every file in `tests/broken/` states the error it must produce:
/// `# expect: <text>` and `# at: <line>:<col>`. `validate` must exit 2 and print
/// `<file>:<line>:<col>` and the text.
#[test]
fn every_broken_pipeline_fails_validation_at_its_location() {
    let dir = root().join("tests/broken");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 25,
        "the corpus must hold at least 25 broken pipelines"
    );
    let mut failures = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let expect = header(&text, "# expect: ");
        let at = header(&text, "# at: ");
        let rel = file.strip_prefix(root()).unwrap();
        let (code, _, stderr) = run(tributary().arg("validate").arg(rel));
        let location = format!("--> {}:{at}", rel.display());
        if code != 2 || !reported(&stderr, &location, &expect) {
            failures.push(format!(
                "{}: exit {code}, expected 2 and an error at `{location}` saying `{expect}`; stderr:\n{stderr}",
                rel.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} broken pipelines misreported:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Whether one `error:` diagnostic is located at `location` and says `expect` in its message
/// or help line (never in the quoted source excerpt, which would match by accident).
fn reported(stderr: &str, location: &str, expect: &str) -> bool {
    stderr.split("\nerror: ").any(|block| {
        let block = block.strip_prefix("error: ").unwrap_or(block);
        // A block runs until the next diagnostic.
        let block = block.split("\nwarning: ").next().unwrap_or(block);
        let mut lines = block.lines();
        let message = lines.next().unwrap_or("");
        let located = block.lines().any(|l| l.trim_start().starts_with(location));
        let help = block
            .lines()
            .find(|l| l.trim_start().starts_with("= help:"))
            .unwrap_or("");
        let is_error = !message.starts_with("warning:");
        is_error && located && (message.contains(expect) || help.contains(expect))
    })
}

fn header(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("missing `{prefix}` header"))
        .trim()
        .to_owned()
}

#[test]
fn a_missing_file_is_a_config_error_with_exit_2() {
    let (code, _, stderr) = run(tributary().args(["validate", "nope/missing.toml"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read the pipeline file"), "{stderr}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let (code, _, stderr) = run(tributary().arg("frobnicate"));
    assert_eq!(code, 2, "{stderr}");
    let (code, stdout, _) = run(tributary().arg("--help"));
    assert_eq!(code, 0);
    for cmd in [
        "run",
        "validate",
        "plugins",
        "schema",
        "emulate",
        "completions",
    ] {
        assert!(stdout.contains(cmd), "--help lists `{cmd}`:\n{stdout}");
    }
    let (code, stdout, _) = run(tributary().args(["run", "--help"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("--report"), "{stdout}");
}

#[test]
fn plugins_lists_every_plugin_with_keys_defaults_and_docs() {
    let (code, stdout, stderr) = run(tributary().arg("plugins"));
    assert_eq!(code, 0, "{stderr}");
    for name in ["filter", "explode_messages", "stdout"] {
        assert!(
            stdout.contains(&format!("`{name}`")),
            "plugins lists `{name}`:\n{stdout}"
        );
    }
    // A key with its type, its default and its doc line.
    assert!(stdout.contains("max_rows"), "{stdout}");
    assert!(stdout.contains("[default: "), "{stdout}");
    let (code, stdout, _) = run(tributary().args(["plugins", "filter", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        v["transforms.filter"]["properties"]["platform"].is_object(),
        "{stdout}"
    );
    let (code, _, stderr) = run(tributary().args(["plugins", "filtr"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("did you mean `filter`?"), "{stderr}");
}

#[test]
fn completions_are_generated_for_bash() {
    let (code, stdout, _) = run(tributary().args(["completions", "bash"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("tributary"), "{stdout}");
}

/// The binary runs on jemalloc with the options `.cargo/config.toml` builds in (BENCHMARKS.md
/// S3): jemalloc prints its effective options at exit when asked by `MALLOC_CONF`, which also
/// proves it is the C `malloc` (the unprefixed variable is read only then).
#[cfg(target_os = "linux")]
#[test]
fn the_binary_runs_on_jemalloc_with_its_built_in_options() {
    let (code, _, stderr) = run(tributary()
        .arg("--version")
        .env("MALLOC_CONF", "stats_print:true"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("config.malloc_conf: \"dirty_decay_ms:1000\"")
            && stderr.contains("opt.dirty_decay_ms: 1000"),
        "jemalloc's options are not the built-in ones:\n{stderr}"
    );
}
