"""Contended Lock: two processes each do N acquire+release pairs on one lock,
released together by a Barrier. Timed from the barrier to both joins.
argv: N. Prints pairs/s (both processes together)."""
import multiprocessing as mp
import sys

from common import check, result, setup, time_released


def worker(lock, barrier, n, results, i):
    barrier.wait()
    got = 0
    for _ in range(n):
        if lock.acquire():
            got += 1
        lock.release()
    results[i] = got


def main():
    n = int(sys.argv[1])
    lock = mp.Lock()
    barrier = mp.Barrier(3)
    results = mp.Array("q", 2, lock=False)
    e = time_released(worker, [(lock, barrier, n, results, i) for i in range(2)],
                      barrier)
    got = sum(results)
    check(got == 2 * n, f"{got} of {2 * n} acquires succeeded")
    result("pairs_per_s", 2 * n / e)


if __name__ == "__main__":
    setup()
    main()
