//! `exec` transforms and sinks with real Python children (the venv's pyarrow): the scripts are
//! in `tests/exec/`, the source is the embedded Graph emulator.

use std::path::{Path, PathBuf};

use crate::{root, run, tributary};

const SOURCE: &str = r#"
[sources.pages]
type         = "graph_conversations"
base_url     = "embedded"
pages        = ["104857600000001", "104857600000002"]
access_token = "demo-token"
platforms    = ["messenger", "instagram"]
folders      = ["inbox", "other"]
page_size    = 25
requests_per_second_per_page = 0
"#;

/// `command = [python, tests/exec/<script>]` as TOML.
fn command(script: &str) -> String {
    let python = tributary_testkit::python();
    let script = root().join("tests/exec").join(script);
    format!(
        "command = [{:?}, {:?}]",
        python.display().to_string(),
        script.display().to_string()
    )
}

/// Writes `body` (after the source) as `p.toml` in a fresh folder.
fn pipeline(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    std::fs::write(&file, format!("{SOURCE}\n{body}")).unwrap();
    (dir, file)
}

fn ndjson_rows(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn exec_transform_adds_a_column_and_drops_rows() {
    let (_dir, file) = pipeline(&format!(
        r#"
[transforms.lang]
type   = "exec"
inputs = ["pages"]
{}
output = {{ add = [{{ name = "lang", type = "string" }}] }}

[sinks.console]
type   = "stdout"
inputs = ["lang"]
"#,
        command("add_lang.py")
    ));
    let (code, stdout, stderr) = run(tributary().arg("run").arg(&file));
    assert_eq!(code, 0, "{stderr}");
    let rows = ndjson_rows(&stdout);

    // The same rows straight from the source, to compare against.
    let (_dir2, plain) = pipeline("[sinks.console]\ntype = \"stdout\"\ninputs = [\"pages\"]\n");
    let (code, all, stderr2) = run(tributary().arg("run").arg(&plain));
    assert_eq!(code, 0, "{stderr2}");
    let all = ndjson_rows(&all);
    let instagram: Vec<_> = all
        .iter()
        .filter(|r| r["platform"] == "instagram")
        .collect();
    assert!(!instagram.is_empty() && instagram.len() < all.len());
    assert_eq!(
        rows.len(),
        instagram.len(),
        "every Instagram row, nothing else"
    );
    for row in &rows {
        assert_eq!(row["platform"], "instagram");
        let len = row["snippet"].as_str().unwrap_or("").chars().count();
        let expected = if len % 2 == 0 { "even" } else { "odd" };
        assert_eq!(row["lang"], expected, "{row}");
    }
    // The child's standard error is logged under the component's id.
    assert!(
        stderr.contains("add_lang: started") && stderr.contains("transforms.lang"),
        "{stderr}"
    );
}

/// `columns`: the child gets only the columns it reads and answers row for row; every other
/// column of the output is the input's own, untouched.
#[test]
fn a_child_that_reads_some_columns_answers_row_for_row() {
    let step = |extra: &str| {
        format!(
            r#"
[transforms.lang]
type    = "exec"
inputs  = ["pages"]
{}
columns = ["platform", "snippet"]
output  = {{ add = [{{ name = "lang", type = "string" }}] }}
{extra}

[sinks.console]
type   = "stdout"
inputs = ["lang"]
"#,
            command("lang_columns.py")
        )
    };
    let (_dir, file) = pipeline(&step(""));
    let (code, stdout, stderr) = run(tributary().arg("run").arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("lang_columns: got platform,snippet"),
        "{stderr}"
    );
    let rows = ndjson_rows(&stdout);

    let (_dir2, plain) = pipeline("[sinks.console]\ntype = \"stdout\"\ninputs = [\"pages\"]\n");
    let (code, all, stderr2) = run(tributary().arg("run").arg(&plain));
    assert_eq!(code, 0, "{stderr2}");
    let mut expected: Vec<serde_json::Value> = ndjson_rows(&all)
        .into_iter()
        .filter(|r| r["platform"] == "instagram")
        .collect();
    for row in &mut expected {
        let len = row["snippet"].as_str().unwrap_or("").chars().count();
        row["lang"] = (if len % 2 == 0 { "even" } else { "odd" }).into();
    }
    assert!(!expected.is_empty());
    // The same rows, whole: the columns the child never saw included (but the time of the
    // extraction, which differs between the two runs).
    let normalize = |rows: Vec<serde_json::Value>| {
        let mut rows: Vec<String> = rows
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("extracted_at");
                r.to_string()
            })
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(normalize(rows), normalize(expected.clone()));

    // One answer per page batch (several may be unanswered at a time): the same rows.
    let (_dir5, file) = pipeline(&step("batch_rows = 1"));
    let (code, stdout, stderr) = run(tributary().arg("run").arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(normalize(ndjson_rows(&stdout)), normalize(expected));

    // An answer that is not row for row fails the run and says why.
    let (_dir3, file) = pipeline(&step("env = { MODE = \"short\" }"));
    let (code, _, stderr) = run(tributary().arg("run").arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("rows; with `columns`, the child answers each batch row for row"),
        "{stderr}"
    );
    // So does a child that answers nothing.
    let (_dir4, file) = pipeline(&step("env = { MODE = \"silent\" }"));
    let (code, _, stderr) = run(tributary().arg("run").arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("unanswered; with `columns`"), "{stderr}");
}

#[test]
fn columns_name_input_columns_and_need_an_output_the_child_can_answer() {
    for (extra, expect) in [
        ("columns = [\"snipet\"]", "the input has no column `snipet`"),
        (
            "columns = [\"id\"]\noutput = [{ name = \"id\", type = \"utf8\" }]",
            "`columns` needs `output = \"same\"`",
        ),
        (
            "columns = [\"id\"]\noutput = { add = [{ name = \"keep\", type = \"bool\" }] }",
            "`keep` is the answer's row filter",
        ),
    ] {
        let (_dir, file) = pipeline(&format!(
            "[transforms.lang]\ntype = \"exec\"\ninputs = [\"pages\"]\n{}\n{extra}\n\n[sinks.console]\ntype = \"stdout\"\ninputs = [\"lang\"]\n",
            command("lang_columns.py")
        ));
        let (code, _, stderr) = run(tributary().arg("validate").arg(&file));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(expect), "expected `{expect}` in:\n{stderr}");
        assert!(
            stderr.contains("p.toml:"),
            "the error points into the file: {stderr}"
        );
    }
    let (_dir, file) = pipeline(&format!(
        "[transforms.lang]\ntype = \"exec\"\ninputs = [\"pages\"]\n{}\ncolumns = [\"snipet\"]\n\n[sinks.console]\ntype = \"stdout\"\ninputs = [\"lang\"]\n",
        command("lang_columns.py")
    ));
    let (_, _, stderr) = run(tributary().arg("validate").arg(&file));
    assert!(stderr.contains("snippet"), "a suggestion: {stderr}");
}

