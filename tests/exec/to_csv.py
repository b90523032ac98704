# exec sink fixture: writes the rows to $OUT_DIR/rows.csv, visible only once the stream ended
# (written to a temporary name, renamed at the end); records what it was given in
# $OUT_DIR/child.json; exits with $EXIT_STATUS (default 0) after reading everything, or with 4
# at the first batch when $EXIT_EARLY is set.
import json, os, sys
import pyarrow as pa
import pyarrow.csv as csv

out_dir = os.environ["OUT_DIR"]
secret = os.environ.get("SECRET", "")
print(f"to_csv: using secret {secret}", file=sys.stderr, flush=True)
reader = pa.ipc.open_stream(sys.stdin.buffer)
tmp = os.path.join(out_dir, ".rows.csv.tmp")
with csv.CSVWriter(tmp, pa.schema([reader.schema.field("id"), reader.schema.field("platform")])) as w:
    for batch in reader:
        if os.environ.get("EXIT_EARLY"):
            print("to_csv: giving up", file=sys.stderr, flush=True)
            os._exit(4)
        w.write_batch(batch.select(["id", "platform"]))
with open(os.path.join(out_dir, "child.json"), "w") as f:
    json.dump({
        "argv": sys.argv,
        "cmdline": open("/proc/self/cmdline", "rb").read().decode(errors="replace"),
        "env": dict(os.environ),
        "metadata": {k.decode(): v.decode() for k, v in (reader.schema.metadata or {}).items()},
        "cwd": os.getcwd(),
        "columns": reader.schema.names,
    }, f)
status = int(os.environ.get("EXIT_STATUS", "0"))
if status == 0:
    os.rename(tmp, os.path.join(out_dir, "rows.csv"))
sys.exit(status)
