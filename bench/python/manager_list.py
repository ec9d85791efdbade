"""Two processes append N ints each to a Manager list, released together by a
Barrier. Timed from the barrier to both joins and the list's length.
argv: N. Prints appends/s (both processes together)."""
import multiprocessing as mp
import sys

from common import check, result, setup, time_released


def append(lst, barrier, start, n):
    barrier.wait()
    for i in range(start, start + n):
        lst.append(i)


def main():
    n = int(sys.argv[1])
    with mp.Manager() as m:
        lst = m.list()
        barrier = mp.Barrier(3)
        e = time_released(append, [(lst, barrier, start, n) for start in (0, n)],
                          barrier)
        length = len(lst)
        s = sum(lst[:])
    check(length == 2 * n and s == n * (2 * n - 1),
          f"length {length}, sum {s}")
    result("ops_per_s", 2 * n / e)


if __name__ == "__main__":
    setup()
    main()
