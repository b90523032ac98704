# exec transform fixture: forwards the first batch, then fails.
import sys
import pyarrow as pa

reader = pa.ipc.open_stream(sys.stdin.buffer)
with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as out:
    for i, batch in enumerate(reader):
        if i == 1:
            raise RuntimeError("model file is corrupt")
        out.write_batch(batch)
