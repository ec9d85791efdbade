"""words: word-frequency top 20 over the text files of DATA/words.
argv: DATA [WORKERS]. Each file is counted in a Pool worker (re + Counter);
the parent merges the Counters."""
import glob
import multiprocessing as mp
import re
import sys
import time
from collections import Counter

WORD = re.compile(r"[^\W\d_]+")


def count_file(path):
    with open(path, encoding="utf-8") as f:
        return Counter(WORD.findall(f.read().lower()))


def main():
    files = sorted(glob.glob(sys.argv[1] + "/words/*.txt"))
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    if not files:
        sys.exit(f"words: no files in {sys.argv[1]}/words")
    t = time.perf_counter()
    total = Counter()
    with mp.Pool(workers) as pool:
        for part in pool.imap_unordered(count_file, files, chunksize=4):
            total.update(part)
    # Ties ranked by the word, as mphost's most_common does.
    top = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    secs = time.perf_counter() - t
    print(f"words {total.total()} distinct {len(total)}")
    for w, n in top:
        print(f"{w} {n}")
    print(f"RESULT seconds {secs}")


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
