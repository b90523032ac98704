"""Renders benches/compare.sh's raw measurements (one JSON line per run) as Markdown.

Usage: report.py RAW.jsonl --runs N --date D --load "1 5 15" --load-end "..." --command CMD
Every figure is a median over the runs of one tool in one scenario; rates are computed per run
(threads / wall seconds) and then the median is taken.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
from collections import defaultdict
from importlib import metadata

TOOL_NAMES = {
    "tributary": "tributary",
    "sdk": "facebook-business SDK + pyarrow",
    "dlt": "dlt rest_api → filesystem (parquet)",
    "duckdb": "DuckDB read_json → Parquet",
    "pyarrow": "pyarrow.json.read_json → Parquet",
}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=1):
    if x is None:
        return "–"
    if isinstance(x, int) or abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return cpu, os.cpu_count(), mem_kb / 1024 / 1024


def versions():
    out = {}
    for pkg in ["facebook-business", "dlt", "duckdb", "pyarrow"]:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "?"
    try:
        out["rustc"] = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.split()[1]
        out["tributary"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                          text=True).stdout.strip()
        if subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "crates"]).returncode:
            out["tributary"] += " + uncommitted changes in crates/"
    except OSError:
        pass
    out["python"] = platform.python_version()
    return out


def throttles(stats):
    return sum(stats.get("throttled_by_code", {}).values()) if stats else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--date")
    ap.add_argument("--load")
    ap.add_argument("--load-end")
    ap.add_argument("--command")
    a = ap.parse_args()
    recs = [json.loads(line) for line in open(a.raw) if line.strip()]
    by = defaultdict(list)
    for r in recs:
        by[(r["scenario"], r["tool"], r.get("size"))].append(r)

    cpu, cores, mem_gib = machine()
    v = versions()
    print("### Machine and run\n")
    print(f"- Date: {a.date}; command: `{a.command}`")
    print(f"- CPU: {cpu}, {cores} cores (`nproc`); memory {mem_gib:.1f} GiB; load average (1, 5, 15 min) "
          f"{a.load} at start, {a.load_end} at end")
    print(f"- Versions: tributary {v.get('tributary', '?')} (rustc {v.get('rustc', '?')}, release), "
          f"Python {v['python']}, facebook-business {v['facebook-business']}, dlt {v['dlt']}, "
          f"duckdb {v['duckdb']}, pyarrow {v['pyarrow']}")
    print(f"- Each figure is the median over the runs of that tool and size (RUNS, S2_RUNS, S3_RUNS above). Wall, CPU (user + sys) and peak RSS are "
          "`/usr/bin/time` of the tool's own process; the emulator runs as a separate process "
          "on the same 2 cores and is not counted.\n")

    def ok_runs(key):
        return [r for r in by.get(key, []) if r["status"] == 0]

    # ---------------- S1
    if any(k[0] == "s1" for k in by):
        print("### S1 throughput (no latency, no rate limit, zstd Parquet)\n")
        print("| tool | threads per run | wall s | threads/s | CPU s | CPU ms per 1k threads | peak RSS MB | tributary is × faster |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        base = None
        rows = []
        for tool in ["tributary", "sdk", "dlt"]:
            runs = ok_runs(("s1", tool, None))
            failed = len(by.get(("s1", tool, None), [])) - len(runs)
            if not runs:
                if failed:
                    rows.append((tool, None, None, None, None, None, None, f"all {failed} runs failed"))
                continue
            threads = med([r["out"]["threads"] for r in runs])
            rate = med([r["out"]["threads"] / r["wall"] for r in runs])
            cpu_per_k = med([1000 * r["cpu"] / r["out"]["threads"] * 1000 for r in runs])
            if tool == "tributary":
                base = rate
            rows.append((tool, threads, med([r["wall"] for r in runs]), rate, med([r["cpu"] for r in runs]),
                         cpu_per_k, med([r["rss_kb"] for r in runs]) / 1024, None))
        for tool, threads, wall, rate, cpu_s, cpk, rss, note in rows:
            ratio = note or ("–" if tool == "tributary" or base is None or rate is None else f"{base / rate:.1f}×")
            print(f"| {TOOL_NAMES[tool]} | {fmt(threads)} | {fmt(wall)} | {fmt(rate)} | {fmt(cpu_s)} | "
                  f"{fmt(cpk)} | {fmt(rss)} | {ratio} |")
        print()

    # ---------------- S2
    if any(k[0] == "s2" for k in by):
        print("### S2 rate-limited extraction (16 Pages, 100 ms latency, 2 calls/s per Page)\n")
        # Calls each Page needs = successful list requests of the busiest Page in a complete run.
        calls = None
        for r in ok_runs(("s2", "tributary", None)) + ok_runs(("s2", "sdk", None)):
            if r["stats"]:
                per = [p["requests"] - p["throttled"] for p in r["stats"]["per_page"].values()]
                calls = max(per)
                break
        bound = calls / 2 if calls else None
        print(f"Lower bound: {calls} calls per Page at 2 calls/s = **{fmt(bound)} s**.\n")
        print("| tool | runs ok | threads | wall s | × lower bound | throttle responses | CPU s | peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for tool in ["tributary", "sdk", "dlt"]:
            allr = by.get(("s2", tool, None), [])
            if not allr:
                continue
            runs = ok_runs(("s2", tool, None))
            use = runs or allr
            threads = med([(r["out"] or {}).get("threads") for r in runs]) if runs else None
            wall = med([r["wall"] for r in use])
            ratio = f"{wall / bound:.2f}×" if (bound and runs) else "–"
            note = "" if runs else " (failed: wall is time to failure)"
            print(f"| {TOOL_NAMES[tool]}{note} | {len(runs)}/{len(allr)} | {fmt(threads)} | {fmt(wall)} | {ratio} | "
                  f"{fmt(med([throttles(r['stats']) for r in use]))} | {fmt(med([r['cpu'] for r in use]))} | "
                  f"{fmt(med([r['rss_kb'] for r in use]) / 1024)} |")
        print()

    # ---------------- S3
    sizes = sorted(k[2] for k in by if k[0] == "s3")
    if sizes:
        print("### S3 memory (tributary, 8 Pages, 20 messages per thread)\n")
        print("| threads | wall s | threads/s | peak RSS MB | RSS vs smallest |")
        print("|---:|---:|---:|---:|---:|")
        first = None
        for size in sizes:
            runs = ok_runs(("s3", "tributary", size))
            if not runs:
                print(f"| {fmt(size)} | failed | | | |")
                continue
            rss = med([r["rss_kb"] for r in runs]) / 1024
            first = first or rss
            print(f"| {fmt(size)} | {fmt(med([r['wall'] for r in runs]))} | "
                  f"{fmt(med([r['out']['threads'] / r['wall'] for r in runs]))} | {fmt(rss)} | {rss / first:.2f}× |")
        print()

    # ---------------- S4
    if any(k[0] == "s4" for k in by):
        print("### S4 transform + sink alone (saved JSON pages → zstd Parquet)\n")
        base = None
        rows = []
        for tool in ["tributary", "duckdb", "pyarrow"]:
            runs = ok_runs(("s4", tool, None))
            if not runs:
                continue
            rowsn = med([(r["out"].get("rows")) for r in runs])
            rate = med([r["out"]["rows"] / r["wall"] for r in runs])
            mbs = med([r["json_bytes"] / 1e6 / r["wall"] for r in runs])
            if tool == "tributary":
                base = rate
            rows.append((tool, rowsn, med([r["wall"] for r in runs]), rate, mbs, med([r["cpu"] for r in runs]),
                         med([r["rss_kb"] for r in runs]) / 1024))
        json_mb = by[next(k for k in by if k[0] == "s4")][0]["json_bytes"] / 1e6
        print(f"Input: {json_mb:,.0f} MB of JSON.\n")
        print("| tool | rows | wall s | rows/s | JSON MB/s | CPU s | peak RSS MB | tributary ÷ tool (rows/s) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for tool, rowsn, wall, rate, mbs, cpu_s, rss in rows:
            ratio = "–" if tool == "tributary" or base is None else f"{base / rate:.2f}×"
            print(f"| {TOOL_NAMES[tool]} | {fmt(rowsn)} | {fmt(wall)} | {fmt(rate)} | {fmt(mbs)} | {fmt(cpu_s)} | "
                  f"{fmt(rss)} | {ratio} |")
        print()


if __name__ == "__main__":
    main()
