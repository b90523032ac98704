//! `pages = "all"` from the command line: the Pages of a user token, each read with its own
//! Page token, through `run` (sharded, dry), `check` and `validate`; no token of any kind in
//! any output at `-vv`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use graph_emulator::{Accounts, EmulatorConfig, ThreadCount, USER_TOKEN, page_id, page_token};

use crate::{Emu, root, run, tributary};

/// 5 Pages listed 2 per `/me/accounts` response (3 responses); page 4 (index 3) lacks MESSAGING.
fn five_pages() -> Emu {
    Emu::start(EmulatorConfig {
        seed: 9,
        pages: 5,
        threads_per_unit: ThreadCount::Around(5),
        accounts: Accounts {
            per_page: 2,
            without_messaging: [page_id(3)].into_iter().collect(),
            ..Accounts::default()
        },
        ..EmulatorConfig::default()
    })
}

fn pipeline(dir: &Path, base_url: &str, extra: &str) -> PathBuf {
    let file = dir.join("all.toml");
    fs::write(
        &file,
        format!(
            r#"
[pipeline]
name  = "all"
state = "{state}"

[sources.pages]
type         = "graph_conversations"
base_url     = "{base_url}"
pages        = "all"
access_token = "${{FB_USER_TOKEN}}"
requests_per_second_per_page = 0
{extra}

[sinks.out]
type   = "ndjson"
inputs = ["pages"]
path   = "{out}"
"#,
            state = dir.join("state.json").display(),
            out = dir.join("out").display(),
        ),
    )
    .unwrap();
    file
}

/// Every file under `dir`, concatenated (output, state, report).
fn all_files(dir: &Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                text.push_str(&String::from_utf8_lossy(&fs::read(&p).unwrap()));
            }
        }
    }
    text
}

/// (page_id, id) of every NDJSON row under `dir/out`.
fn rows(dir: &Path) -> BTreeSet<(String, String)> {
    row_list(dir).into_iter().collect()
}

/// Every NDJSON row under `dir/out`, duplicates kept.
fn row_list(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("out")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "ndjson" || x == "gz" || x == "zst")
            {
                for line in fs::read_to_string(&p).unwrap_or_default().lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    out.push((
                        v["page_id"].as_str().unwrap().to_string(),
                        v["id"].as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    out
}

fn truth(emu: &Emu, without: &[String]) -> BTreeSet<(String, String)> {
    emu.get()
        .ground_truth()
        .threads
        .iter()
        .filter(|t| !without.contains(&t.page_id))
        .map(|t| (t.page_id.clone(), t.id.clone()))
        .collect()
}

#[test]
fn reads_every_readable_page_of_the_token_and_no_token_appears_anywhere() {
    let emu = five_pages();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), emu.get().base_url(), "");
    let report = dir.path().join("report.json");
    let (code, stdout, stderr) = run(tributary()
        .env("FB_USER_TOKEN", USER_TOKEN)
        .args(["-vv", "run"])
        .arg(&file)
        .arg("--report")
        .arg(&report));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rows(dir.path()), truth(&emu, &[page_id(3)]));
    // One warning names the skipped Page.
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("skipping 1 of the token's Pages"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains(&page_id(3)) && warnings[0].contains("MESSAGING"));
    assert_eq!(
        emu.get().stats().requests_by_route.get("accounts"),
        Some(&3)
    );
    // The log really holds the listing's URLs and the Pages' calls (so the scan can fail).
    assert!(stderr.contains("/me/accounts"), "{stderr}");
    assert!(
        stderr.contains(&format!("/{}/conversations", page_id(0))),
        "{stderr}"
    );
    let files = all_files(dir.path());
    assert!(
        files.contains(&page_id(0)),
        "the state and output name the Pages"
    );
    let mut secrets = vec![USER_TOKEN.to_string()];
    secrets.extend(emu.get().page_ids().iter().map(|p| page_token(p)));
    for secret in &secrets {
        for (what, text) in [("stderr", &stderr), ("stdout", &stdout), ("files", &files)] {
            assert!(
                !text.contains(secret.as_str()),
                "`{secret}` leaked into {what}"
            );
        }
    }
}

