"""Shared by the Python workloads: the fork start method, results, checks."""
import multiprocessing as mp
import sys


def setup():
    mp.set_start_method("fork")


def result(key, value):
    print(f"RESULT {key} {value!r}", flush=True)


def check(ok, message):
    if not ok:
        sys.exit(f"{sys.argv[0]}: {message}")
