"""Conversations to Parquet with dlt's declarative `rest_api` source and its `filesystem`
destination, written the way the dlt docs show it: one resource per (page, platform, folder),
a `json_link` paginator on `paging.next`, `data_selector: data`, bearer-token auth, and
`loader_file_format="parquet"`. dlt's defaults are kept (nested lists become child tables,
one normalize worker, its own retry policy: 429/5xx and connection errors only).

Usage: dlt_rest_api.py --base-url URL --token TOKEN --pages ID[,ID...] --out DIR
       [--limit 100] [--messages 20] [--work DIR]
Prints one JSON line: threads (rows of the conversations table), seconds.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402

PLATFORMS = ["messenger", "instagram"]
FOLDERS = ["inbox", "other", "page_done", "spam"]


def tagger(page_id, platform, folder):
    def add(row):
        row["page_id"], row["platform"], row["folder"] = page_id, platform, folder
        return row
    return add


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--pages", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default=None, help="dlt pipelines_dir (default: OUT/.dlt)")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--api-version", default="v25.0")
    args = ap.parse_args()

    # rest_api treats `{...}` in params as a placeholder; doubled braces are literal.
    fields = ("id,updated_time,snippet,message_count,unread_count,participants,"
              f"messages.limit({args.messages}){{{{id,created_time,from,to,message}}}}")
    resources = []
    for page_id in args.pages.split(","):
        for platform in PLATFORMS:
            for folder in FOLDERS:
                resources.append({
                    "name": f"c_{page_id}_{platform}_{folder}",
                    "table_name": "conversations",
                    "endpoint": {
                        "path": f"{args.api_version}/{page_id}/conversations",
                        "params": {"platform": platform, "folder": folder,
                                   "fields": fields, "limit": args.limit},
                        "data_selector": "data",
                        "paginator": {"type": "json_link", "next_url_path": "paging.next"},
                    },
                    "processing_steps": [{"map": tagger(page_id, platform, folder)}],
                })
    source = rest_api_source({
        "client": {
            "base_url": args.base_url.rstrip("/") + "/",
            "auth": {"type": "bearer", "token": args.token},
        },
        "resource_defaults": {"write_disposition": "append"},
        "resources": resources,
    })
    pipeline = dlt.pipeline(
        pipeline_name="graph_conversations_bench",
        pipelines_dir=args.work or os.path.join(args.out, ".dlt"),
        destination=dlt.destinations.filesystem(bucket_url=os.path.abspath(args.out)),
        dataset_name="graph",
    )
    t0 = time.perf_counter()
    info = pipeline.run(source, loader_file_format="parquet")
    seconds = time.perf_counter() - t0
    threads = pipeline.last_trace.last_normalize_info.row_counts.get("conversations", 0)
    info.raise_on_failed_jobs()
    print(json.dumps({"threads": threads, "seconds": round(seconds, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
