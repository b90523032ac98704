"""`tributary emulate` as a subprocess for the benchmark scripts (pacing.py, throughput.py), and
what both do around it: a pipeline over N emulated Pages, a timed client run, the stats."""

import json
import os
import subprocess
import tempfile
import time
import urllib.request


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


def pipeline(work, name, url, pages, source_extra, sink):
    """Writes WORK/p.toml: pipeline NAME, a `graph_conversations` source over PAGES emulated
    Pages at URL (their ids in WORK/pages.txt) with SOURCE_EXTRA lines, and SINK (a TOML table
    reading `pages`). Returns its path."""
    pages_file = os.path.join(work, "pages.txt")
    with open(pages_file, "w") as f:
        for i in range(1, pages + 1):
            f.write(f"{104857600000000 + i}\n")
    path = os.path.join(work, "p.toml")
    with open(path, "w") as f:
        f.write(f"""[pipeline]
name = "{name}"

[sources.pages]
type         = "graph_conversations"
base_url     = "{url}"
access_token = "demo-token"
pages_file   = "{pages_file}"
fields       = ["id", "updated_time", "snippet", "message_count", "unread_count", "participants"]
{source_extra}
{sink}""")
    return path


def run_client(binary, pipeline_path, timeout, poll=0.05):
    """Runs `binary -q run PIPELINE`, killed after TIMEOUT seconds; returns its wall time, CPU
    (user + sys), peak RSS, exit code and the end of its standard error."""
    start = time.monotonic()
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([binary, "-q", "run", pipeline_path],
                            stdout=subprocess.DEVNULL, stderr=err)
    killed = False
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > timeout:
            proc.kill()
            killed = True
        time.sleep(poll)
    wall = time.monotonic() - start
    err.seek(0)
    r = {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024,
         "exit": os.waitstatus_to_exitcode(status),
         "stderr": err.read().decode(errors="replace")[-2000:]}
    if killed:
        r["note"] = f"killed after {timeout:.0f} s"
    return r


def stats(url):
    """The emulator's counters (`/__emulator/stats`)."""
    with urllib.request.urlopen(url + "/__emulator/stats") as r:
        return json.load(r)
