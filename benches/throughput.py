"""End to end without a rate limit (issue #26): threads/s and client CPU per thread at 1, 16,
256 and 1,000 Pages, for one or two `tributary` binaries side by side.

    python3 benches/throughput.py --new NEW_BIN [--old OLD_BIN] [--runs 3]
        [--pages 1 16 256 1000] [--threads 256000] [--gzip on off] [--raw FILE]

`benches/throughput.sh` builds the binaries and calls this. Every run gets a fresh emulator
(the NEW binary's `tributary emulate`: no rate limit, no latency, no messages, exact counts,
its gzip on), so the client is the only thing measured. Each cell reads about `--threads`
threads in all (threads per unit = threads / (8 units x Pages)), `page_size` 100, the fields a
data engineer would ask for (id, updated_time, snippet, message_count, unread_count,
participants), no pacing, default concurrency, into zstd Parquet (the `parquet` sink, default
settings) in a temporary directory.

Per run: wall seconds, client CPU seconds (user + sys of the tributary process, from wait4),
the emulator's CPU seconds over the run (/proc/PID/stat), peak RSS of the client. Reported per
cell as medians: threads/s (wall, the emulator sharing the two cores), client CPU us/thread,
and what that CPU cost allows on two cores of their own (2 / CPU seconds per thread).
`gzip` is the client's `gzip` key (an old binary without the key is run without it: it never
asks for gzip).
"""

import argparse
import json
import os
import statistics
import tempfile

import emulator

UNITS = 8  # 2 platforms x 4 folders
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start_emulator(binary, pages, tpu, work):
    return emulator.start(binary, [
        "--seed", "7", "--pages", str(pages), "--threads-per-unit", str(tpu), "--exact-threads",
        "--messages-per-thread", "0", "--exact-messages", "--rate-limit", "0"], work)


def pipeline(work, url, pages, gzip):
    gzip_line = "" if gzip is None else f"gzip = {'true' if gzip else 'false'}\n"
    return emulator.pipeline(
        work, "bench-throughput", url, pages,
        f"page_size    = 100\nrequests_per_second_per_page = 0\n{gzip_line}",
        f"""[sinks.lake]
type   = "parquet"
inputs = ["pages"]
path   = "{os.path.join(work, 'out')}"
""")


def run_client(binary, pipeline_path, emu_pid, timeout):
    emu_before = proc_cpu(emu_pid)
    r = emulator.run_client(binary, pipeline_path, timeout, poll=0.02)
    r["emu_cpu"] = proc_cpu(emu_pid) - emu_before
    return r


def served(url):
    s = emulator.stats(url)
    return s["threads_served"], s.get("gzipped_responses", 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--new", required=True)
    ap.add_argument("--old")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pages", type=int, nargs="+", default=[1, 16, 256, 1000])
    ap.add_argument("--threads", type=int, default=256_000)
    ap.add_argument("--gzip", nargs="+", default=["off", "on"], choices=["on", "off"])
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--raw")
    args = ap.parse_args()
    clients = [("new", args.new)] + ([("old", args.old)] if args.old else [])
    raw = open(args.raw, "a") if args.raw else None
    results = {}
    for pages in args.pages:
        tpu = max(1, args.threads // (UNITS * pages))
        for r in range(args.runs):
            # Alternate clients and settings run by run, so drift hits all alike.
            for name, binary in clients:
                for gz in args.gzip:
                    if name == "old" and gz == "on":
                        continue
                    with tempfile.TemporaryDirectory() as work:
                        emu, url = start_emulator(args.new, pages, tpu, work)
                        try:
                            gzip = None if name == "old" else gz == "on"
                            rec = run_client(binary, pipeline(work, url, pages, gzip), emu.pid,
                                             args.timeout)
                            rec["threads"], rec["gzipped"] = served(url)
                        finally:
                            emu.kill()
                            emu.wait()
                    rec.update({"client": name, "gzip": gz, "pages": pages, "run": r + 1})
                    if rec["exit"] != 0:
                        print(f"!! {name} gzip {gz} {pages} pages: exit {rec['exit']}: "
                              f"{rec['stderr']}", flush=True)
                    if raw:
                        raw.write(json.dumps(rec) + "\n")
                        raw.flush()
                    results.setdefault((name, gz, pages), []).append(rec)
                    print(f"   {name} gzip={gz} pages={pages} run {r + 1}: "
                          f"{rec['threads']} threads, {rec['wall']:.2f} s wall, "
                          f"{rec['cpu']:.2f} s CPU, emulator {rec['emu_cpu']:.2f} s",
                          flush=True)
    print()
    print("| client | gzip | Pages | threads | wall s | threads/s | client CPU s | "
          "CPU µs/thread | 2 cores of its own: threads/s | emulator CPU s | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (name, gz, pages), recs in results.items():
        ok = [x for x in recs if x["exit"] == 0]
        if not ok:
            print(f"| {name} | {gz} | {pages} | failed | | | | | | | |")
            continue
        med = lambda k: statistics.median(x[k] for x in ok)  # noqa: E731
        threads = med("threads")
        wall, cpu = med("wall"), med("cpu")
        us = cpu / threads * 1e6
        print(f"| {name} | {gz} | {pages:,} | {threads:,.0f} | {wall:.2f} | "
              f"{threads / wall:,.0f} | {cpu:.2f} | {us:.2f} | {2e6 / us:,.0f} | "
              f"{med('emu_cpu'):.2f} | {med('rss_mb'):.0f} |")


if __name__ == "__main__":
    main()
