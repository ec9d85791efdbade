"""CPU-bound map: recursive fib(D) on each of N items, in this process and
with a Pool of W workers (pool start-up included), alternating, twice each;
the best of each is printed, as on the Rhai side. argv: N D W. Prints both
times in seconds."""
import multiprocessing as mp
import sys
import time

from common import check, result, setup


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def main():
    n, d, w = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    xs = [d] * n
    serial = parallel = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        s1 = 0
        for x in xs:
            s1 += fib(x)
        serial = min(serial, time.perf_counter() - t)
        t = time.perf_counter()
        with mp.Pool(w) as p:
            r = p.map(fib, xs)
        parallel = min(parallel, time.perf_counter() - t)
        check(len(r) == n and sum(r) == s1 == n * fib(d),
              f"wrong result (serial {s1}, parallel {sum(r)})")
    result("serial_s", serial)
    result("parallel_s", parallel)


if __name__ == "__main__":
    setup()
    main()
