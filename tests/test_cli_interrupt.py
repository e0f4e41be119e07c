"""Ctrl-C during `foldlite fold`: one line, exit code 130, and its helper processes leave quietly."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("extra", [[], ["--workers", "2"]], ids=["serial", "workers"])
def test_ctrl_c_stops_the_fold_and_its_helper_processes_quietly(tiny_weights, tmp_path, extra):
    """Ctrl-C in a terminal reaches the whole process group: the command says it was interrupted
    (exit 130), and its search process (serial) or its worker processes leave without
    a word of their own ("Process NAME:" and a traceback each, before they ignored SIGINT)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from foldlite.data.chains import sample_chainset_path
    from foldlite.templates.build import build_library

    library = tmp_path / "library.npz"
    build_library(sample_chainset_path(), library)
    fasta = tmp_path / "many.fasta"
    fasta.write_text("".join(f">r{i}\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKV\n" for i in range(300)))
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "foldlite", "fold", str(fasta), "-o", str(out),
                                "--weights", tiny_weights, "--templates", str(library), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               # as from a terminal: a test run started in the background (`cmd &` in a
                               # script) inherits SIGINT ignored, and Python then never raises Ctrl-C
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while not (out / "r1.pdb").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, "the run ended before it could be interrupted"
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err and "Process " not in err, err[-3000:]
    assert "leaked semaphore" not in err, err[-3000:]  # the --workers pool is cleaned up before the exit
