//! End-to-end tests: the `tributary` command line as a user runs it, real processes, real HTTP
//! to the emulator on 127.0.0.1, output read back by tools nobody here wrote.

// Test code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod all_pages;
mod azure_state;
mod cli;
mod crash;
mod delta;
mod e2e;
mod exec;
mod newcomer;
mod ops;
mod pipelines;
mod privacy;
mod rate_limits;
mod s3_state;
mod secrets;
mod shard;
mod stdout;
mod write_modes;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use graph_emulator::{EmulatorConfig, RunningEmulator};

/// The dataset the embedded emulator (and `tributary emulate --demo`) serves: deterministic,
/// the same config serves the same data.
pub fn embedded_truth() -> graph_emulator::GroundTruth {
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
    })
}

/// A pipeline with its state in `[pipeline.state]` at `<root>/<prefix>/state.json` and its
/// Parquet lake at `<root>/<prefix>/raw`, both through `endpoint` (the object-store tests).
pub fn lake_pipeline(
    dir: &Path,
    name: &str,
    root: &str,
    emu: &str,
    endpoint: &str,
    prefix: &str,
    rps: u32,
) -> PathBuf {
    let token = graph_emulator::DEMO_TOKEN;
    let text = format!(
        r#"
[pipeline]
name = "{name}"

[pipeline.state]
path = "{root}/{prefix}/state.json"
endpoint = "{endpoint}"
allow_http = true

[sources.pages]
type = "graph_conversations"
base_url = "{emu}"
pages = ["104857600000001", "104857600000002"]
access_token = "{token}"
requests_per_second_per_page = {rps}
page_size = 10
mode = "incremental"

[sinks.lake]
type = "parquet"
inputs = ["pages"]
path = "{root}/{prefix}/raw"
endpoint = "{endpoint}"
allow_http = true
max_rows_per_file = 120
"#
    );
    let file = dir.join(format!("{}.toml", prefix.replace('/', "-")));
    std::fs::write(&file, text).unwrap();
    file
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `tributary` with a clean environment for the variables pipelines use.
pub fn tributary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tributary-cli"));
    cmd.current_dir(root())
        .env_remove("RUST_LOG")
        .env_remove("FB_PAGE_TOKEN");
    cmd
}

/// The Graph emulator on 127.0.0.1, served by its own runtime while the test runs processes.
pub struct Emu {
    rt: tokio::runtime::Runtime,
    emu: Option<RunningEmulator>,
}

impl Emu {
    /// Starts the emulator with `config` on a runtime of its own.
    pub fn start(config: EmulatorConfig) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let emu = rt.block_on(graph_emulator::start(config)).unwrap();
        Self { rt, emu: Some(emu) }
    }

    /// The running emulator (its URL, stats, admin calls).
    pub fn get(&self) -> &RunningEmulator {
        self.emu.as_ref().unwrap()
    }

    /// Conversation-list calls served so far.
    pub fn list_calls(&self) -> u64 {
        self.get()
            .stats()
            .requests_by_route
            .get("conversations")
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        if let Some(emu) = self.emu.take() {
            self.rt.block_on(emu.shutdown());
        }
    }
}

/// Starts every command at once (as a Kubernetes Indexed Job starts its workers) and asserts
/// that each one succeeds.
pub fn all_succeed_concurrently(commands: impl IntoIterator<Item = Command>) {
    let children: Vec<_> = commands
        .into_iter()
        .map(|mut cmd| {
            cmd.stderr(std::process::Stdio::piped())
                .spawn()
                .expect("failed to start tributary")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("failed to start tributary");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}
