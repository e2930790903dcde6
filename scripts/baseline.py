#!/usr/bin/env python3
"""The baseline for the fleet benchmark: the fleet handled the way the seed documents
do it -- Python with `requests`, one call after another, a new connection per call --
with the same decisions as the benchmark's policy (the history holds one backup per
day, so keep_daily = K keeps the K newest).

    baseline.py PORTALS.json KEEP      # [{"name": ..., "url": ..., "key": ...}, ...]
Prints: requests=<n> seconds=<wall>
"""
import json
import sys
import time

import requests


def main():
    portals = json.load(open(sys.argv[1]))
    keep = int(sys.argv[2])
    n = 0
    started = time.monotonic()
    for p in portals:
        headers = {"Authorization": "Bearer " + p["key"]}
        base = p["url"] + "/api/2.0/backup"
        r = requests.get(base + "/getbackupschedule", headers=headers, params={"Dump": "false"})
        n += 1
        r.raise_for_status()
        r = requests.get(base + "/getbackuphistory", headers=headers, params={"Dump": "false"})
        n += 1
        r.raise_for_status()
        records = r.json().get("response", [])
        records.sort(key=lambda b: b["createdOn"], reverse=True)
        for b in records[keep:]:
            d = requests.delete(base + "/deletebackup/" + b["id"], headers=headers)
            n += 1
            d.raise_for_status()
        if records[keep:]:
            r = requests.get(base + "/getbackuphistory", headers=headers, params={"Dump": "false"})
            n += 1
            r.raise_for_status()
    print(f"requests={n} seconds={time.monotonic() - started:.3f}")


if __name__ == "__main__":
    main()
