"""S4's bar: DuckDB reads the saved Graph list pages with `read_json` and writes one zstd
Parquet file, in one SQL statement, as a user would. The platform and folder come from the file
name (`{page_id}__{platform}__{folder}__{n}.json`). DuckDB uses every core (its default).

Usage: duckdb_json_to_parquet.py --pages-dir DIR --out FILE.parquet
Prints one JSON line: rows, seconds.
"""

import argparse
import json
import sys
import time

import duckdb


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages-dir", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.execute(f"""
        COPY (
            WITH pages AS (
                SELECT parse_filename(filename, true) AS name, unnest(data) AS c
                FROM read_json('{args.pages_dir}/*.json', filename = true)
            )
            SELECT split_part(name, '__', 1) AS page_id,
                   split_part(name, '__', 2) AS platform,
                   split_part(name, '__', 3) AS folder,
                   c.id, c.updated_time, c.snippet, c.message_count, c.unread_count,
                   c.participants.data AS participants,
                   c.messages.data AS messages
            FROM pages
        ) TO '{args.out}' (FORMAT parquet, COMPRESSION zstd)
    """)
    seconds = time.perf_counter() - t0
    rows = con.execute(f"SELECT count(*) FROM '{args.out}'").fetchone()[0]
    print(json.dumps({"rows": rows, "seconds": round(seconds, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
