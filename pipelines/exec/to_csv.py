# An `exec` sink (see pipelines/exec-python.toml): writes the columns it gets (`columns = ["id",
# "platform", "lang"]` in the pipeline: only those cross the pipe) to $OUT_CSV.
# The file appears only once the whole stream was read (written under a temporary name, renamed
# at the end), and not at all if tributary died meanwhile.
import os
import sys

import pyarrow as pa
import pyarrow.csv as csv

target = os.environ["OUT_CSV"]
os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
tmp = f"{target}.{os.getpid()}.tmp"
reader = pa.ipc.open_stream(sys.stdin.buffer)
with csv.CSVWriter(tmp, reader.schema) as writer:
    for batch in reader:
        writer.write_batch(batch)
if os.getppid() != int(os.environ["TRIBUTARY_PID"]):
    sys.exit("tributary is gone: not committing")
os.replace(tmp, target)
