# exec transform fixture for `columns` (row for row): keeps every row, adds nothing. The answer to
# each batch is a `keep` column of as many `true`s. MODE=hoard reads the whole input before
# answering anything (a child that ignores the row-for-row contract).
import os
import sys
import pyarrow as pa

reader = pa.ipc.open_stream(sys.stdin.buffer)
answer = pa.schema([("keep", pa.bool_())])
hoard = os.environ.get("MODE") == "hoard"
with pa.ipc.new_stream(sys.stdout.buffer, answer) as out:
    counts = []
    for batch in reader:
        counts.append(batch.num_rows)
        if not hoard:
            out.write_batch(pa.record_batch([pa.repeat(True, counts.pop())], schema=answer))
            sys.stdout.buffer.flush()
    for n in counts:
        out.write_batch(pa.record_batch([pa.repeat(True, n)], schema=answer))
