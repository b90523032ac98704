//! A newcomer's path through the README: the demo against the standalone emulator, the README's
//! own snippets, and documentation that stands on its own.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use graph_emulator::EmulatorConfig;

use crate::{embedded_truth, root, run, tributary};

/// `tributary emulate ARGS` as a child process, with the URL it printed and its standard error.
struct Standalone {
    child: Child,
    url: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Standalone {
    fn start(args: &[&str]) -> Self {
        let mut child = tributary()
            .arg("emulate")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tributary emulate starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim()
            .strip_prefix("graph emulator listening on ")
            .unwrap_or_else(|| panic!("the first line names the URL: {first:?}"))
            .to_owned();
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Self { child, url, stderr }
    }

    /// Stops the emulator and returns what it printed on standard error.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.join().unwrap()
    }
}

/// `pipelines/demo.toml` copied into a fresh directory (its outputs are relative to it).
fn demo_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.toml");
    fs::copy(root().join("pipelines/demo.toml"), &file).unwrap();
    (dir, file)
}

fn run_demo_against(url: &str, dir: &Path, file: &Path) -> (i32, String, String) {
    run(tributary()
        .current_dir(dir)
        .env("GRAPH_BASE_URL", url)
        .args(["run", "--progress", "never"])
        .arg(file)
        .arg("--report")
        .arg(dir.join("report.json")))
}

#[test]
fn the_demo_runs_against_emulate_demo_without_a_throttle() {
    // `--port 0`: the README's fixed 8787 could be taken on a shared test machine.
    let emu = Standalone::start(&["--demo", "--port", "0"]);
    let (dir, file) = demo_copy();
    let (code, stdout, stderr) = run_demo_against(&emu.url, dir.path(), &file);
    let hint = emu.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("page_id"),
        "the preview is printed:\n{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    let lake = report["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "lake")
        .unwrap();
    assert_eq!(
        lake["report"]["rows"].as_u64(),
        Some(embedded_truth().threads.len() as u64),
        "every thread of the standalone emulator, as from the embedded one"
    );
    let units = report["units"].as_array().unwrap();
    let throttled: u64 = units.iter().filter_map(|u| u["throttles"].as_u64()).sum();
    assert_eq!(throttled, 0, "the demo's rate is the emulator's: {units:?}");
    // The hint's URL is on the version pipelines use by default, and names the demo command.
    assert!(
        // (`tributary`'s unit tests hold it equal to the source's `DEFAULT_API_VERSION`.)
        hint.contains(&format!("/{}/", graph_emulator::DEFAULT_VERSION)),
        "{hint}"
    );
    assert!(
        hint.contains(&format!(
            "GRAPH_BASE_URL={} tributary run pipelines/demo.toml",
            emu_url_of(&hint)
        )),
        "{hint}"
    );
}

/// The URL named in the hint's demo command (the test started the emulator on a free port).
fn emu_url_of(hint: &str) -> String {
    hint.split("GRAPH_BASE_URL=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_failed_run_leaves_no_empty_output_directory() {
    // The plain emulator serves 2 Pages; the demo lists 4, so the run fails on the third.
    let emu = Standalone::start(&["--port", "0", "--rate-limit", "0"]);
    let (dir, file) = demo_copy();
    let (code, _, stderr) = run_demo_against(&emu.url, dir.path(), &file);
    emu.stop();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("Object with ID '104857600000003' does not exist")
            || stderr.contains("Object with ID '104857600000004' does not exist"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "nothing is left of the failed run: {:?}",
        fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>()
    );
}

/// The data rows of the demo's preview table, as cells.
fn preview_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.contains("page_id"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn the_demo_preview_is_the_newest_threads_with_distinct_ids_on_every_run() {
    let mut previews = Vec::new();
    for _ in 0..2 {
        let (dir, file) = demo_copy();
        let (code, stdout, stderr) = run(tributary()
            .current_dir(dir.path())
            .args(["run", "--progress", "never"])
            .arg(&file));
        assert_eq!(code, 0, "{stderr}");
        previews.push(stdout);
    }
    assert_eq!(previews[0], previews[1], "the same preview on every run");
    let rows = preview_rows(&previews[0]);
    assert_eq!(rows.len(), 10, "{}", previews[0]);
    let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(ids.len(), 10, "every id distinguishable:\n{}", previews[0]);
    let times: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first:\n{}",
        previews[0]
    );
    // The newest of all Instagram inbox threads the emulator serves, not whichever came first.
    let newest = {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let emu = graph_emulator::start(EmulatorConfig {
                pages: graph_emulator::cli::DEMO_PAGES,
                ..Default::default()
            })
            .await
            .unwrap();
            let truth = emu.ground_truth();
            emu.shutdown().await;
            truth
                .threads
                .iter()
                .filter(|t| t.platform.as_str() == "instagram" && t.folder.as_str() == "inbox")
                .map(|t| t.updated_time.clone())
                .max()
                .unwrap()
        })
    };
    assert!(
        newest.starts_with(&times[0][..19]),
        "{newest} vs {}",
        times[0]
    );
}

