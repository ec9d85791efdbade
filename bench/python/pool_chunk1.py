"""A Pool of W workers maps the identity over 0..N with chunksize=1. Pool
start-up is not timed (a warm-up map runs first). argv: N W. Prints items/s."""
import multiprocessing as mp
import sys
import time

from common import check, result, setup


def ident(x):
    return x


def main():
    n, w = int(sys.argv[1]), int(sys.argv[2])
    xs = list(range(n))
    with mp.Pool(w) as p:
        p.map(ident, [0, 1], chunksize=1)
        t = time.perf_counter()
        r = p.map(ident, xs, chunksize=1)
        e = time.perf_counter() - t
    check(len(r) == n and sum(r) == n * (n - 1) // 2 and r[-1] == n - 1,
          f"wrong result (len {len(r)}, sum {sum(r)})")
    result("items_per_s", n / e)


if __name__ == "__main__":
    setup()
    main()
