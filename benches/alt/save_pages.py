"""Saves every Graph list page of the given Pages (all platforms and folders) as a file,
following `paging.next`: `{page_id}__{platform}__{folder}__{n:05}.json`, body byte-exact.
The input of S4 (DuckDB `read_json` and tributary's json2parquet read these files).

Usage: save_pages.py --base-url URL --token TOKEN --pages ID[,ID...] --out DIR
       [--limit 100] [--messages 20]
"""

import argparse
import json
import os
import sys
import urllib.parse
import urllib.request

PLATFORMS = ["messenger", "instagram"]
FOLDERS = ["inbox", "other", "page_done", "spam"]


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
    os.makedirs(args.out, exist_ok=True)
    fields = ("id,updated_time,snippet,message_count,unread_count,participants,"
              f"messages.limit({args.messages}){{id,created_time,from,to,message}}")
    files = threads = 0
    for page_id in args.pages.split(","):
        for platform in PLATFORMS:
            for folder in FOLDERS:
                query = urllib.parse.urlencode({
                    "platform": platform, "folder": folder, "fields": fields,
                    "limit": args.limit, "access_token": args.token})
                url = f"{args.base_url.rstrip('/')}/{args.api_version}/{page_id}/conversations?{query}"
                n = 0
                while url:
                    with urllib.request.urlopen(url) as r:
                        body = r.read()
                    page = json.loads(body)
                    name = f"{page_id}__{platform}__{folder}__{n:05}.json"
                    with open(os.path.join(args.out, name), "wb") as f:
                        f.write(body)
                    files += 1
                    threads += len(page["data"])
                    n += 1
                    url = page.get("paging", {}).get("next")
    print(json.dumps({"files": files, "threads": threads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
