//! State, run lock and a Parquet lake on Azure Blob Storage (README, *State and lake on object
//! storage*), against Azurite (npm `azurite`, installed once into `~/.cache/tributary/azurite`)
//! on loopback: `az://` paths with `endpoint` and `allow_http`, a kill at commit steps finished
//! exactly once by the next run, a concurrent run refused, and no account key in any output at
//! `-vv`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use graph_emulator::EmulatorConfig;

use crate::{Emu, run, tributary};

/// Azurite's well-known development account (public, documented by Microsoft).
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azurite's blob service on loopback, killed on drop.
struct Azurite {
    child: Child,
    /// `http://127.0.0.1:PORT/devstoreaccount1` (path-style, as Azurite serves it).
    endpoint: String,
    _data: tempfile::TempDir,
}

impl Azurite {
    fn start() -> Self {
        let home = std::env::var("HOME").expect("HOME");
        let cache = PathBuf::from(home).join(".cache/tributary/azurite");
        let bin = cache.join("node_modules/.bin/azurite-blob");
        if !bin.exists() {
            fs::create_dir_all(&cache).unwrap();
            let out = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(&cache)
                .arg("azurite@3")
                .output()
                .expect("npm is needed to install Azurite");
            assert!(
                out.status.success(),
                "npm install azurite: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let data = tempfile::tempdir().unwrap();
        let port = tributary_testkit::free_port();
        let child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(data.path())
            .args(["--silent", "--skipApiVersionCheck"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start Azurite");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "Azurite did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
            _data: data,
        }
    }

    /// A Shared Key signed request (stdlib Python: no Azure SDK needed): `mk` creates the
    /// container, `ls` lists blob names, `get NAME FILE` downloads one.
    fn call(&self, args: &[&str]) -> String {
        let script = r#"
import sys, base64, hmac, hashlib, urllib.request, urllib.parse, email.utils, re
endpoint, account, key, container, op = sys.argv[1:6]
rest = sys.argv[6:]
def req(method, blob, query, body=b"", extra=None):
    date = email.utils.formatdate(usegmt=True)
    headers = {"x-ms-date": date, "x-ms-version": "2021-08-06"}
    headers.update(extra or {})
    canon_h = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers) if k.startswith("x-ms-"))
    path = f"/{account}/{container}" + (f"/{blob}" if blob else "")
    canon_r = f"/{account}{path}" + "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
    length = str(len(body)) if body else ""
    sts = f"{method}\n\n\n{length}\n\n{headers.get('Content-Type', '')}\n\n\n\n\n\n\n" + canon_h + canon_r
    sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {account}:{sig}"
    url = endpoint.rsplit("/", 1)[0] + path + ("?" + urllib.parse.urlencode(query) if query else "")
    return urllib.request.urlopen(urllib.request.Request(url, data=body or None, method=method, headers=headers)).read()
if op == "mk":
    req("PUT", None, {"restype": "container"})
elif op == "ls":
    xml = req("GET", None, {"restype": "container", "comp": "list"}).decode()
    print("\n".join(re.findall(r"<Name>([^<]*)</Name>", xml)))
elif op == "get":
    open(rest[1], "wb").write(req("GET", rest[0], {}))
"#;
        let mut argv = vec![self.endpoint.as_str(), ACCOUNT, KEY, "lake"];
        argv.extend_from_slice(args);
        let out = tributary_testkit::run_python(script, &argv);
        String::from_utf8(out.stdout).unwrap()
    }

    fn blobs(&self) -> Vec<String> {
        self.call(&["ls"]).lines().map(str::to_owned).collect()
    }

    /// `(id, updated_time)` of every committed row under `<prefix>/raw`, sorted.
    fn committed(&self, prefix: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (i, name) in self
            .blobs()
            .into_iter()
            .filter(|n| n.starts_with(&format!("{prefix}/raw/")) && !n.contains("/_tributary/"))
            .enumerate()
        {
            let local = dir.path().join(format!("{i}.parquet"));
            self.call(&["get", &name, local.to_str().unwrap()]);
            files.push(local.display().to_string());
        }
        let script = r#"
import sys, pyarrow.parquet as pq
for f in sys.argv[1:]:
    t = pq.read_table(f, columns=["id", "updated_time"])
    for i, u in zip(t.column("id").to_pylist(), t.column("updated_time").to_pylist()):
        print(f"{i}|{u}")
"#;
        let args: Vec<&str> = files.iter().map(String::as_str).collect();
        let out = tributary_testkit::run_python(script, &args);
        let mut rows: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        rows.sort();
        rows
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env() -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.into()),
        ("AZURE_STORAGE_ACCOUNT_KEY", KEY.into()),
    ]
}

