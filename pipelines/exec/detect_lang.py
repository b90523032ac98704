# An `exec` transform (see pipelines/exec-python.toml) with `columns = ["snippet"]`: it reads only
# the snippet and answers each batch row for row with `lang`, plus `keep` (threads with a
# snippet); tributary puts the rest of each row back. Needs Python 3 with pyarrow
# (`pip install pyarrow`). Logs go to standard error; standard output carries only the answers.
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc

FRENCH = {"le", "la", "les", "merci", "bonjour", "est"}


def lang(text):
    words = set((text or "").lower().split())
    return "fr" if words & FRENCH else "en"


reader = pa.ipc.open_stream(sys.stdin.buffer)
answer = pa.schema([("lang", pa.string()), ("keep", pa.bool_())])
print(f"detect_lang: run {os.environ.get('TRIBUTARY_RUN_ID')}", file=sys.stderr)
with pa.ipc.new_stream(sys.stdout.buffer, answer) as out:
    for batch in reader:
        snippets = batch["snippet"]
        langs = pa.array([lang(s) for s in snippets.to_pylist()], pa.string())
        out.write_batch(pa.record_batch([langs, pc.is_valid(snippets)], schema=answer))
        sys.stdout.buffer.flush()
