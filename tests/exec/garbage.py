# exec transform fixture: prints a log line on standard output (the classic mistake).
import sys
import pyarrow as pa

reader = pa.ipc.open_stream(sys.stdin.buffer)
print("loading model...")
sys.stdout.flush()
for batch in reader:
    pass