#[test]
fn shards_share_the_discovered_pages_and_a_dry_run_writes_nothing() {
    let emu = five_pages();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), emu.get().base_url(), "");
    let (code, _, stderr) = run(tributary()
        .env("FB_USER_TOKEN", USER_TOKEN)
        .args(["run", "--dry-run"])
        .arg(&file));
    assert_eq!(code, 0, "{stderr}");
    assert!(rows(dir.path()).is_empty(), "a dry run writes nothing");
    crate::all_succeed_concurrently((0..2).map(|k| {
        let mut cmd = tributary();
        cmd.env("FB_USER_TOKEN", USER_TOKEN)
            .args(["-q", "run"])
            .arg(&file)
            .args(["--shard", &format!("{k}/2")]);
        cmd
    }));
    assert_eq!(rows(dir.path()), truth(&emu, &[page_id(3)]));
    for k in 0..2 {
        assert!(dir.path().join(format!("state.s{k}of2.json")).exists());
    }
}

#[test]
fn incremental_runs_over_discovered_pages_land_every_thread_exactly_once() {
    let emu = five_pages();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), emu.get().base_url(), "mode = \"incremental\"");
    let once = || {
        let (code, _, stderr) = run(tributary()
            .env("FB_USER_TOKEN", USER_TOKEN)
            .args(["-q", "run"])
            .arg(&file));
        assert_eq!(code, 0, "{stderr}");
        row_list(dir.path())
    };
    let first = once();
    assert_eq!(first.len(), truth(&emu, &[page_id(3)]).len());
    assert_eq!(once().len(), first.len(), "nothing new, nothing read again");
    let new = emu.get().mutate(graph_emulator::Mutation::NewThreads {
        page_id: page_id(2),
        platform: graph_emulator::Platform::Instagram,
        folder: graph_emulator::Folder::Inbox,
        count: 3,
    });
    assert_eq!(new.len(), 3);
    let third = once();
    assert_eq!(third.len(), first.len() + 3, "only the 3 new threads");
    let all: BTreeSet<_> = third.iter().cloned().collect();
    assert_eq!(all.len(), third.len(), "no thread twice");
    assert_eq!(all, truth(&emu, &[page_id(3)]));
}

#[test]
fn an_expired_user_token_exits_1_with_the_fix() {
    let emu = five_pages();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), emu.get().base_url(), "");
    let (code, _, stderr) = run(tributary()
        .env("FB_USER_TOKEN", graph_emulator::EXPIRED_USER_TOKEN)
        .args(["-vv", "run"])
        .arg(&file));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("GET /me/accounts"), "{stderr}");
    assert!(stderr.contains("190/463"), "{stderr}");
    assert!(
        stderr.contains("issue a new user or system-user access token"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(graph_emulator::EXPIRED_USER_TOKEN),
        "{stderr}"
    );
    assert!(rows(dir.path()).is_empty());
}

#[test]
fn check_prints_one_line_per_discovered_page() {
    let emu = five_pages();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), emu.get().base_url(), "");
    let (code, stdout, stderr) = run(tributary()
        .env("FB_USER_TOKEN", USER_TOKEN)
        .arg("check")
        .arg(&file));
    assert_eq!(
        code, 1,
        "the Page without MESSAGING fails the check:\n{stdout}{stderr}"
    );
    for id in emu.get().page_ids() {
        let lines: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains(&format!("page {id} ")))
            .collect();
        assert_eq!(lines.len(), 1, "{id}:\n{stdout}");
        let ok = id != page_id(3);
        assert_eq!(lines[0].contains("OK"), ok, "{}", lines[0]);
    }
    assert!(
        stdout.contains("exclude_pages"),
        "the fix for the skipped Page:\n{stdout}"
    );
    assert!(!stdout.contains(USER_TOKEN) && !stderr.contains(USER_TOKEN));

    let file = pipeline(
        dir.path(),
        emu.get().base_url(),
        &format!("exclude_pages = [\"{}\"]", page_id(3)),
    );
    let (code, stdout, stderr) = run(tributary()
        .env("FB_USER_TOKEN", USER_TOKEN)
        .arg("check")
        .arg(&file));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("5 of 5 checks passed"), "{stdout}");
}

#[test]
fn the_example_validates_offline_and_runs_on_the_embedded_emulator() {
    let (code, _, stderr) = run(tributary().args(["validate", "pipelines/all-pages.toml"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(root().join("pipelines/all-pages.toml").exists());
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(tributary()
        .current_dir(dir.path())
        .args(["run", "--dry-run"])
        .arg(root().join("pipelines/all-pages.toml")));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("listed the token's Pages") || stderr.contains("104857600000004"),
        "{stderr}"
    );
}