#[test]
fn schema_and_validate_know_the_declared_output_without_running_the_child() {
    let (dir, file) = pipeline(&format!(
        r#"
[transforms.lang]
type   = "exec"
inputs = ["pages"]
{}
env    = {{ PID_FILE = "{}/started" }}
output = {{ add = [{{ name = "lang", type = "string" }}], drop = ["snippet"] }}

[sinks.console]
type   = "stdout"
inputs = ["lang"]
"#,
        command("hang.py"),
        "${EXEC_TEST_DIR}",
    ));
    let (code, stdout, stderr) = run(tributary()
        .env("EXEC_TEST_DIR", dir.path())
        .arg("schema")
        .arg(&file));
    assert_eq!(code, 0, "{stderr}");
    let section = stdout.split("transforms.lang").nth(1).unwrap_or("");
    assert!(section.contains("lang"), "{stdout}");
    let (code, _, stderr) = run(tributary()
        .env("EXEC_TEST_DIR", dir.path())
        .arg("validate")
        .arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !dir.path().join("started").exists(),
        "schema/validate must not start the child"
    );
}

/// The failing-child cases: exit 1, a message naming the problem, and the other sink (ndjson on
/// disk, fed straight from the source) commits nothing.
fn fails_and_commits_nothing(
    script: &str,
    extra: &str,
    expect: &[&str],
) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            r#"{SOURCE}
[transforms.step]
type   = "exec"
inputs = ["pages"]
{}
{extra}

