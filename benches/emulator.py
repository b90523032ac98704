"""`tributary emulate` as a subprocess for the benchmark scripts (pacing.py, throughput.py)."""

import os
import subprocess
import time


def start(binary, args, work):
    """Starts `binary emulate --port 0 ARGS`, waits for its URL; returns (process, url).
    Its stdout and stderr go to WORK/emu.out and WORK/emu.err."""
    out = open(os.path.join(work, "emu.out"), "w+")
    err = open(os.path.join(work, "emu.err"), "w")
    proc = subprocess.Popen([binary, "emulate", "--port", "0"] + args, stdout=out, stderr=err)
    for _ in range(600):
        out.seek(0)
        line = out.readline()
        if line.strip():
            return proc, line.split()[-1]
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the emulator did not start: " + open(err.name).read())
