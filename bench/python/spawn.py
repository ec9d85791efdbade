"""spawn+join of a no-op worker, N in a row (after one warm-up spawn).
argv: N. Prints the time per spawn+join."""
import multiprocessing as mp
import sys
import time

from common import check, result, setup


def noop():
    pass


def main():
    n = int(sys.argv[1])
    p = mp.Process(target=noop)
    p.start()
    p.join()
    t = time.perf_counter()
    ok = 0
    for _ in range(n):
        p = mp.Process(target=noop)
        p.start()
        p.join()
        ok += p.exitcode == 0
    e = time.perf_counter() - t
    check(ok == n, f"only {ok} of {n} workers exited with 0")
    result("per_spawn_ms", e * 1000 / n)


if __name__ == "__main__":
    setup()
    main()
