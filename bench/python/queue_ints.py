"""A child puts the ints 0..N on a Queue; this process gets them, checking
their order. Timed from before the start to after the join. argv: N.
Prints items/s."""
import multiprocessing as mp
import sys
import time

from common import check, result, setup


def produce(q, n):
    for i in range(n):
        q.put(i)


def main():
    n = int(sys.argv[1])
    q = mp.Queue()
    t = time.perf_counter()
    p = mp.Process(target=produce, args=(q, n))
    p.start()
    bad = 0
    for i in range(n):
        if q.get() != i:
            bad += 1
    p.join()
    e = time.perf_counter() - t
    check(bad == 0 and p.exitcode == 0,
          f"{bad} items out of order, exit code {p.exitcode}")
    result("items_per_s", n / e)


if __name__ == "__main__":
    setup()
    main()