[sinks.lake]
type   = "ndjson"
inputs = ["pages"]
path   = "{}"

[sinks.console]
type   = "stdout"
inputs = ["step"]
"#,
            command(script),
            out.display()
        ),
    )
    .unwrap();
    let (code, _, stderr) = run(tributary()
        .env("EXEC_TEST_DIR", dir.path())
        .arg("run")
        .arg(&file));
    assert_eq!(code, 1, "{stderr}");
    for e in expect {
        assert!(stderr.contains(e), "expected `{e}` in:\n{stderr}");
    }
    let committed: Vec<_> = files_under(&out)
        .into_iter()
        .filter(|p| {
            !p.to_string_lossy().contains("_staging") && !p.to_string_lossy().contains("/.")
        })
        .collect();
    assert!(
        committed.is_empty(),
        "nothing may be committed: {committed:?}"
    );
    (dir, stderr)
}

#[test]
fn exec_transform_that_crashes_mid_stream_fails_the_run() {
    fails_and_commits_nothing(
        "crash.py",
        // One batch per API page, so that the child gets a second one to fail on.
        "batch_rows = 1",
        &[
            "transforms.step",
            "exited with status 1",
            "RuntimeError: model file is corrupt",
        ],
    );
}

#[test]
fn exec_transform_that_hangs_is_killed_after_its_timeout_and_reaped() {
    let (dir, _) = fails_and_commits_nothing(
        "hang.py",
        "timeout_secs = 2\nenv = { PID_FILE = \"${EXEC_TEST_DIR}/pid\" }",
        &["transforms.step", "`timeout_secs`", "hang: waiting forever"],
    );
    // tributary has exited: its child must be gone, neither running nor left as a zombie.
    let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap();
    let proc = PathBuf::from(format!("/proc/{}", pid.trim()));
    for _ in 0..20 {
        if !proc.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
    panic!("the hung child {pid} is still there: {stat}");
}

/// Ctrl-C and SIGTERM reach the child: tributary stops it, reaps it (no zombie), exits 1 and
/// commits nothing.
#[test]
fn an_interrupt_stops_and_reaps_the_exec_child_and_commits_nothing() {
    use std::io::{BufRead, BufReader};
    for signal in ["-INT", "-TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let file = dir.path().join("p.toml");
        std::fs::write(
            &file,
            format!(
                "{SOURCE}\n[transforms.step]\ntype = \"exec\"\ninputs = [\"pages\"]\n{}\n\
                 env = {{ PID_FILE = \"{}\" }}\n\n[sinks.lake]\ntype = \"ndjson\"\n\
                 inputs = [\"step\"]\npath = \"{}\"\n",
                command("hang.py"),
                dir.path().join("pid").display(),
                lake.display()
            ),
        )
        .unwrap();
        let mut child = tributary()
            .arg("run")
            .arg(&file)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        // The child is running (and has written its pid) once it says it hangs.
        for line in lines.by_ref() {
            if line.unwrap().contains("hang: waiting forever") {
                break;
            }
        }
        let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap();
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let rest: Vec<String> = lines.map(Result::unwrap).collect();
        let code = child.wait().unwrap().code();
        assert_eq!(code, Some(1), "{signal}: {rest:?}");
        assert!(
            rest.iter()
                .any(|l| l.contains("nothing from this run was committed")),
            "{signal}: {rest:?}"
        );
        // tributary reaps its child before it exits: once it has exited the child is gone,
        // neither running nor a zombie left for `init` to collect.
        let proc = PathBuf::from(format!("/proc/{}", pid.trim()));
        let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
        assert!(
            !proc.exists(),
            "{signal}: the child {pid} outlived tributary: {stat}"
        );
        assert!(committed_ndjson(&lake).is_empty(), "{signal}");
    }
}

#[test]
fn exec_transform_with_the_wrong_schema_names_the_column() {
    fails_and_commits_nothing(
        "wrong_schema.py",
        "",
        &["column `message_count` is declared as Int64 but the child sent Utf8"],
    );
}

#[test]
fn exec_transform_that_prints_on_stdout_is_told_to_use_stderr() {
    fails_and_commits_nothing(
        "garbage.py",
        "",
        &["not an Arrow IPC stream", "loading model", "standard error"],
    );
}

#[test]
fn a_missing_program_is_a_run_error_with_the_fix() {
    let (_dir, file) = pipeline(
        r#"
[transforms.step]
type    = "exec"
inputs  = ["pages"]
command = ["no-such-program-xyz", "x.py"]

[sinks.console]
type   = "stdout"
inputs = ["step"]
"#,
    );
    let (code, _, stderr) = run(tributary().arg("run").arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot start `no-such-program-xyz x.py`") && stderr.contains("PATH"),
        "{stderr}"
    );
}

fn csv_sink(dir: &Path, extra: &str) -> PathBuf {
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        format!(
            r#"{SOURCE}
[sinks.csv]
type   = "exec"
inputs = ["pages"]
{}
env    = {{ OUT_DIR = "{}", SECRET = "${{EXEC_TEST_SECRET}}" }}
{extra}

[sinks.lake]
type   = "ndjson"
inputs = ["pages"]
path   = "{}"
"#,
            command("to_csv.py"),
            dir.display(),
            dir.join("lake").display()
        ),
    )
    .unwrap();
    file
}

