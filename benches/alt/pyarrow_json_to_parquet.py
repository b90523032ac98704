"""S4's second bar: pyarrow's own JSON reader (`pyarrow.json.read_json`, Arrow's C++ parser)
reads the saved Graph list pages and writes one zstd Parquet file, as a user would with
pyarrow alone. Each file is one JSON object (`{"data": [...], "paging": {...}}`): its `data`
list is flattened to one row per thread, with page_id, platform and folder from the file name
(`{page_id}__{platform}__{folder}__{n}.json`), the same columns as DuckDB's script. Files are
read by a thread pool as wide as the machine (Arrow releases the GIL while parsing).

Usage: pyarrow_json_to_parquet.py --pages-dir DIR --out FILE.parquet
Prints one JSON line: rows, seconds.
"""

import argparse
import glob
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

COLUMNS = ["id", "updated_time", "snippet", "message_count", "unread_count", "participants",
           "messages"]


def read_one(path):
    page = pj.read_json(path, read_options=pj.ReadOptions(block_size=64 << 20))
    threads = pc.list_flatten(page.column("data"))
    if len(threads) == 0:
        return None
    fields = {name: threads.combine_chunks().field(name)
              for name in COLUMNS if threads.type.get_field_index(name) >= 0}
    # participants and messages arrive as {"data": [...]} objects: keep the lists.
    for name in ("participants", "messages"):
        if name in fields:
            fields[name] = pc.struct_field(fields[name], "data")
    page_id, platform, folder, _ = os.path.basename(path)[:-5].split("__")
    n = len(threads)
    cols = {"page_id": pa.array([page_id] * n), "platform": pa.array([platform] * n),
            "folder": pa.array([folder] * n)}
    cols.update(fields)
    return pa.table(cols)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages-dir", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    files = sorted(glob.glob(os.path.join(args.pages_dir, "*.json")))
    t0 = time.perf_counter()
    rows = 0
    writer = None
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        for table in pool.map(read_one, files):
            if table is None:
                continue
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(args.out, schema, compression="zstd")
            # Types inferred per file can differ (a null-only column): cast to the first.
            writer.write_table(table.cast(schema))
            rows += table.num_rows
    if writer is not None:
        writer.close()
    seconds = time.perf_counter() - t0
    print(json.dumps({"rows": rows, "seconds": round(seconds, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
