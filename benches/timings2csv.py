#!/usr/bin/env python3
"""cargo's --timings HTML report -> CSV of its units (name, version, target, mode, seconds),
slowest first: the numbers of the report without its 450 kB of page."""
import csv, json, re, sys

html = open(sys.argv[1], encoding="utf-8").read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);", html, re.S).group(1))
out = csv.writer(sys.stdout)
out.writerow(["name", "version", "target", "seconds"])
for u in sorted(units, key=lambda u: -u["duration"]):
    out.writerow([u["name"], u["version"], u.get("target", "").strip(), f'{u["duration"]:.2f}'])
