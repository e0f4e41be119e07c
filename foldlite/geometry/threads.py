"""The geometry's numpy maths on one BLAS thread.

Its matrices are small (coordinates [L, 3], maps [L, L] at most), where OpenBLAS's second thread only
spins: on 2 cores the refinement took the same wall time with one thread or two, at twice the CPU time
with two, CPU time that a fold's search process and the other workers of a run need. A fixed count also
keeps results bit-identical between a serial run, --workers and Ray actors (Ray sets its own thread
counts in its workers): sums split over other thread counts round differently.
"""
from __future__ import annotations

import functools

from threadpoolctl import threadpool_limits


def one_blas_thread():
    """A context in which numpy's (and scipy's) BLAS runs on one thread; restored on exit."""
    return threadpool_limits(limits=1, user_api="blas")


def on_one_blas_thread(function):
    """Decorator: `function` always runs under one_blas_thread(), whoever calls it."""
    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        with one_blas_thread():
            return function(*args, **kwargs)
    return wrapped
