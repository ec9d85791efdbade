#!/usr/bin/env python3
"""Seeded data for the data-job benchmark (bench/jobs).

    python3 gen.py DIR [--seed N] [--small]

writes, under DIR (about 380 MB in all):

  words/text-000.txt .. text-199.txt   about 480 KB each: lines of English-like
      text, Zipf-distributed vocabulary, capitals, punctuation, numbers,
      contractions and some accented words (é, à, ü, ß, ø)
  csv/sales-00.csv .. sales-23.csv     100,000 rows each:
      date,region,product,units,price
  logs/app-00.jsonl .. app-49.jsonl    about 4 MB each: one JSON object a line
      (ts, service, method, path, status, latency_ms, bytes)

--small writes the same kinds of files, far fewer and shorter (6 text
files of 600 words, 3 CSV files of 200 rows, 3 logs of 300 lines, about
60 KB): the data committed beside the example scripts, scripts/jobs/data.

The same seed gives the same bytes. When DIR/.complete exists and names the
same seed and version, nothing is written (idempotent); otherwise the
folders are written again and the marker last, so an interrupted run is
redone.
"""
import argparse
import datetime
import json
import os
import random
import sys
import time
from pathlib import Path

VERSION = 1
# How many files of each kind, and how long: the benchmark's, and --small's.
FULL = {"word_files": 200, "words_per_file": 80_000, "csv_files": 24, "csv_rows": 100_000,
        "log_files": 50, "log_lines": 28_000}
SMALL = {"word_files": 6, "words_per_file": 600, "csv_files": 3, "csv_rows": 200,
         "log_files": 3, "log_lines": 300}

SYLLABLES = ("ka", "lo", "mi", "ne", "ra", "to", "su", "vi", "de", "ba", "re", "an",
             "or", "el", "ti", "po", "sa", "qu", "in", "ex", "un", "ly", "st", "th",
             "ch", "gr", "pl", "en", "ou", "ar", "é", "à", "ü", "ß", "ø")
COMMON = ("the of and to a in is it that was for on are as with his they at be this "
          "from have or by one had not but what all were when we there can an your "
          "which their said if do will each about how up out them then she many some "
          "so these would other into has more her two like him see time could no make "
          "than first been its who now people my made over did down only way find use "
          "may water long little very after words called just where most know").split()
CONTRACTIONS = ("don't", "it's", "can't", "we're", "o'clock", "isn't", "you'll", "he'd")


def vocabulary(rng):
    """Surface tokens and cumulative weights: a Zipf law over base words,
    each shared among a lower-case, a capitalised and punctuated forms."""
    base = list(COMMON)
    seen = set(base)
    while len(base) < 40_000:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            base.append(w)
    tokens, weights = [], []
    for rank, w in enumerate(base, 1):
        z = 1.0 / rank ** 1.07
        for form, share in ((w, 0.80), (w.capitalize(), 0.08), (w + ",", 0.07),
                            (w + ".", 0.04), (f"({w})", 0.01)):
            tokens.append(form)
            weights.append(z * share)
    extra = sum(weights) * 0.02
    for t in CONTRACTIONS:
        tokens.append(t)
        weights.append(extra / 16)
    for n in ("1", "2", "10", "42", "1999", "2026", "3.5", "100%", "7th", "x2"):
        tokens.append(n)
        weights.append(extra / 20)
    cum, s = [], 0.0
    for x in weights:
        s += x
        cum.append(s)
    return tokens, cum


