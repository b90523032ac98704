"""deploy/airflow/conversations_dag.py in a real Airflow: loads cleanly, maps one task per shard,
and tributary's exit codes decide retries (2: fail at once, 1: retried) under Airflow's own
task runner (`dag.test()`), with a fake tributary on PATH."""

from __future__ import annotations

import subprocess
import sys
import warnings
from datetime import timedelta

import pytest
from conftest import DEPLOY, assert_token_only_in_env

DAG_FILE = DEPLOY / "airflow" / "conversations_dag.py"
DAG_ID = "conversations_hourly"
SHARDS = 8


@pytest.fixture(scope="module")
def airflow_db():
    """A fresh SQLite metadata database (dag.test() records its runs there; ~5 s)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
    )


def load_dagbag():
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=DAG_FILE)
    return bag, caught


def test_dag_loads_without_import_errors_or_warnings():
    bag, caught = load_dagbag()
    assert bag.import_errors == {}
    # DagBag records every warning the file's import raised (deprecated imports included).
    assert bag.captured_warnings == {}
    deprecations = [
        w
        for w in caught
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning))
        or "deprecat" in str(w.message).lower()
    ]
    assert deprecations == [], [f"{w.filename}:{w.lineno}: {w.message}" for w in deprecations]
    assert list(bag.dags) == [DAG_ID]
    dag = bag.dags[DAG_ID]
    assert sorted(dag.task_ids) == ["extract", "validate"]
    assert dag.get_task("extract").upstream_task_ids == {"validate"}


def test_extract_is_mapped_and_retries_only_runtime_failures_by_config():
    bag, _ = load_dagbag()
    dag = bag.dags[DAG_ID]
    extract = dag.get_task("extract")
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(extract, MappedOperator)
    assert extract.partial_kwargs["retries"] >= 1
    assert dag.get_task("validate").retries == 0


def run_dag_test(dag):
    """dag.test() with the retry delays shortened: the policy under test is which failures are
    retried, not how long Airflow waits between tries (minutes in the file)."""
    extract = dag.get_task("extract")
    extract.partial_kwargs["retry_delay"] = timedelta(0)
    extract.partial_kwargs["retry_exponential_backoff"] = 0
    dr = dag.test(logical_date=None)
    return dr, {(ti.task_id, ti.map_index): ti for ti in dr.get_task_instances()}


def test_exit_2_fails_the_shard_at_once_and_exit_1_is_retried(airflow_db, fake_tributary):
    fake_tributary.set_exits(
        {
            "validate": [0],
            f"0/{SHARDS}": [1],  # runtime failure every time: every retry is used
            f"1/{SHARDS}": [2],  # pipeline error: no retry
            f"2/{SHARDS}": [1, 0],  # runtime failure once, then success on the retry
        }
    )
    bag, _ = load_dagbag()
    dag = bag.dags[DAG_ID]
    retries = dag.get_task("extract").partial_kwargs["retries"]
    dr, tis = run_dag_test(dag)

    assert tis[("validate", -1)].state == "success"
    shards = {k: tis[("extract", k)] for k in range(SHARDS)}
    assert len([ti for (task_id, _), ti in tis.items() if task_id == "extract"]) == SHARDS
    assert len(fake_tributary.calls(f"0/{SHARDS}")) == 1 + retries
    assert (shards[0].state, shards[0].try_number) == ("failed", 1 + retries)
    assert len(fake_tributary.calls(f"1/{SHARDS}")) == 1
    assert (shards[1].state, shards[1].try_number) == ("failed", 1)
    assert len(fake_tributary.calls(f"2/{SHARDS}")) == 2
    assert (shards[2].state, shards[2].try_number) == ("success", 2)
    for k in range(3, SHARDS):
        assert (shards[k].state, shards[k].try_number) == ("success", 1), k
        assert len(fake_tributary.calls(f"{k}/{SHARDS}")) == 1
    assert dr.state == "failed"
    # Every shard ran the same pipeline with its own --shard and its own report file.
    runs = [c["argv"] for c in fake_tributary.calls() if c["key"] != "validate"]
    assert {a[a.index("--shard") + 1] for a in runs} == {f"{k}/{SHARDS}" for k in range(SHARDS)}
    assert all(a[:3] == ["--log-format", "json", "run"] for a in runs)
    assert_token_only_in_env(fake_tributary.calls())


def test_pipeline_error_in_validate_stops_the_run_before_any_shard(airflow_db, fake_tributary):
    fake_tributary.set_exits({"validate": [2]})
    bag, _ = load_dagbag()
    dr, tis = run_dag_test(bag.dags[DAG_ID])
    assert tis[("validate", -1)].state == "failed"
    assert tis[("validate", -1)].try_number == 1
    assert len(fake_tributary.calls("validate")) == 1
    assert [c for c in fake_tributary.calls() if c["key"] != "validate"] == []
    assert dr.state == "failed"


def test_real_tributary_shards_together_write_what_one_run_writes(
    airflow_db, emulator_pipeline, monkeypatch
):
    """The real binary on the embedded emulator, 3 shards: every mapped task succeeds, their
    reports (the tasks' XCom) add up to an unsharded run, and the files carry their shard.
    (3, because the emulator's 4 Pages all hash to one shard of 2 or of 4.)"""
    from airflow.models.xcom import XComModel

    monkeypatch.setenv("TRIBUTARY_PIPELINE", str(emulator_pipeline.path))
    monkeypatch.setenv("TRIBUTARY_SHARDS", "3")
    bag, _ = load_dagbag()
    dr, tis = run_dag_test(bag.dags[DAG_ID])
    assert dr.state == "success", {k: ti.state for k, ti in tis.items()}
    assert sorted(k for k in tis if k[0] == "extract") == [("extract", k) for k in range(3)]
    from airflow.utils.session import create_session

    rows = 0
    with create_session() as session:
        for k in range(3):
            query = XComModel.get_many(
                run_id=dr.run_id, key="return_value", dag_ids=DAG_ID, task_ids="extract",
                map_indexes=k,
            )
            (xcom,) = session.scalars(query).all()
            (sink,) = XComModel.deserialize_value(xcom)
            assert sink["report"]["rows"] > 0, f"shard {k}/3 wrote nothing"
            rows += sink["report"]["rows"]
    assert rows == emulator_pipeline.rows_unsharded
    names = {p.name for p in emulator_pipeline.out.rglob("*.parquet")}
    for k in range(3):
        assert any(f"-s{k}of3-" in n for n in names), names
