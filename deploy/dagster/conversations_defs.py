"""Sharded tributary runs as Dagster definitions: one partition of one asset per shard.

The asset `graph_conversations` is partitioned by shard ("0" .. "N-1"); materializing a partition
runs `tributary run ... --shard K/N`, a stable hash share of the Pages, so the N partitions
together cover every Page exactly once and write collision-free files to one prefix. The hourly
schedule requests one run per shard; each shard's status, history and retries are its own.

Exit codes decide retries. tributary exits 0 (success), 1 (runtime failure: the Graph API or the
store failed, a retry can succeed) or 2 (usage or pipeline-file error: the same run fails the same
way until someone fixes the file). Exit 1 is retried by the asset's RetryPolicy (with
`mode = "incremental"` and a `state`, the retry fetches only what that shard has not committed
yet); exit 2 raises `Failure(allow_retries=False)`, which skips the policy.

Secrets: FB_PAGE_TOKEN (and AWS credentials) come from the code location's environment (e.g. a
Kubernetes Secret or your deployment's secret store); tributary inherits it, so no token is ever
on a command line or in run metadata.

Load it with `dagster dev -f conversations_defs.py` or `dagster definitions validate -f ...`.
TRIBUTARY_PIPELINE and TRIBUTARY_SHARDS override the defaults below.
Tested with Dagster 1.13 (deploy/tests/test_dagster.py).
"""

import json
import os
import subprocess
import tempfile

import dagster as dg

PIPELINE = os.environ.get("TRIBUTARY_PIPELINE", "/opt/tributary/pipelines/conversations.toml")
SHARDS = int(os.environ.get("TRIBUTARY_SHARDS", "8"))
# tributary's exit code for a usage or pipeline-file error: retrying cannot fix it.
EXIT_PIPELINE_ERROR = 2

shard_partitions = dg.StaticPartitionsDefinition([str(k) for k in range(SHARDS)])


@dg.asset(
    partitions_def=shard_partitions,
    # Runtime failures (exit 1): 3 retries after 2, 4, 8 minutes; Graph rate limits recover in
    # minutes, and each retry only fetches what the shard has not committed yet.
    retry_policy=dg.RetryPolicy(max_retries=3, delay=120, backoff=dg.Backoff.EXPONENTIAL),
    group_name="graph_api",
    kinds={"parquet"},
    description="Page and Instagram conversations, one partition per tributary shard",
)
def graph_conversations(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    shard = f"{context.partition_key}/{SHARDS}"
    with tempfile.TemporaryDirectory(prefix="tributary-") as tmp:
        report = os.path.join(tmp, "report.json")
        code = subprocess.run(
            ["tributary", "--log-format", "json", "run", PIPELINE, "--shard", shard,
             "--report", report],
            check=False,
        ).returncode
        if code == EXIT_PIPELINE_ERROR:
            raise dg.Failure(
                description=f"tributary exited {code}: usage or pipeline-file error in "
                f"{PIPELINE}; fix the file (`tributary validate`), retrying would fail the same way",
                allow_retries=False,
            )
        if code != 0:
            raise dg.Failure(
                description=f"tributary exited {code} on shard {shard}: runtime failure, retried",
                allow_retries=True,
            )
        with open(report, encoding="utf-8") as f:
            sinks = json.load(f)["sinks"]
    return dg.MaterializeResult(
        metadata={
            "shard": shard,
            "rows": sum(s["report"]["rows"] for s in sinks),
            "files": sum(s["report"]["files"] for s in sinks),
            "bytes": sum(s["report"]["bytes"] for s in sinks),
            "locations": [s["report"]["location"] for s in sinks if s["report"]["location"]],
        }
    )


# Partitioned by shard like the asset it selects.
conversations_job = dg.define_asset_job("conversations_hourly", selection=[graph_conversations])


@dg.schedule(cron_schedule="0 * * * *", job=conversations_job, execution_timezone="UTC")
def conversations_hourly_schedule(context: dg.ScheduleEvaluationContext):
    """One run per shard each hour. A shard still running from the previous hour keeps its state
    file locked; limit runs per shard with the run queue's tag concurrency if runs can overlap."""
    hour = context.scheduled_execution_time.strftime("%Y-%m-%dT%H")
    for key in shard_partitions.get_partition_keys():
        yield dg.RunRequest(run_key=f"{hour}-shard-{key}", partition_key=key)


defs = dg.Definitions(
    assets=[graph_conversations],
    jobs=[conversations_job],
    schedules=[conversations_hourly_schedule],
)
