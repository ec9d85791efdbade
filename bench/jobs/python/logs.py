"""logs: per-service request count, error count (status >= 500) and p95
latency over the JSON-lines files DATA/logs/*.jsonl.
argv: DATA [WORKERS]. Each file is read with json.loads in a Pool worker,
which returns per-service latency lists and an error Counter; the parent
joins the lists in file order and takes the 95th percentile with linear
interpolation (numpy's default, written out: no numpy)."""
import glob
import json
import math
import multiprocessing as mp
import sys
import time
from collections import Counter, defaultdict


def percentile(values, p):
    """numpy.percentile(values, p) with linear interpolation."""
    a = sorted(values)
    rank = p / 100 * (len(a) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return a[lo] + (a[hi] - a[lo]) * (rank - lo)


def scan(path):
    lat = defaultdict(list)
    errors = Counter()
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            v = json.loads(line)
            lat[v["service"]].append(v["latency_ms"])
            if v["status"] >= 500:
                errors[v["service"]] += 1
    return lat, errors


def main():
    files = sorted(glob.glob(sys.argv[1] + "/logs/*.jsonl"))
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    if not files:
        sys.exit(f"logs: no files in {sys.argv[1]}/logs")
    t = time.perf_counter()
    lat = defaultdict(list)
    errors = Counter()
    with mp.Pool(workers) as pool:
        for part_lat, part_errors in pool.map(scan, files, chunksize=1):
            errors.update(part_errors)
            for s, a in part_lat.items():
                lat[s].extend(a)
    out = [f"{s} requests {len(lat[s])} errors {errors[s]} p95 {percentile(lat[s], 95):.2f}"
           for s in sorted(lat)]
    secs = time.perf_counter() - t
    for line in out:
        print(line)
    print(f"RESULT seconds {secs}")


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
