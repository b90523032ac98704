"""Sharded tributary runs as an Airflow DAG with dynamic task mapping (Airflow >= 2.3).

Each mapped task runs `tributary run ... --shard K/N`: a stable hash share of the Pages, so the
N tasks together cover every Page exactly once and write collision-free files to one prefix.
FB_PAGE_TOKEN (and AWS credentials) come from the worker's environment or a secrets backend.
A failed shard is retried on its own; with `mode = "incremental"` and a `state`, the retry
fetches only what that shard has not committed yet. tributary exits 0 (success), 1 (runtime
failure: retry) or 2 (pipeline error: fix the file, do not retry).
"""

from __future__ import annotations

import pendulum
from airflow.decorators import dag, task
from airflow.operators.bash import BashOperator

SHARDS = 8
PIPELINE = "/opt/tributary/pipelines/conversations.toml"


@dag(
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one run at a time per state file (tributary also locks it)
    tags=["tributary", "graph-api"],
)
def conversations_hourly():
    @task
    def validate() -> list[str]:
        import subprocess

        subprocess.run(["tributary", "validate", PIPELINE], check=True)
        return [f"{k}/{SHARDS}" for k in range(SHARDS)]

    BashOperator.partial(
        task_id="extract",
        bash_command=f"tributary --log-format json run {PIPELINE} --shard $SHARD --report /tmp/report-$RANDOM.json",
        append_env=True,  # keep PATH and AWS_* from the worker
        retries=3,
        retry_exponential_backoff=True,
    ).expand(env=validate().map(lambda shard: {"SHARD": shard}))


conversations_hourly()