/// The pipeline of `s3_state`'s tests, on `az://lake` (Azurite).
fn pipeline(dir: &Path, emu: &str, endpoint: &str, prefix: &str, rps: u32) -> PathBuf {
    crate::lake_pipeline(dir, "azstate", "az://lake", emu, endpoint, prefix, rps)
}

#[test]
fn state_lock_and_lake_on_azurite_are_exactly_once_across_kills_and_refuse_a_concurrent_run() {
    let graph = Emu::start(EmulatorConfig::default());
    let emu = graph.get().base_url().to_owned();
    let az = Azurite::start();
    az.call(&["mk"]);
    let dir = tempfile::tempdir().unwrap();

    // A clean run, at -vv: state and lock on Azure, the account key in no output.
    let reference = pipeline(dir.path(), &emu, &az.endpoint, "ref", 500);
    let (code, stdout, stderr) = run(tributary().envs(env()).args(["-vv", "run"]).arg(&reference));
    assert_eq!(code, 0, "{stderr}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(KEY), "the account key leaked");
        assert!(!text.contains("builder error"), "{text}");
    }
    let truth = az.committed("ref");
    assert!(truth.len() > 100, "{} rows", truth.len());
    assert_eq!(
        truth.iter().collect::<BTreeSet<_>>().len(),
        truth.len(),
        "no row twice"
    );
    let blobs = az.blobs();
    assert!(blobs.contains(&"ref/state.json".to_owned()), "{blobs:?}");
    assert!(
        !blobs.contains(&"ref/state.json.lock".to_owned()),
        "released"
    );
    // The state works: the rerun adds nothing.
    let (code, _, stderr) = run(tributary().envs(env()).args(["-q", "run"]).arg(&reference));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(az.committed("ref"), truth);

    // Killed at commit steps (the lock left behind by the dead run is taken over), then rerun.
    let cases: &[&[&str]] = &[
        &["lock.acquired"],
        &["writer.prepared"],
        &["runtime.pending_written"],
        &["commit.rename:1"],
        &["commit.manifest"],
        &["runtime.committed"],
        &["state.stored:2"],
        &["runtime.pending_written", "rollforward.done"],
    ];
    for (i, points) in cases.iter().enumerate() {
        let case = points.join(" then ");
        let prefix = format!("crash{i}");
        let file = pipeline(dir.path(), &emu, &az.endpoint, &prefix, 500);
        for point in *points {
            let out = tributary()
                .envs(env())
                .env("TRIBUTARY_CRASH_AT", point)
                .args(["-q", "run"])
                .arg(&file)
                .output()
                .unwrap();
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&out.status),
                Some(9),
                "{case}: killed at {point}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (code, _, stderr) = run(tributary().envs(env()).args(["-q", "run"]).arg(&file));
        assert_eq!(code, 0, "{case}: the rerun succeeds:\n{stderr}");
        assert_eq!(az.committed(&prefix), truth, "{case}: exactly once");
    }

    // A live run's lock refuses a second run.
    let slow = pipeline(dir.path(), &emu, &az.endpoint, "busy", 2);
    let first = tributary()
        .envs(env())
        .args(["-q", "run"])
        .arg(&slow)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !az.blobs().contains(&"busy/state.json.lock".to_owned()) {
        assert!(
            Instant::now() < deadline,
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, _, stderr) = run(tributary().envs(env()).args(["-q", "run"]).arg(&slow));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("another run holds the state az://lake/busy/state.json"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Errors from a real Azure Blob server, for people: a wrong account key is "access denied"
/// with the URL and where credentials come from (never the key), a missing container is named.
#[test]
fn azurite_errors_say_access_denied_or_missing_container_without_the_key() {
    let az = Azurite::start();
    az.call(&["mk"]);
    let dir = tempfile::tempdir().unwrap();
    // Valid base64, wrong key.
    const WRONG: &str = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc=";
    let file = pipeline(dir.path(), "embedded", &az.endpoint, "denied", 500);
    let (code, stdout, stderr) = run(tributary()
        .env("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
        .env("AZURE_STORAGE_ACCOUNT_KEY", WRONG)
        .args(["-vv", "run"])
        .arg(&file));
    assert_eq!(code, 1, "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(error.contains("access denied"), "{error}");
    assert!(error.contains(&az.endpoint), "{error}");
    assert!(error.contains("AZURE_STORAGE_ACCOUNT_KEY"), "{error}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(WRONG) && !text.contains(KEY), "a key leaked");
    }

    let missing = fs::read_to_string(&file).unwrap().replace(
        "az://lake/denied/state.json",
        "az://nolake/denied/state.json",
    );
    let missing_file = dir.path().join("missing.toml");
    fs::write(&missing_file, missing).unwrap();
    let (code, _, stderr) = run(tributary().envs(env()).args(["run"]).arg(&missing_file));
    assert_eq!(code, 1, "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        error.contains("az://nolake/denied/state.json.lock")
            && error.contains("the bucket does not exist"),
        "{error}"
    );
}
