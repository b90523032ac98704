"""Sharded tributary runs as an Airflow DAG with dynamic task mapping (Airflow 3).

`validate` checks the pipeline file once; `extract` is mapped to one task per shard, each running
`tributary run ... --shard K/N`: a stable hash share of the Pages, so the N tasks together cover
every Page exactly once and write collision-free files to one prefix.

Exit codes decide retries. tributary exits 0 (success), 1 (runtime failure: the Graph API or the
store failed, a retry can succeed) or 2 (usage or pipeline-file error: the same run fails the same
way until someone fixes the file). Exit 1 is retried (with `mode = "incremental"` and a `state`,
the retry fetches only what that shard has not committed yet); exit 2 fails the task at once
(AirflowFailException skips the remaining retries).

Secrets: FB_PAGE_TOKEN (and AWS credentials) come from the worker's environment or a secrets
backend that exports them; the task passes its environment to tributary, so no token is ever on
a command line, in a rendered template or in XCom.

Copy this file into your DAGs folder. TRIBUTARY_PIPELINE and TRIBUTARY_SHARDS (read where the DAG
is parsed and where it runs, so set them on both) override the defaults below.
Tested with Airflow 3.3 (deploy/tests/test_airflow.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

PIPELINE = os.environ.get("TRIBUTARY_PIPELINE", "/opt/tributary/pipelines/conversations.toml")
SHARDS = int(os.environ.get("TRIBUTARY_SHARDS", "8"))
# tributary's exit code for a usage or pipeline-file error: retrying cannot fix it.
EXIT_PIPELINE_ERROR = 2


def run_tributary(*args: str) -> None:
    """Runs tributary with the worker's environment; its logs go to the task log."""
    code = subprocess.run(["tributary", *args], check=False).returncode
    if code == EXIT_PIPELINE_ERROR:
        raise AirflowFailException(
            f"tributary exited {code}: usage or pipeline-file error in {PIPELINE}; "
            "fix the file (`tributary validate`), retrying would fail the same way"
        )
    if code != 0:
        # Runtime failure (exit 1, or killed): Airflow retries the task.
        raise AirflowException(f"tributary exited {code}: runtime failure, see the log above")


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one run at a time per state file (tributary also locks it)
    tags=["tributary", "graph-api"],
)
def conversations_hourly():
    @task(retries=0)  # validation is deterministic: exit 2 or success, nothing to retry
    def validate() -> list[str]:
        run_tributary("validate", PIPELINE)
        return [f"{k}/{SHARDS}" for k in range(SHARDS)]

    @task(
        retries=3,
        retry_delay=timedelta(minutes=2),
        retry_exponential_backoff=2.0,  # 2, 4, 8 minutes: Graph rate limits recover in minutes
        map_index_template="{{ shard }}",  # the UI lists "3/8" instead of a bare map index
    )
    def extract(shard: str) -> list[dict]:
        """One shard; returns its sinks' rows, files, bytes and location (small, for XCom)."""
        get_current_context()["shard"] = shard  # type: ignore[typeddict-unknown-key]
        with tempfile.TemporaryDirectory(prefix="tributary-") as tmp:
            report = os.path.join(tmp, "report.json")
            run_tributary(
                "--log-format", "json", "run", PIPELINE, "--shard", shard, "--report", report
            )
            with open(report, encoding="utf-8") as f:
                return json.load(f)["sinks"]

    extract.expand(shard=validate())


conversations_hourly()
