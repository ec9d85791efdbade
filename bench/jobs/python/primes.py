"""primes: count the primes below N (default 1,000,000) by trial division,
in plain Python loops: this measures the interpreter.
argv: DATA (unused) [WORKERS] [N]. The range is cut into pieces of 50,000
handed out by Pool.map, one piece at a time."""
import multiprocessing as mp
import sys
import time


def count_primes(rng):
    lo, hi = rng
    small = []  # the primes up to sqrt(hi)
    k = 2
    while k * k < hi:
        prime = True
        for p in small:
            if p * p > k:
                break
            if k % p == 0:
                prime = False
                break
        if prime:
            small.append(k)
        k += 1
    count = 0
    for n in range(max(lo, 2), hi):
        prime = True
        for p in small:
            if p * p > n:
                break
            if n % p == 0:
                prime = False
                break
        if prime:
            count += 1
    return count


def main():
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    step = 50_000
    ranges = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    t = time.perf_counter()
    with mp.Pool(workers) as pool:
        total = sum(pool.map(count_primes, ranges, chunksize=1))
    secs = time.perf_counter() - t
    print(f"primes below {n}: {total}")
    if n == 1_000_000 and total != 78498:
        sys.exit(f"primes: counted {total}, not 78498")
    print(f"RESULT seconds {secs}")


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
