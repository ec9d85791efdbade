"""pipeline: one producer process reads the lines of DATA/words/*.txt and
puts them on a bounded multiprocessing.Queue in batches of 2,000 lines; two
consumer processes count the words of each batch (re + Counter) and send
their Counters back; the parent merges them and prints the top 20.
argv: DATA [CONSUMERS]."""
import glob
import multiprocessing as mp
import re
import sys
import time
from collections import Counter

BATCH = 2000
WORD = re.compile(r"[^\W\d_]+")


def produce(q, files, consumers):
    for path in files:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for i in range(0, len(lines), BATCH):
            q.put(lines[i:i + BATCH])
    for _ in range(consumers):
        q.put(None)  # one stop sign per consumer


def consume(q, results):
    c = Counter()
    while (batch := q.get()) is not None:
        c.update(WORD.findall("\n".join(batch).lower()))
    results.put(c)


def main():
    files = sorted(glob.glob(sys.argv[1] + "/words/*.txt"))
    consumers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    if not files:
        sys.exit(f"pipeline: no files in {sys.argv[1]}/words")
    t = time.perf_counter()
    q = mp.Queue(16)
    results = mp.Queue()
    producer = mp.Process(target=produce, args=(q, files, consumers))
    producer.start()
    workers = [mp.Process(target=consume, args=(q, results)) for _ in range(consumers)]
    for w in workers:
        w.start()
    total = Counter()
    for _ in workers:
        total.update(results.get())  # before join: a full pipe would block the child
    for p in (producer, *workers):
        p.join()
        if p.exitcode != 0:
            sys.exit(f"pipeline: {p.name} exited with {p.exitcode}")
    top = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    secs = time.perf_counter() - t
    print(f"words {total.total()} distinct {len(total)}")
    for w, n in top:
        print(f"{w} {n}")
    print(f"RESULT seconds {secs}")


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
