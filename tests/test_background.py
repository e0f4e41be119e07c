"""Helper processes (foldlite.background): forked from a single-threaded process on Linux, spawned
otherwise, and a `foldlite fold` writes the same files either way."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from run_outputs import run_files

START_METHOD = """
import threading, time
from foldlite.background import start_method
before = start_method()
threading.Thread(target=time.sleep, args=(1,), daemon=True).start()
print(before, start_method())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is used on Linux only")
def test_a_single_threaded_process_forks_and_one_with_threads_spawns():
    result = subprocess.run([sys.executable, "-c", START_METHOD], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["fork", "spawn"]


def test_forked_and_spawned_search_processes_give_the_same_files(tmp_path, tiny_weights, library_path):
    """A fresh `foldlite fold` forks its search process; with OpenBLAS threads started by the user's
    setting (OPENBLAS_NUM_THREADS=2, taken up when numpy is imported before the fork) it is
    multi-threaded by then, and spawns it."""
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKV\n")
    runs = {}
    for name, blas_threads in (("forked", None), ("spawned", "2")):
        env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
        if blas_threads:
            env["OPENBLAS_NUM_THREADS"] = blas_threads
        out = tmp_path / name
        result = subprocess.run([sys.executable, "-m", "foldlite", "fold", str(fasta), "-o", str(out), "--weights",
                                 tiny_weights, "--templates", library_path, "--no-plots", "--quiet"],
                                capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        runs[name] = run_files(out)
    assert runs["forked"] == runs["spawned"]
