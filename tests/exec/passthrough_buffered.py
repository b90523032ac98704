# exec transform fixture: forwards every batch unchanged, through a buffered output stream (as the
# protocol docs advise: pyarrow hands each Arrow buffer of a batch to Python's `write` on its own).
import sys
import pyarrow as pa

reader = pa.ipc.open_stream(sys.stdin.buffer)
stdout = pa.output_stream(sys.stdout.buffer, buffer_size=1 << 20)
with pa.ipc.new_stream(stdout, reader.schema) as out:
    for batch in reader:
        out.write_batch(batch)
