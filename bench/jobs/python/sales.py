"""sales: revenue (units * price) by region and product over DATA/csv/*.csv.
argv: DATA [WORKERS]. Each file is read with csv.DictReader in a Pool
worker, which returns a dict of sums; the parent adds them in file order."""
import csv
import glob
import multiprocessing as mp
import sys
import time
from collections import defaultdict


def revenue(path):
    sums = defaultdict(float)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            sums[f"{row['region']} {row['product']}"] += int(row["units"]) * float(row["price"])
    return sums


def main():
    files = sorted(glob.glob(sys.argv[1] + "/csv/*.csv"))
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    if not files:
        sys.exit(f"sales: no files in {sys.argv[1]}/csv")
    t = time.perf_counter()
    total = defaultdict(float)
    with mp.Pool(workers) as pool:
        for part in pool.map(revenue, files, chunksize=1):
            for key, v in part.items():
                total[key] += v
    keys = sorted(total)
    secs = time.perf_counter() - t
    grand = 0.0
    for key in keys:
        grand += total[key]
    print(f"groups {len(keys)} total {grand:.2f}")
    for key in keys:
        print(f"{key} {total[key]:.2f}")
    print(f"RESULT seconds {secs}")


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
