# exec transform fixture with `columns = ["platform", "snippet"]`: answers each batch row for row
# with `lang` (the snippet's length parity, as add_lang.py) and `keep` (Instagram rows only).
# MODE=short answers one row short; MODE=silent reads everything and answers nothing.
import os
import sys
import pyarrow as pa
import pyarrow.compute as pc

reader = pa.ipc.open_stream(sys.stdin.buffer)
print("lang_columns: got", ",".join(reader.schema.names), file=sys.stderr)
mode = os.environ.get("MODE", "")
answer = pa.schema([("lang", pa.string()), ("keep", pa.bool_())])
with pa.ipc.new_stream(sys.stdout.buffer, answer) as out:
    for batch in reader:
        if mode == "silent":
            continue
        langs = ["even" if len(s or "") % 2 == 0 else "odd" for s in batch["snippet"].to_pylist()]
        keep = pc.equal(batch["platform"], "instagram")
        if mode == "short":
            langs, keep = langs[1:], keep[1:]
        out.write_batch(pa.record_batch([pa.array(langs, pa.string()), keep], schema=answer))
        sys.stdout.buffer.flush()
