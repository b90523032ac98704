"""Conversations to Parquet with Meta's official Python SDK (facebook-business) and pyarrow,
written the way a data engineer would write it: one Page at a time, every platform and folder,
iterate the SDK's conversations cursor, collect rows, write one zstd Parquet file.

Throttles (codes 4, 17, 32, 613, 80006) are retried after a sleep that doubles each time, the
usual hand-written loop around the cursor; every other error ends the script.

Usage: sdk_to_parquet.py --base-url URL --token TOKEN --pages ID[,ID...] --out FILE.parquet
       [--limit 100] [--messages 20]
Prints one JSON line: threads, api_calls (pages fetched), throttles, seconds.
"""

import argparse
import json
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
from facebook_business.adobjects.page import Page
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

PLATFORMS = ["MESSENGER", "INSTAGRAM"]
FOLDERS = ["inbox", "other", "page_done", "spam"]
THROTTLE_CODES = {4, 17, 32, 613, 80006}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--pages", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--api-version", default="v25.0")
    args = ap.parse_args()

    # The SDK hard-codes https://graph.facebook.com as FacebookSession.GRAPH; point it at the
    # emulator before the session is created.
    FacebookSession.GRAPH = args.base_url
    FacebookAdsApi.init(access_token=args.token, api_version=args.api_version)

    fields = [
        "id", "updated_time", "snippet", "message_count", "unread_count", "participants",
        f"messages.limit({args.messages}){{id,created_time,from,to,message}}",
    ]
    rows, throttles = [], 0

    def with_backoff(call):
        # The usual wrapper: retry throttled calls after 1, 2, 4, ... s (at most 60 s).
        nonlocal throttles
        backoff = 1.0
        while True:
            try:
                return call()
            except FacebookRequestError as e:
                if e.api_error_code() not in THROTTLE_CODES:
                    raise
                throttles += 1
                time.sleep(backoff)
                backoff = min(backoff * 2, 60)

    t0 = time.perf_counter()
    for page_id in args.pages.split(","):
        for platform in PLATFORMS:
            for folder in FOLDERS:
                # get_conversations() already fetches the first page; next() fetches the others.
                cursor = with_backoff(lambda: Page(page_id).get_conversations(
                    fields=fields,
                    params={"platform": platform, "folder": folder, "limit": args.limit},
                ))
                while (conversation := with_backoff(lambda: next(cursor, None))) is not None:
                    c = conversation.export_all_data()
                    rows.append({
                        "page_id": page_id,
                        "platform": platform.lower(),
                        "folder": folder,
                        "id": c["id"],
                        "updated_time": c.get("updated_time"),
                        "snippet": c.get("snippet"),
                        "message_count": c.get("message_count"),
                        "unread_count": c.get("unread_count"),
                        "participants": (c.get("participants") or {}).get("data"),
                        "messages": (c.get("messages") or {}).get("data"),
                    })
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, args.out, compression="zstd")
    print(json.dumps({"threads": len(rows), "throttles": throttles,
                      "seconds": round(time.perf_counter() - t0, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
