"""Shared by the Python workloads: the fork start method, results, checks,
and the timed shapes more than one workload uses."""
import multiprocessing as mp
import sys
import time


def setup():
    mp.set_start_method("fork")


def result(key, value):
    print(f"RESULT {key} {value!r}", flush=True)


def check(ok, message):
    if not ok:
        sys.exit(f"{sys.argv[0]}: {message}")


def ident(x):
    return x


def timed_identity_map(n, workers, chunksize=None, rounds=1):
    """A Pool maps the identity over 0..n (after a warm-up map, untimed),
    `rounds` times; checks each result and returns the best items/s."""
    xs = list(range(n))
    best = float("inf")
    with mp.Pool(workers) as p:
        p.map(ident, [0, 1], chunksize=chunksize)
        for _ in range(rounds):
            t = time.perf_counter()
            r = p.map(ident, xs, chunksize=chunksize)
            best = min(best, time.perf_counter() - t)
            check(len(r) == n and sum(r) == n * (n - 1) // 2 and r[-1] == n - 1,
                  f"wrong result (len {len(r)}, sum {sum(r)})")
    return n / best


def time_released(target, argses, barrier):
    """Starts a process per argument tuple; each waits on `barrier` (made for
    len(argses) + 1 parties) before its work. Returns the seconds from their
    release to the last join."""
    ps = [mp.Process(target=target, args=args) for args in argses]
    for p in ps:
        p.start()
    barrier.wait()
    t = time.perf_counter()
    for p in ps:
        p.join()
    return time.perf_counter() - t
