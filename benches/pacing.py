"""Pacing against every limiter model (issue #16): two `tributary` binaries side by side.

    python3 benches/pacing.py --old OLD_BIN --new NEW_BIN [--runs 1] [--pages 1 16 256 1000]
        [--models token-bucket sliding-window fixed-window usage] [--latencies 0 100 20-300]
        [--out benches/results/pacing.md]

`benches/pacing.sh` builds the two binaries (today's from a git revision, the new one from this
tree) and calls this. Every cell runs against a fresh emulator process (the NEW binary's
`tributary emulate`, since only it has the limiter models), Meta's 2 calls/s per Page, one
pipeline reading every Page's 8 units (2 platforms x 4 folders) of 100 threads at `page_size` 25:
4 calls per unit, 32 per Page. Clients run with the plugin's defaults (2 calls/s per Page, default
concurrency) and write NDJSON to /dev/null.

Lower bound of a cell (what any client could do against that limiter, plus the mean latency of
the last response): token-bucket and usage (burst of 2, then 2/s): 2 calls at once, 30 at 0.5 s
= 15.0 s; sliding-window (2 in any rolling second): pairs 1 s apart = 15.0 s; fixed-window (2 per
wall-clock second): 14.0 s at best (a run that starts right before a window boundary). The usage
pool (100 calls per rolling 60 s) is not reached by 32 calls: that model checks that moderate
usage readings (up to 32 %) do not slow a client down.
Per cell: wall / bound, throttled calls / calls (the emulator's own count), CPU seconds
(user + sys of the client process), peak RSS of the client.
"""

import argparse
import json
import statistics
import sys
import tempfile

import emulator

CALLS_PER_PAGE = 32
BOUND = {"token-bucket": 15.0, "usage": 15.0, "sliding-window": 15.0, "fixed-window": 14.0}


def latency_args(lat):
    if lat == "0":
        return [], 0.0
    if "-" in lat:
        lo, hi = lat.split("-")
        return ["--latency-ms", lo, "--latency-max-ms", hi], (int(lo) + int(hi)) / 2000
    return ["--latency-ms", lat], int(lat) / 1000


def start_emulator(new_bin, pages, model, lat, work):
    args, _ = latency_args(lat)
    return emulator.start(new_bin, [
        "--seed", "7", "--pages", str(pages), "--threads-per-unit", "100", "--exact-threads",
        "--messages-per-thread", "0", "--exact-messages", "--rate-limit", "2",
        "--limiter", model, "--usage-window-secs", "60", "--usage-budget", "100"] + args, work)


def pipeline(work, url, pages):
    return emulator.pipeline(work, "bench-pacing", url, pages, "", """[sinks.out]
type   = "stdout"
inputs = ["pages"]
format = "ndjson"
""")


def emulator_stats(url):
    s = emulator.stats(url)
    calls = sum(p["requests"] for p in s["per_page"].values())
    throttled = sum(p["throttled"] for p in s["per_page"].values())
    return calls, throttled, s["threads_served"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--pages", type=int, nargs="+", default=[1, 16, 256, 1000])
    ap.add_argument("--models", nargs="+",
                    default=["token-bucket", "sliding-window", "fixed-window", "usage"])
    ap.add_argument("--latencies", nargs="+", default=["0", "100", "20-300"])
    ap.add_argument("--clients", nargs="+", default=["old", "new"], choices=["old", "new"])
    ap.add_argument("--timeout", type=float, default=180.0, help="kill a client run after this")
    ap.add_argument("--raw", default=None, help="append one JSON line per run here")
    args = ap.parse_args()
    raw = open(args.raw, "a") if args.raw else None
    rows = []
    for model in args.models:
        for lat in args.latencies:
            for pages in args.pages:
                cell = {}
                for run in range(args.runs):
                    for name, binary in (("old", args.old), ("new", args.new)):
                        if name not in args.clients:
                            continue
                        with tempfile.TemporaryDirectory() as work:
                            emu, url = start_emulator(args.new, pages, model, lat, work)
                            try:
                                r = emulator.run_client(binary, pipeline(work, url, pages),
                                                        args.timeout)
                                r["calls"], r["throttled"], r["threads"] = emulator_stats(url)
                            finally:
                                emu.terminate()
                                emu.wait()
                        bound = BOUND[model] + latency_args(lat)[1]
                        r.update(model=model, latency=lat, pages=pages, client=name, run=run,
                                 bound=bound, ratio=r["wall"] / bound)
                        expected = pages * 8 * 100
                        if "note" not in r and (r["exit"] != 0 or r["threads"] < expected):
                            r["note"] = f"exit {r['exit']}, {r['threads']} of {expected} threads"
                        if raw:
                            raw.write(json.dumps(r) + "\n")
                            raw.flush()
                        cell.setdefault(name, []).append(r)
                        print(f"{model:14} {lat:>6} {pages:>5} {name}: {r['wall']:.2f}s "
                              f"x{r['ratio']:.2f} {r['throttled']}/{r['calls']} throttled "
                              f"cpu {r['cpu']:.1f}s rss {r['rss_mb']:.0f}MB {r.get('note', '')}",
                              file=sys.stderr, flush=True)
                rows.append((model, lat, pages, cell))
    print(table(rows, args.runs))


def table(rows, runs):
    out = ["| limiter | latency ms | Pages | today: wall / bound | throttled | CPU s | RSS MB "
           "| new: wall / bound | throttled | CPU s | RSS MB |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for model, lat, pages, cell in rows:
        parts = [model, lat, str(pages)]
        for name in ("old", "new"):
            rs = cell.get(name, [])
            if not rs:
                parts += ["—"] * 4
                continue
            med = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
            thr = sum(r["throttled"] for r in rs)
            calls = sum(r["calls"] for r in rs)
            note = "; ".join(r["note"] for r in rs if "note" in r)
            parts += [f"{med('ratio'):.2f}" + (f" ({note})" if note else ""),
                      f"{thr / max(calls, 1) * 100:.1f} % ({thr}/{calls})",
                      f"{med('cpu'):.1f}", f"{med('rss_mb'):.0f}"]
        out.append("| " + " | ".join(parts) + " |")
    out.append("")
    out.append(f"Medians of {runs} run(s) per cell; throttled = summed over the runs.")
    return "\n".join(out)


if __name__ == "__main__":
    main()
