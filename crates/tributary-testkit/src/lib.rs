//! Test support shared by tributary's crates (a dev-dependency only).
//!
//! - [`python`]: the interpreter of the project's venv, which has the readers nobody here wrote
//!   (DuckDB, pyarrow, polars, the official Graph SDK, moto). Made by `make venv`.
//! - [`S3Server`]: a real S3-compatible server (`moto_server`) on a free loopback port, stopped
//!   on drop.
//! - [`batches`]: realistic canonical conversations batches of any size, for benchmarks and
//!   volume tests.
//!
//! Tests that need these **fail** when they are missing, with the command that installs them:
//! a skipped interop test would be a test that cannot fail.

// Test support code: a panic with its message is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod batches;
pub mod sinks;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// The Python interpreter to use: `$TRIBUTARY_PYTHON`, else `<workspace>/.venv/bin/python`.
///
/// # Panics
/// When neither exists, with the command that creates the venv.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TRIBUTARY_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "the Python test tools are missing: run `make venv` in {} (or set TRIBUTARY_PYTHON)",
        workspace_root().display()
    );
    venv
}

/// Runs `python -c script args...` and returns its output; panics with stderr if it fails.
pub fn run_python(script: &str, args: &[&str]) -> Output {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("failed to start the Python interpreter");
    assert!(
        out.status.success(),
        "python failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The loader's errors for one `[sinks.out]` table of sink plugin `P` whose `type` is `type_`
/// (empty when it loads). Unknown keys are the loader's to refuse, so a config's key tests go
/// through it rather than through serde alone.
pub fn sink_table_errors<P: tributary_core::plugin::SinkPlugin>(
    type_: &str,
    table: &str,
) -> String {
    let mut registry = tributary_core::registry::Registry::new();
    registry.sink::<P>();
    let text = format!("[sinks.out]\ntype = \"{type_}\"\ninputs = [\"src\"]\n{table}");
    match tributary_core::config::load_str(&text, "p.toml".as_ref(), &registry, &|_| None) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// A free TCP port on 127.0.0.1 (racy by nature, fine for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A `moto_server` on loopback, killed on drop.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
}

impl S3Server {
    /// Starts `moto_server` from the venv and waits until it answers.
    ///
    /// # Panics
    /// When it is not installed or does not come up within 30 s.
    pub fn start() -> Self {
        let python = python();
        let moto = python.with_file_name("moto_server");
        assert!(
            moto.exists(),
            "moto_server is missing from the venv: run `make venv`"
        );
        let port = free_port();
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to start moto_server");
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Creates `bucket` (with boto3 from the venv).
    pub fn create_bucket(&self, bucket: &str) {
        let script = "import boto3,sys\n\
            s3=boto3.client('s3',endpoint_url=sys.argv[1],region_name='us-east-1',\
            aws_access_key_id='test',aws_secret_access_key='test')\n\
            s3.create_bucket(Bucket=sys.argv[2])";
        run_python(script, &[&self.endpoint, bucket]);
    }

    /// Runs `test`, an `#[ignore]`d test of the running test binary, in a child process whose
    /// environment carries this server's credentials and region (the production path for
    /// credentials; a test cannot safely set its own process's environment) and
    /// `TRIBUTARY_TEST_S3_ENDPOINT`. Endpoint and plain-HTTP permission are left to the config
    /// under test.
    pub fn run_child_test(&self, test: &str) -> Output {
        Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(self.env())
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ALLOW_HTTP")
            .env("TRIBUTARY_TEST_S3_ENDPOINT", &self.endpoint)
            .output()
            .expect("cannot run the child test")
    }

    /// The `AWS_*` environment a client needs to talk to this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
