"""Shared fixtures for the deploy/ tests: a fake `tributary` on PATH and the real binary.

The engines (Kubernetes' schemas, Airflow, Dagster, hadolint) are the real ones from
deploy/requirements.txt; only tributary itself is faked where a test needs a chosen exit code.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent
ROOT = DEPLOY.parent

# A token the fake receives through the environment: the tests check that it never reaches a
# command line (the examples must read secrets from the environment, not from arguments).
FAKE_TOKEN = "EAAB-fake-secret-token-never-in-argv"

FAKE = r'''#!{python}
"""Fake tributary: exits with the codes FAKE_TRIBUTARY_EXITS gives the command.

FAKE_TRIBUTARY_EXITS is JSON: {{"validate": [0], "0/8": [1, 0], ...}} keyed by the subcommand or
by the value of --shard; the n-th call of a key exits with the n-th code (the last one repeats).
Every call appends one JSON line (argv, whether FB_PAGE_TOKEN was set) to FAKE_TRIBUTARY_LOG.
"""
import json, os, sys

args = sys.argv[1:]
key = args[args.index("--shard") + 1] if "--shard" in args else next(
    a for a in args if not a.startswith("-") and a != "json")
log = os.environ["FAKE_TRIBUTARY_LOG"]
with open(log, "a+", encoding="utf-8") as f:
    f.seek(0)
    previous = sum(1 for line in f if json.loads(line)["key"] == key)
    f.write(json.dumps({{"key": key, "argv": args,
                        "token_in_env": os.environ.get("FB_PAGE_TOKEN") == {token!r}}}) + "\n")
codes = json.loads(os.environ.get("FAKE_TRIBUTARY_EXITS", "{{}}")).get(key, [0])
code = codes[min(previous, len(codes) - 1)]
if code == 0 and "--report" in args:
    with open(args[args.index("--report") + 1], "w", encoding="utf-8") as f:
        json.dump({{"sinks": [{{"id": "lake", "plugin": "parquet", "report": {{
            "rows": 10, "files": 1, "bytes": 100, "location": "s3://lake/" + key}}}}]}}, f)
print(f"fake tributary {{' '.join(args)}} -> exit {{code}}", file=sys.stderr)
sys.exit(code)
'''


@dataclass
class FakeTributary:
    """Handle on the fake: set exit codes, read back the calls it received."""

    log: Path

    def set_exits(self, exits: dict[str, list[int]]) -> None:
        os.environ["FAKE_TRIBUTARY_EXITS"] = json.dumps(exits)

    def calls(self, key: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c for c in calls if key is None or c["key"] == key]


@pytest.fixture
def fake_tributary(tmp_path, monkeypatch) -> FakeTributary:
    """Puts a fake `tributary` first on PATH (and FB_PAGE_TOKEN in the environment)."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    exe = bindir / "tributary"
    exe.write_text(FAKE.format(python=sys.executable, token=FAKE_TOKEN))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TRIBUTARY_LOG", str(log))
    monkeypatch.setenv("FB_PAGE_TOKEN", FAKE_TOKEN)
    monkeypatch.delenv("FAKE_TRIBUTARY_EXITS", raising=False)
    return FakeTributary(log)


def assert_token_only_in_env(calls: list[dict]) -> None:
    assert calls, "tributary was never called"
    for call in calls:
        assert call["token_in_env"], f"FB_PAGE_TOKEN did not reach tributary: {call}"
        assert FAKE_TOKEN not in shlex.join(call["argv"]), f"token on a command line: {call}"


@pytest.fixture(scope="session")
def tributary_bin() -> Path:
    """The real CLI cargo built (`make test` passes TRIBUTARY_BIN: the tests package's
    `tributary-cli`, which is tributary's main, built by `cargo nextest`).

    Skips when run by hand without TRIBUTARY_BIN; fails when TRIBUTARY_BIN names a missing file,
    so `make test` cannot skip it silently.
    """
    path = os.environ.get("TRIBUTARY_BIN")
    if not path:
        pytest.skip("TRIBUTARY_BIN not set (make test sets it to cargo's debug binary)")
    assert Path(path).is_file(), f"TRIBUTARY_BIN={path} does not exist: build it with cargo first"
    return Path(path)


def pytest_configure(config):
    """Airflow reads its configuration when first imported: point it at a throwaway home."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="tributary-airflow-home-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DEPLOY / "airflow")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
    # Dagster keeps run history in DAGSTER_HOME; the tests use an ephemeral instance instead.
    os.environ.pop("DAGSTER_HOME", None)


def pytest_unconfigure(config):
    import shutil

    shutil.rmtree(os.environ.get("AIRFLOW_HOME", ""), ignore_errors=True)


EMULATOR_PIPELINE = """
[pipeline]
name = "deploy-test"

[sources.pages]
type         = "graph_conversations"
base_url     = "embedded"     # the deterministic Graph emulator, in-process: same data per run
pages        = ["104857600000001", "104857600000002", "104857600000003", "104857600000004"]
access_token = "${FB_PAGE_TOKEN}"
messages     = { max = 5 }
requests_per_second_per_page = 50

[sinks.lake]
type         = "parquet"
inputs       = ["pages"]
path         = "OUT"
partition_by = ["platform", "folder"]
"""


@dataclass
class EmulatorPipeline:
    path: Path
    out: Path
    rows_unsharded: int


@pytest.fixture
def emulator_pipeline(tributary_bin, tmp_path, monkeypatch) -> EmulatorPipeline:
    """A pipeline on the embedded emulator, the real binary first on PATH as `tributary`, and the
    row count of one unsharded run to compare the shards' sum with."""
    out = tmp_path / "lake"
    path = tmp_path / "pipeline.toml"
    path.write_text(EMULATOR_PIPELINE.replace("OUT", str(out)))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "tributary").symlink_to(tributary_bin)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FB_PAGE_TOKEN", "demo-token")  # the token the embedded emulator grants
    report = tmp_path / "unsharded.json"
    unsharded = _unsharded_copy(path, tmp_path)
    subprocess.run(
        [str(tributary_bin), "-q", "run", str(unsharded), "--report", str(report)], check=True
    )
    rows = sum(s["report"]["rows"] for s in json.loads(report.read_text())["sinks"])
    assert rows > 0
    return EmulatorPipeline(path, out, rows)


def _unsharded_copy(path: Path, tmp_path: Path) -> Path:
    """The same pipeline writing elsewhere, so the shards' output directory starts empty."""
    copy = tmp_path / "unsharded.toml"
    copy.write_text(path.read_text().replace(str(tmp_path / "lake"), str(tmp_path / "unsharded")))
    return copy
