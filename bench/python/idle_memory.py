"""An idle worker for bench/run to measure: starts a process that waits on an
Event, prints its pid, holds it for H seconds (bench/run reads
/proc/PID/smaps_rollup meanwhile), then lets it go. argv: H."""
import multiprocessing as mp
import sys
import time

from common import check, setup


def idle(e):
    e.wait()


def main():
    hold = float(sys.argv[1])
    e = mp.Event()
    p = mp.Process(target=idle, args=(e,))
    p.start()
    time.sleep(0.3)
    print(f"PID {p.pid}", flush=True)
    time.sleep(hold)
    e.set()
    p.join()
    check(p.exitcode == 0, f"idle worker exited with {p.exitcode}")


if __name__ == "__main__":
    setup()
    main()