#[test]
fn the_reports_rows_mean_one_thing_per_component_and_agree_with_the_summary() {
    // The demo's console prints 10 of the rows it receives: its rows are those 10 everywhere.
    let (dir, file) = demo_copy();
    let report_file = dir.path().join("report.json");
    let (code, _, stderr) = run(tributary()
        .current_dir(dir.path())
        .args(["run", "--progress", "never"])
        .arg(&file)
        .arg("--report")
        .arg(&report_file));
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(report_file).unwrap()).unwrap();
    let whole = |component: &str| {
        report["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["component"] == component && u["unit"] == "")
            .unwrap_or_else(|| panic!("no unit for {component}: {report}"))["rows"]
            .as_u64()
            .unwrap()
    };
    for sink in report["sinks"].as_array().unwrap() {
        let id = sink["id"].as_str().unwrap();
        let rows = sink["report"]["rows"].as_u64().unwrap();
        assert_eq!(whole(&format!("sinks.{id}")), rows, "sink {id}: {report}");
        // The summary says the same.
        let line = stderr
            .lines()
            .find(|l| l.trim_start().starts_with("sink") && l.contains(&format!(" {id} ")))
            .unwrap_or_else(|| panic!("a summary line for {id}:\n{stderr}"));
        assert!(line.contains(&format!(" {rows} rows")), "{line}");
    }
    let console = report["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "console")
        .unwrap();
    assert_eq!(
        console["report"]["rows"], 10,
        "max_rows of the demo's table"
    );
    for source in report["sources"].as_array().unwrap() {
        let id = source["id"].as_str().unwrap();
        assert_eq!(
            whole(&format!("sources.{id}")),
            source["rows"].as_u64().unwrap()
        );
    }
}

#[test]
fn validate_prints_its_verdict_on_stdout_and_diagnostics_on_stderr() {
    let (code, stdout, stderr) = run(tributary().args(["validate", "pipelines/demo.toml"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("pipelines/demo.toml: ok (1 source, 1 transform, 2 sinks"),
        "{stdout}"
    );
    assert!(!stderr.contains(": ok ("), "{stderr}");
}

#[test]
fn a_dry_run_never_says_a_sink_committed() {
    let (dir, file) = demo_copy();
    let (code, _, stderr) = run(tributary()
        .current_dir(dir.path())
        .args(["run", "--dry-run", "--progress", "never"])
        .arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("sink committed"), "{stderr}");
    assert!(
        stderr.contains("sink finished (dry run: nothing committed)"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists(), "nothing written");
}

#[test]
fn run_help_lists_the_global_flags_apart_from_its_own() {
    let (code, stdout, _) = run(tributary().args(["run", "--help"]));
    assert_eq!(code, 0);
    let (own, global) = stdout
        .split_once("Global options:")
        .unwrap_or_else(|| panic!("a `Global options` section:\n{stdout}"));
    assert!(
        own.contains("--report") && own.contains("--dry-run"),
        "{stdout}"
    );
    for flag in ["--verbose", "--quiet", "--log-format"] {
        assert!(!own.contains(flag), "{flag} among run's options:\n{stdout}");
        assert!(global.contains(flag), "{flag}:\n{stdout}");
    }
}

#[test]
fn check_shows_each_fix_once() {
    let (dir, file) = demo_copy();
    let (code, stdout, _) = run(tributary()
        .current_dir(dir.path())
        .env("FB_PAGE_TOKEN", graph_emulator::EXPIRED_TOKEN)
        .arg("check")
        .arg(&file));
    assert_eq!(code, 1, "{stdout}");
    let fails = stdout.lines().filter(|l| l.contains("FAIL")).count();
    assert!(fails > 0, "{stdout}");
    assert_eq!(
        stdout.matches("issue a new Page access token").count(),
        fails,
        "one fix per failed check:\n{stdout}"
    );
    assert_eq!(stdout.matches("fix: ").count(), fails, "{stdout}");
}

#[test]
fn progress_shows_units_done_of_the_total_and_the_time_elapsed() {
    let (dir, file) = demo_copy();
    // Slower than the demo's pace, so the bars get drawn a few times.
    let text = fs::read_to_string(&file).unwrap().replace(
        "requests_per_second_per_page = 20",
        "requests_per_second_per_page = 8",
    );
    fs::write(&file, text).unwrap();
    let cmd = format!(
        "{} run --progress always demo.toml",
        env!("CARGO_BIN_EXE_tributary-cli")
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .env("COLUMNS", "160")
        .output()
        .expect("`script` (util-linux) runs a command on a pseudo-terminal");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{terminal}");
    // 4 Pages x 2 platforms x 4 folders.
    assert!(terminal.contains(" of 32 units done"), "{terminal}");
    assert!(terminal.contains("elapsed"), "{terminal}");
}

/// The TOML blocks of README.md that are pipelines or parts of one (not, say, `.taplo.toml`).
fn readme_pipeline_snippets() -> Vec<(usize, toml::Table)> {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let line = readme.len() - rest.len() + start;
        let body = &rest[start + 8..];
        let end = body.find("```").expect("a closed block");
        let table: toml::Table = toml::from_str(&body[..end])
            .unwrap_or_else(|e| panic!("README.md block at byte {line} is not TOML: {e}"));
        if ["pipeline", "sources", "transforms", "sinks"]
            .iter()
            .any(|k| table.contains_key(*k))
        {
            out.push((readme[..line].lines().count() + 1, table));
        }
        rest = &body[end + 3..];
    }
    out
}

/// Every file of `pipelines/`, parsed.
fn example_pipelines() -> Vec<(PathBuf, toml::Table)> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let t = toml::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
            (p, t)
        })
        .collect()
}

/// `[section.id]` tables of a pipeline.
fn components(t: &toml::Table) -> Vec<(String, &toml::Table)> {
    ["sources", "transforms", "sinks"]
        .iter()
        .filter_map(|s| t.get(*s).and_then(|v| v.as_table()).map(|v| (*s, v)))
        .flat_map(|(s, v)| {
            v.iter()
                .filter_map(move |(id, c)| c.as_table().map(|c| (format!("{s}.{id}"), c)))
        })
        .collect()
}

#[test]
fn every_readme_pipeline_snippet_is_an_example_file_that_validates() {
    let snippets = readme_pipeline_snippets();
    assert!(snippets.len() >= 3, "{} snippets", snippets.len());
    let examples = example_pipelines();
    for (line, snippet) in &snippets {
        if snippet.contains_key("pipeline") {
            // A whole pipeline: one example file is exactly it, and validates without a warning.
            let (file, _) = examples
                .iter()
                .find(|(_, t)| t == snippet)
                .unwrap_or_else(|| {
                    panic!("README.md:{line}: this pipeline must be a file in pipelines/, verbatim")
                });
            let (code, stdout, stderr) = run(tributary()
                .env("FB_PAGE_TOKEN", "placeholder-token")
                .arg("validate")
                .arg(file));
            assert_eq!(code, 0, "{}: {stderr}", file.display());
            assert!(
                stderr.is_empty(),
                "{} validates clean:\n{stderr}",
                file.display()
            );
            assert!(stdout.contains(": ok ("), "{stdout}");
            continue;
        }
        // A part of one: each of its components appears, same id and plugin, with every key the
        // README shows, in one example (which `pipelines::every_example_pipeline_validates`
        // validates). Values may differ (the README's comments explain them).
        for (id, component) in components(snippet) {
            let covered = examples.iter().any(|(_, t)| {
                components(t).iter().any(|(other_id, other)| {
                    *other_id == id
                        && other.get("type") == component.get("type")
                        && component.keys().all(|k| other.contains_key(k))
                })
            });
            assert!(
                covered,
                "README.md:{line}: `[{id}]` with keys {:?} is in no file of pipelines/",
                component.keys().collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn the_documented_install_builds_the_tributary_binary() {
    // README: `cargo install --path crates/tributary --locked` (`make install`).
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let command = "cargo install --path crates/tributary --locked";
    assert!(readme.contains(command), "README documents the install");
    let (code, stdout, stderr) = run(Command::new("make")
        .args(["-n", "install"])
        .current_dir(root()));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&command[6..]),
        "make install runs it: {stdout}"
    );
    // The crate it names has the binary the README calls.
    let manifest: toml::Table =
        toml::from_str(&fs::read_to_string(root().join("crates/tributary/Cargo.toml")).unwrap())
            .unwrap();
    let bins = manifest["bin"].as_array().unwrap();
    assert!(
        bins.iter().any(|b| b["name"].as_str() == Some("tributary")),
        "{bins:?}"
    );
}

/// Tracked files (`git ls-files`), or, outside a git checkout, every file but build output.
fn repository_files() -> Vec<PathBuf> {
    let root = root();
    if let Ok(out) = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        && out.status.success()
    {
        return out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
            .collect();
    }
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if ![".git", "target", ".venv", "out", "node_modules"].contains(&name.as_str()) {
                    stack.push(p);
                }
            } else {
                files.push(p);
            }
        }
    }
    files
}

#[test]
fn no_file_cites_a_document_that_is_not_in_the_repository() {
    // Design notes that were never part of this repository; spelled in pieces so this file does
    // not cite them itself.
    let cited = [
        concat!("DESIGN", ".md"),
        concat!("DESIGN", " §"),
        concat!("DESIGN", "'s"),
        concat!("GRAPH", "_API"),
        concat!("DEPS", ".md"),
        concat!("STYLE", ".md"),
        concat!("../", "shared/"),
    ];
    let files = repository_files();
    assert!(files.len() > 100, "{} files", files.len());
    let mut found = Vec::new();
    for file in files {
        // Binary files (images, compressed fixtures) hold no citations.
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if cited.iter().any(|c| line.contains(c)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "cite Meta's public documentation or this repository's own docs (README, BENCHMARKS) \
         instead:\n{}",
        found.join("\n")
    );
}
