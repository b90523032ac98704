# exec transform fixture: writes its pid to $PID_FILE, reads the schema, then hangs.
import os, sys, time
import pyarrow as pa

with open(os.environ["PID_FILE"], "w") as f:
    f.write(str(os.getpid()))
reader = pa.ipc.open_stream(sys.stdin.buffer)
print("hang: waiting forever", file=sys.stderr, flush=True)
time.sleep(3600)
