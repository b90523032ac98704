"""deploy/Dockerfile: hadolint finds nothing, the stages reference each other, and the runtime
stage is the small, non-root, stripped-binary image the README promises. No Docker daemon or
registry is needed (none is reachable in CI), so the image build itself is not run here."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or "hadolint"


def hadolint(path):
    # Default failure threshold: any finding, down to "info", fails.
    return subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True, text=True)


def test_hadolint_finds_nothing():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_live(tmp_path):
    """The linter really lints: a Dockerfile with known mistakes fails."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\nUSER nonroot\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def instructions():
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    return [tuple(l.split(None, 1)) for l in lines]


def stages():
    """[(base, name, [instructions])] in order."""
    result = []
    for ins, args in instructions():
        if ins.upper() == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            result.append((m.group(1), m.group(2), []))
        else:
            result[-1][2].append((ins.upper(), args))
    return result


def test_multi_stage_references_resolve():
    all_stages = stages()
    assert len(all_stages) >= 2
    names = [name for _, name, _ in all_stages]
    for i, (_, _, body) in enumerate(all_stages):
        for ins, args in body:
            m = re.search(r"--from=(\S+)", args) if ins == "COPY" else None
            if m:
                assert m.group(1) in names[:i], f"COPY --from={m.group(1)} is not an earlier stage"


def test_runtime_stage_is_small_non_root_and_smoke_tested():
    base, _, body = stages()[-1]
    assert re.match(r"gcr\.io/distroless/|.*-slim", base), base
    users = [args for ins, args in body if ins == "USER"]
    assert users, "runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]}: numeric and not root"
    (copy,) = [args for ins, args in body if ins == "COPY"]
    binary = copy.split()[-1]
    assert f'ENTRYPOINT ["{binary}"]' in [f"{i} {a}" for i, a in body]
    # Exec form: distroless has no shell to run a shell-form RUN.
    assert ("RUN", f'["{binary}", "--version"]') in body
    assert not [i for i, a in body if i == "RUN" and not a.startswith("[")], "shell-form RUN"


def test_build_stage_builds_the_stripped_locked_release_binary():
    _, _, body = stages()[0]
    (build,) = [a for i, a in body if i == "RUN" and "cargo build" in a]
    assert re.search(r"cargo build --release --locked -p tributary\b", build)
    # Stripped: by the workspace's release profile or by this build's override.
    profile = tomllib.loads((ROOT / "Cargo.toml").read_text()).get("profile", {}).get("release", {})
    assert profile.get("strip") in ("symbols", True) or "CARGO_PROFILE_RELEASE_STRIP=symbols" in build
    assert "tributary --version" in build


def test_build_context_leaves_out_build_outputs_and_venvs():
    ignored = {l.strip() for l in DOCKERIGNORE.read_text().splitlines() if l and not l.startswith("#")}
    assert {"target", ".venv", ".git"} <= ignored
    # ...but keeps everything `cargo build --locked` needs.
    assert not ignored & {"Cargo.lock", "Cargo.toml", "crates", ".cargo", "tests"}


def test_the_smoke_test_command_works_on_the_built_binary(tributary_bin):
    """`tributary --version` (the image's smoke test) prints the workspace version."""
    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    result = subprocess.run([str(tributary_bin), "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tributary {version}"
