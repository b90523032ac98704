# exec transform fixture: emits `message_count` as a string (the input has it as an integer).
import sys
import pyarrow as pa
import pyarrow.compute as pc

reader = pa.ipc.open_stream(sys.stdin.buffer)
i = reader.schema.get_field_index("message_count")
schema = reader.schema.set(i, pa.field("message_count", pa.string()))
with pa.ipc.new_stream(sys.stdout.buffer, schema) as out:
    for batch in reader:
        cols = list(batch.columns)
        cols[i] = pc.cast(cols[i], pa.string())
        out.write_batch(pa.record_batch(cols, schema=schema))
