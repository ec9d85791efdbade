"""Two processes append N ints each to a Manager list, released together by a
Barrier. Timed from the barrier to both joins and the list's length.
argv: N. Prints appends/s (both processes together)."""
import multiprocessing as mp
import sys
import time

from common import check, result, setup


def append(lst, barrier, start, n):
    barrier.wait()
    for i in range(start, start + n):
        lst.append(i)


def main():
    n = int(sys.argv[1])
    with mp.Manager() as m:
        lst = m.list()
        barrier = mp.Barrier(3)
        ps = [mp.Process(target=append, args=(lst, barrier, start, n))
              for start in (0, n)]
        for p in ps:
            p.start()
        barrier.wait()
        t = time.perf_counter()
        for p in ps:
            p.join()
        length = len(lst)
        e = time.perf_counter() - t
        s = sum(lst[:])
    check(length == 2 * n and s == n * (2 * n - 1),
          f"length {length}, sum {s}")
    result("ops_per_s", 2 * n / e)


if __name__ == "__main__":
    setup()
    main()