const SECRET: &str = "sk-live-0123456789abcdef";

#[test]
fn exec_sink_writes_a_csv_and_secrets_stay_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = csv_sink(dir.path(), "");
    let (code, _, stderr) = run(tributary()
        .env("EXEC_TEST_SECRET", SECRET)
        .env("FB_PAGE_TOKEN", "parent-only-token")
        .args(["-vv", "run"])
        .arg(&file)
        .args(["--shard", "0/1"]));
    assert_eq!(code, 0, "{stderr}");
    let csv = std::fs::read_to_string(dir.path().join("rows.csv")).unwrap();
    let lake_rows: usize = files_under(&dir.path().join("lake"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert!(lake_rows > 0);
    assert_eq!(csv.lines().count(), lake_rows + 1, "a header and every row");

    let child: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("child.json")).unwrap())
            .unwrap();
    let env = &child["env"];
    assert_eq!(
        env["SECRET"], SECRET,
        "the secret reaches the child's environment"
    );
    assert!(
        env.get("FB_PAGE_TOKEN").is_none(),
        "nothing else is inherited: {env}"
    );
    assert_eq!(env["TRIBUTARY_COMPONENT"], "sinks.csv");
    assert_eq!(env["TRIBUTARY_SHARD"], "0/1");
    let run_id = env["TRIBUTARY_RUN_ID"].as_str().unwrap();
    assert!(!run_id.is_empty());
    assert_eq!(child["metadata"]["tributary.run_id"], run_id);
    assert_eq!(child["metadata"]["tributary.component"], "sinks.csv");
    assert!(!child["cmdline"].as_str().unwrap().contains(SECRET));
    // The child printed its secret on standard error: logged, masked.
    assert!(stderr.contains("to_csv: using secret ***"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

#[test]
fn an_exec_sink_with_columns_gets_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let file = csv_sink(dir.path(), "columns = [\"platform\", \"id\"]");
    let (code, _, stderr) = run(tributary()
        .env("EXEC_TEST_SECRET", SECRET)
        .arg("run")
        .arg(&file));
    assert_eq!(code, 0, "{stderr}");
    let child: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("child.json")).unwrap())
            .unwrap();
    assert_eq!(child["columns"], serde_json::json!(["platform", "id"]));
    let csv = std::fs::read_to_string(dir.path().join("rows.csv")).unwrap();
    assert!(csv.lines().count() > 1, "{csv}");
}

/// Committed `.ndjson` files under `dir` (staging excluded).
fn committed_ndjson(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .filter(|p| !p.to_string_lossy().contains("_staging"))
        .collect()
}

#[test]
fn exec_sink_config_is_strict() {
    let dir = tempfile::tempdir().unwrap();
    let file = csv_sink(dir.path(), "env2 = 1");
    let (code, _, stderr) = run(tributary()
        .env("EXEC_TEST_SECRET", SECRET)
        .arg("validate")
        .arg(&file));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown key `env2`"), "{stderr}");
}

