# exec transform fixture: keeps Instagram rows only and adds `lang` (the snippet's length parity,
# so the test can recompute it).
import sys
import pyarrow as pa
import pyarrow.compute as pc

reader = pa.ipc.open_stream(sys.stdin.buffer)
schema = reader.schema.append(pa.field("lang", pa.string()))
print("add_lang: started", file=sys.stderr)
with pa.ipc.new_stream(sys.stdout.buffer, schema) as out:
    for batch in reader:
        batch = batch.filter(pc.equal(batch["platform"], "instagram"))
        langs = ["even" if len(s or "") % 2 == 0 else "odd" for s in batch["snippet"].to_pylist()]
        out.write_batch(batch.append_column("lang", pa.array(langs, pa.string())))
