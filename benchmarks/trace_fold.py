"""When each stage of a fresh `foldlite fold` starts and ends, in the folding and the search process.

    python benchmarks/trace_fold.py fold REC.fasta -o NEW_FOLDER --quiet     # any `foldlite` arguments

Runs the foldlite CLI in this process with a few of its functions wrapped (STAGES below): each call
prints "> name" when it starts and "< name" when it returns, on stderr, with the milliseconds since
this process was exec'd (from /proc, Linux only) and the process id, so that the forked search
process's lines line up with the folding process's. The wrappers cost microseconds per call;
Python's start before this script runs is included in the times. README "Speed and memory" ("Where a
fresh fold's time goes") was read off this output.
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import os
import runpy
import sys
import time

# module -> functions (or Class.method) to wrap when the module is imported
STAGES = {
    "foldlite.api": ["load_model"],
    "foldlite.model.onnx_network": ["OnnxNetwork.__init__", "OnnxNetwork.run"],
    "foldlite.templates.service": ["_load", "_search", "SearchService.result"],
    "foldlite.templates.search": ["find_templates", "prefilter", "_ungapped_scores"],
    "foldlite.templates.profile": ["digital_library", "profile_search"],
    "foldlite.geometry.reconstruct": ["reconstruct"],
    "foldlite.cli.fold_worker": ["RecordFolder.__init__", "RecordFolder.fold"],
    "foldlite.io.outputs": ["write_prediction"],
}


def _seconds_since_exec() -> float:
    """How long ago this process was started, from its start time in /proc/self/stat (clock ticks
    since boot) and the time since boot in /proc/uptime."""
    with open("/proc/self/stat") as stat:
        start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as uptime:
        return float(uptime.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")


_EXEC = time.perf_counter() - _seconds_since_exec()  # perf_counter's value at exec (inherited by a fork)


def log(message: str) -> None:
    sys.stderr.write(f"[{(time.perf_counter() - _EXEC) * 1000:7.0f} ms pid {os.getpid()}] {message}\n")


def _wrap(owner, name: str, label: str) -> None:
    function = getattr(owner, name, None)
    if function is None:
        log(f"(no {label} to trace)")
        return

    @functools.wraps(function)
    def traced(*args, **kwargs):
        log(f"> {label}")
        try:
            return function(*args, **kwargs)
        finally:
            log(f"< {label}")

    setattr(owner, name, traced)


class _Tracer(importlib.abc.MetaPathFinder):
    """Finds STAGES' modules through the other finders and wraps their functions once they ran."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in STAGES:
            return None
        sys.meta_path.remove(self)  # let the real finders find it
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            for target_name in STAGES[fullname]:
                owner_name, _, name = target_name.rpartition(".")
                owner = getattr(module, owner_name) if owner_name else module
                _wrap(owner, name, f"{fullname}.{target_name}")

        spec.loader.exec_module = exec_module
        return spec


if __name__ == "__main__":
    if not sys.platform.startswith("linux"):
        raise SystemExit("trace_fold.py reads /proc: Linux only")
    sys.meta_path.insert(0, _Tracer())
    log("tracer ready (Python started, this script imported)")
    sys.argv = ["foldlite", *sys.argv[1:]]
    runpy.run_module("foldlite", run_name="__main__", alter_sys=True)