/// An exec sink whose child fails after reading the whole stream stops the other sinks'
/// commit: with `[pipeline] state` every sink prepares before any commits; without one, sinks
/// that stage (the NDJSON lake) finish only after the sinks that cannot (the exec child) did.
#[test]
fn a_failing_exec_sink_fails_the_run_and_the_other_sink_commits_nothing() {
    for with_state in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let file = csv_sink(dir.path(), "");
        let mut text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("OUT_DIR =", "EXIT_STATUS = \"3\", OUT_DIR =");
        if with_state {
            text += &format!(
                "\n[pipeline]\nstate = \"{}\"\n",
                dir.path().join("state.json").display()
            );
        }
        std::fs::write(&file, text).unwrap();
        let (code, _, stderr) = run(tributary()
            .env("EXEC_TEST_SECRET", SECRET)
            .arg("run")
            .arg(&file));
        assert_eq!(code, 1, "state: {with_state}: {stderr}");
        assert!(
            stderr.contains("sinks.csv") && stderr.contains("exited with status 3"),
            "{stderr}"
        );
        assert!(!stderr.contains(SECRET), "{stderr}");
        assert!(!dir.path().join("rows.csv").exists());
        let committed = committed_ndjson(&dir.path().join("lake"));
        assert!(committed.is_empty(), "state: {with_state}: {committed:?}");
    }
}

/// A sink child that dies while the stream is still flowing fails the run before the commit
/// barrier, with or without a state.
#[test]
fn an_exec_sink_that_dies_mid_stream_stops_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let file = csv_sink(dir.path(), "");
    // Many small batches, so the stream is still flowing when the child is gone.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("page_size    = 25", "page_size    = 1")
        .replace("OUT_DIR =", "EXIT_EARLY = \"1\", OUT_DIR =");
    std::fs::write(&file, text).unwrap();
    let (code, _, stderr) = run(tributary()
        .env("EXEC_TEST_SECRET", SECRET)
        .arg("run")
        .arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("sinks.csv") && stderr.contains("stopped reading its input"),
        "{stderr}"
    );
    let committed = committed_ndjson(&dir.path().join("lake"));
    assert!(committed.is_empty(), "{committed:?}");
}

#[test]
fn a_dry_run_runs_exec_transforms_but_not_exec_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let file = csv_sink(dir.path(), "");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "[sinks.csv]\ntype   = \"exec\"\ninputs = [\"pages\"]",
        &format!(
            "[transforms.lang]\ntype = \"exec\"\ninputs = [\"pages\"]\n{}\noutput = {{ add = [{{ name = \"lang\", type = \"utf8\" }}] }}\n\n[sinks.csv]\ntype   = \"exec\"\ninputs = [\"lang\"]",
            command("add_lang.py")
        ),
    );
    std::fs::write(&file, text).unwrap();
    let (code, _, stderr) = run(tributary()
        .env("EXEC_TEST_SECRET", SECRET)
        .args(["run", "--dry-run"])
        .arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("add_lang: started"),
        "the transform ran: {stderr}"
    );
    assert!(
        !dir.path().join("child.json").exists(),
        "the sink's child was not started"
    );
}

/// `pipelines/exec-python.toml` as a user runs it: `python3` with pyarrow on PATH, the example's
/// own scripts, the CSV at the end. The transform reads only `snippet` and the sink gets only
/// the three columns it writes.
#[test]
fn the_exec_python_example_runs_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir_all(pipelines.join("exec")).unwrap();
    for name in ["exec-python.toml", "exec/detect_lang.py", "exec/to_csv.py"] {
        std::fs::copy(root().join("pipelines").join(name), pipelines.join(name)).unwrap();
    }
    let python_dir = tributary_testkit::python().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        python_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (code, _, stderr) = run(tributary().current_dir(dir.path()).env("PATH", path).args([
        "run",
        "pipelines/exec-python.toml",
        "--report",
        "report.json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let csv = std::fs::read_to_string(dir.path().join("out/exec-python/threads.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(r#""id","platform","lang""#));
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.ends_with(r#","en""#) || r.ends_with(r#","fr""#)),
        "{csv}"
    );
    // No more rows than the source read (threads without a snippet are dropped by the
    // transform's `keep`; `keep` itself is checked row by row in
    // `a_child_that_reads_some_columns_answers_row_for_row`).
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let read = report["sources"][0]["rows"].as_u64().unwrap();
    assert!(
        rows.len() as u64 <= read && !rows.is_empty(),
        "{} of {read}",
        rows.len()
    );
}
