"""Uncontended Lock: N acquire+release pairs in one process, as two calls
and as `with lock:`. argv: N C
(C is the Rhai side's method-call count, unused here). Prints pairs/s."""
import multiprocessing as mp
import sys
import time

from common import check, result, setup


def main():
    n = int(sys.argv[1])
    lock = mp.Lock()
    # As on the Rhai side: success is checked apart, the timed loop is bare.
    got = 0
    for _ in range(1000):
        if lock.acquire():
            got += 1
        lock.release()
    check(got == 1000, f"{got} of 1000 acquires succeeded")
    t = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    e = time.perf_counter() - t
    result("pairs_per_s", n / e)
    inside = 0
    for _ in range(1000):
        with lock:
            if not lock.acquire(False):
                inside += 1
    check(inside == 1000, f"held in {inside} of 1000 blocks")
    t = time.perf_counter()
    for _ in range(n):
        with lock:
            pass
    e = time.perf_counter() - t
    result("with_pairs_per_s", n / e)


if __name__ == "__main__":
    setup()
    main()
