"""Uncontended Lock: N acquire+release pairs in one process. argv: N C
(C is the Rhai side's method-call count, unused here). Prints pairs/s."""
import multiprocessing as mp
import sys
import time

from common import check, result, setup


def main():
    n = int(sys.argv[1])
    lock = mp.Lock()
    lock.acquire()
    lock.release()
    t = time.perf_counter()
    got = 0
    for _ in range(n):
        if lock.acquire():
            got += 1
        lock.release()
    e = time.perf_counter() - t
    check(got == n, f"{got} of {n} acquires succeeded")
    result("pairs_per_s", n / e)


if __name__ == "__main__":
    setup()
    main()
