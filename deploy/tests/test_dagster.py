"""deploy/dagster/conversations_defs.py in a real Dagster: Dagster's own loader accepts it, the
schedule requests one run per shard, and tributary's exit codes decide retries (2: fail at once,
1: retried) under Dagster's executor, with a fake tributary on PATH."""

import importlib.util
import subprocess
import sys
import warnings
from datetime import datetime, timezone

import pytest
from conftest import DEPLOY, assert_token_only_in_env

DEFS_FILE = DEPLOY / "dagster" / "conversations_defs.py"
SHARDS = 8


def load_module():
    spec = importlib.util.spec_from_file_location("conversations_defs", DEFS_FILE)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec.loader.exec_module(module)
    return module, caught


def test_dagster_definitions_loader_accepts_the_file(tmp_path):
    # The command Dagster documents for CI; it loads the file as a code location.
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-f", str(DEFS_FILE)],
        cwd=tmp_path,  # it creates a temporary DAGSTER_HOME in the working directory
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_definitions_import_without_warnings_and_partition_per_shard():
    module, caught = load_module()
    assert [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught] == []
    defs = module.defs
    asset = defs.resolve_assets_def("graph_conversations")
    assert asset.partitions_def.get_partition_keys() == [str(k) for k in range(SHARDS)]
    assert asset.op.retry_policy.max_retries >= 1
    assert defs.resolve_job_def("conversations_hourly") is not None


def test_schedule_requests_one_run_per_shard():
    import dagster as dg

    module, _ = load_module()
    schedule = module.defs.resolve_schedule_def("conversations_hourly_schedule")
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 29, 6, tzinfo=timezone.utc),
        repository_def=module.defs.get_repository_def(),
    )
    requests = list(schedule.evaluate_tick(context).run_requests)
    assert sorted(r.partition_key for r in requests) == sorted(str(k) for k in range(SHARDS))
    assert len({r.run_key for r in requests}) == SHARDS


@pytest.fixture
def asset_without_retry_delay():
    """The asset with its retry policy's delays removed: the policy under test is which failures
    are retried, not how long Dagster waits between tries (minutes in the file)."""
    import dagster as dg

    module, _ = load_module()
    asset = module.graph_conversations
    policy = asset.op.retry_policy
    asset.op._retry_policy = dg.RetryPolicy(max_retries=policy.max_retries)
    return asset, policy.max_retries


def materialize(asset, shard):
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [asset], partition_key=str(shard), instance=instance, raise_on_error=False
        )
        step_events = result.all_node_events
        return result, step_events


@pytest.mark.parametrize(
    "exits, attempts, success",
    [
        pytest.param([2], 1, False, id="exit-2-pipeline-error-not-retried"),
        pytest.param([1], None, False, id="exit-1-runtime-failure-retried-until-exhausted"),
        pytest.param([1, 0], 2, True, id="exit-1-then-success-on-retry"),
        pytest.param([0], 1, True, id="exit-0-one-attempt"),
    ],
)
def test_exit_codes_decide_retries(fake_tributary, asset_without_retry_delay, exits, attempts, success):
    asset, max_retries = asset_without_retry_delay
    shard = 3
    fake_tributary.set_exits({f"{shard}/{SHARDS}": exits})
    result, events = materialize(asset, shard)
    expected = attempts if attempts is not None else 1 + max_retries
    calls = fake_tributary.calls(f"{shard}/{SHARDS}")
    assert len(calls) == expected
    assert result.success is success
    retries = [e for e in events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == expected - 1
    if success:
        (mat,) = result.asset_materializations_for_node("graph_conversations")
        assert mat.partition == str(shard)
        assert mat.metadata["rows"].value == 10
    assert calls[0]["argv"][:3] == ["--log-format", "json", "run"]
    assert_token_only_in_env(calls)


def test_real_tributary_partitions_together_write_what_one_run_writes(
    emulator_pipeline, monkeypatch
):
    """The real binary on the embedded emulator, 3 shards as 3 partitions: each materializes rows
    and together they add up to an unsharded run (3: the emulator's 4 Pages all hash to one shard
    of 2 or of 4)."""
    monkeypatch.setenv("TRIBUTARY_PIPELINE", str(emulator_pipeline.path))
    monkeypatch.setenv("TRIBUTARY_SHARDS", "3")
    module, _ = load_module()
    asset = module.defs.resolve_assets_def("graph_conversations")
    assert asset.partitions_def.get_partition_keys() == ["0", "1", "2"]
    rows = 0
    for shard in ("0", "1", "2"):
        result, _ = materialize(asset, shard)
        assert result.success
        (mat,) = result.asset_materializations_for_node("graph_conversations")
        assert mat.metadata["shard"].value == f"{shard}/3"
        assert mat.metadata["rows"].value > 0, f"shard {shard}/3 wrote nothing"
        rows += mat.metadata["rows"].value
    assert rows == emulator_pipeline.rows_unsharded
