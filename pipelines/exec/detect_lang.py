# An `exec` transform (see pipelines/exec-python.toml): keeps threads with a snippet and adds
# `lang`. Needs Python 3 with pyarrow (`pip install pyarrow`). Logs go to standard error; standard
# output carries only the Arrow stream.
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc

FRENCH = {"le", "la", "les", "merci", "bonjour", "est"}


def lang(text):
    words = set((text or "").lower().split())
    return "fr" if words & FRENCH else "en"


reader = pa.ipc.open_stream(sys.stdin.buffer)
schema = reader.schema.append(pa.field("lang", pa.string()))
print(f"detect_lang: run {os.environ.get('TRIBUTARY_RUN_ID')}", file=sys.stderr)
with pa.ipc.new_stream(sys.stdout.buffer, schema) as out:
    for batch in reader:
        batch = batch.filter(pc.is_valid(batch["snippet"]))
        langs = pa.array([lang(s) for s in batch["snippet"].to_pylist()], pa.string())
        out.write_batch(batch.append_column("lang", langs))