def gen_words(folder, seed, size):
    folder.mkdir(parents=True, exist_ok=True)
    tokens, cum = vocabulary(random.Random(seed))
    for i in range(size["word_files"]):
        rng = random.Random(seed * 1_000_003 + i)
        picks = rng.choices(tokens, cum_weights=cum, k=size["words_per_file"])
        lines, at = [], 0
        while at < len(picks):
            n = rng.randint(6, 18)
            lines.append(" ".join(picks[at:at + n]))
            at += n
        (folder / f"text-{i:03d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


REGIONS = ("north", "south", "east", "west", "central", "online")


def gen_csv(folder, seed, size):
    folder.mkdir(parents=True, exist_ok=True)
    rng0 = random.Random(seed + 1)
    products = [f"{kind}-{n:02d}" for kind in ("widget", "gadget", "gizmo", "doohickey")
                for n in range(1, 11)]
    base_price = {p: round(rng0.uniform(2, 250), 2) for p in products}
    start = datetime.date(2026, 1, 1)
    dates = [(start + datetime.timedelta(days=d)).isoformat() for d in range(366)]
    for i in range(size["csv_files"]):
        rng = random.Random(seed * 7_919 + i)
        out = ["date,region,product,units,price"]
        region_w = [rng.uniform(0.5, 2) for _ in REGIONS]
        for _ in range(size["csv_rows"]):
            p = products[int(rng.random() ** 1.6 * len(products))]
            price = base_price[p] * (1 - rng.choice((0, 0, 0, 0.05, 0.1, 0.2)))
            out.append(f"{rng.choice(dates)},{rng.choices(REGIONS, region_w)[0]},{p},"
                       f"{rng.randint(1, 24)},{price:.2f}")
        (folder / f"sales-{i:02d}.csv").write_text("\n".join(out) + "\n")


SERVICES = {  # name: (median latency ms, spread, error rate)
    "auth": (18, 0.5, 0.004), "billing": (95, 0.7, 0.012), "catalog": (40, 0.6, 0.003),
    "checkout": (160, 0.8, 0.02), "email": (300, 0.9, 0.008), "gateway": (12, 0.4, 0.001),
    "inventory": (55, 0.6, 0.006), "payments": (210, 0.75, 0.015), "search": (70, 0.9, 0.005),
    "recommend": (130, 1.0, 0.01), "reviews": (35, 0.5, 0.002), "shipping": (85, 0.7, 0.009),
}


def gen_logs(folder, seed, size):
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(SERVICES)
    weights = [5, 2, 6, 2, 1, 9, 3, 2, 5, 3, 2, 2]
    methods = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
    t0 = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc).timestamp()
    for i in range(size["log_files"]):
        rng = random.Random(seed * 104_729 + i)
        t = t0 + i * 3600
        out = []
        for _ in range(size["log_lines"]):
            s = rng.choices(names, weights)[0]
            med, spread, err = SERVICES[s]
            t += rng.expovariate(8.0)
            lat = rng.lognormvariate(0, spread) * med
            if rng.random() < err:
                status = rng.choice((500, 502, 503, 504))
                lat *= 3
            else:
                status = rng.choice((200, 200, 200, 200, 201, 204, 301, 304, 400, 404))
            ts = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
            out.append(json.dumps({
                "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
                "service": s, "method": rng.choice(methods),
                "path": f"/api/v1/{s}/{rng.randint(1, 5000)}",
                "status": status, "latency_ms": round(lat, 1),
                "bytes": rng.randint(120, 60_000),
            }, separators=(",", ":")))
        (folder / f"app-{i:02d}.jsonl").write_text("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--small", action="store_true", help="a few small files (the examples' data)")
    a = ap.parse_args()
    root = Path(a.dir)
    size = SMALL if a.small else FULL
    marker = root / ".complete"
    stamp = f"version {VERSION} seed {a.seed}{' small' if a.small else ''}\n"
    if marker.exists() and marker.read_text() == stamp:
        print(f"gen.py: data already in {root}")
        return
    root.mkdir(parents=True, exist_ok=True)
    if marker.exists():
        marker.unlink()
    for name, fn in (("words", gen_words), ("csv", gen_csv), ("logs", gen_logs)):
        t = time.perf_counter()
        fn(root / name, a.seed, size)
        written = sum(f.stat().st_size for f in (root / name).iterdir())
        print(f"gen.py: {name}: {written / 1e6:.2f} MB in {time.perf_counter() - t:.1f} s",
              flush=True)
    marker.write_text(stamp)


if __name__ == "__main__":
    sys.exit(main())
