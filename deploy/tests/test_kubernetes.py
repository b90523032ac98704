"""deploy/kubernetes/*.yaml against Kubernetes' own OpenAPI schemas (`kubernetes-validate
--strict`: unknown fields are errors), plus the facts a schema cannot check: the Job's shard
count matches its completions, exit code 2 fails an index without retries, and the pipeline in
the ConfigMap is one that tributary accepts."""

import subprocess
import sys

import pytest
import yaml
from conftest import DEPLOY

MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
# The newest schema kubernetes-validate ships; pinned so a new release is a visible change.
KUBERNETES_VERSION = "1.37"


def kubernetes_validate(path):
    return subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict",
         "--kubernetes-version", KUBERNETES_VERSION, str(path)],
        capture_output=True,
        text=True,
    )


def test_there_are_manifests():
    assert MANIFESTS, "deploy/kubernetes has no *.yaml"


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_strictly(manifest):
    result = kubernetes_validate(manifest)
    assert result.returncode == 0, result.stdout + result.stderr
    documents = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    # One "passed" line per resource: a document the validator skipped would not count.
    assert result.stdout.count("passed for resource") == len(documents), result.stdout


def test_strict_validation_rejects_an_unknown_field(tmp_path):
    """The validator in use is strict: a misspelt field in a copy of the Job fails."""
    text = (DEPLOY / "kubernetes" / "indexed-job.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("completionMode: Indexed", "completionsMode: Indexed"))
    assert kubernetes_validate(broken).returncode != 0


def job_and_configmap():
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "indexed-job.yaml").read_text()))
    job = next(d for d in documents if d["kind"] == "Job")
    configmap = next(d for d in documents if d["kind"] == "ConfigMap")
    return job, configmap


def test_job_runs_one_shard_per_completion_index():
    job, _ = job_and_configmap()
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    (container,) = spec["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--shards") + 1] == str(spec["completions"])
    assert "--shard" not in args  # the index comes from JOB_COMPLETION_INDEX


def test_exit_2_fails_the_index_without_retries():
    job, _ = job_and_configmap()
    spec = job["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert spec["backoffLimitPerIndex"] >= 1  # exit 1 is retried, per shard
    rules = spec["podFailurePolicy"]["rules"]
    fail_index = [r for r in rules if r["action"] == "FailIndex"]
    assert fail_index == [
        {"action": "FailIndex",
         "onExitCodes": {"containerName": container["name"], "operator": "In", "values": [2]}}
    ]


def test_secrets_come_from_a_secret_not_the_manifest():
    job, configmap = job_and_configmap()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    for name in ("FB_PAGE_TOKEN", "FB_APP_SECRET"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
    pipeline = configmap["data"]["conversations.toml"]
    assert 'access_token = "${FB_PAGE_TOKEN}"' in pipeline


def test_configmap_pipeline_is_valid_for_tributary(tributary_bin, tmp_path):
    """The pipeline in the ConfigMap, written where the pod mounts it, passes `tributary validate`."""
    _, configmap = job_and_configmap()
    etc = tmp_path / "etc" / "tributary"
    etc.mkdir(parents=True)
    for name, text in configmap["data"].items():
        (etc / name).write_text(text.replace("/etc/tributary/", f"{etc}/"))
    result = subprocess.run(
        [str(tributary_bin), "validate", str(etc / "conversations.toml")],
        capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "FB_PAGE_TOKEN": "dummy"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
