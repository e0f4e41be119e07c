"""The figure process of `foldlite fold` (foldlite.io.figure_service): the same PNG as one drawn here,
answers by key, and a fold that goes on drawing here when the process dies."""
from __future__ import annotations

import os

import pytest

import foldlite
from foldlite.io.figure_service import FigureService, FigureServiceError
from foldlite.io.plots import figure_data, figure_png


@pytest.fixture(scope="module")
def predictions(model):
    return [foldlite.fold(sequence, model=model, templates=None)
            for sequence in ("MKTAYIAKQRQISFVKSHFSRQLEERLG", "GSHMSLFDFFKNKGSAAATMRRHYAE")]


def test_the_figure_process_draws_the_figure_drawn_here(predictions):
    service = FigureService()
    try:
        for key, prediction in enumerate(predictions):
            service.request(key, figure_data(prediction))
        # asked in order, collected in any order
        for key in reversed(range(len(predictions))):
            png = service.result(key)
            assert png.startswith(b"\x89PNG")
            assert png == figure_png(figure_data(predictions[key]))
    finally:
        service.close()
    assert not service._process.is_alive() and service._process.exitcode == 0


def test_a_dead_figure_process_is_an_error_not_a_hang(predictions):
    service = FigureService()
    service.ready()
    service._process.kill()
    service._process.join()
    with pytest.raises(FigureServiceError):
        service.request(0, figure_data(predictions[0]))
        service.result(0)
    service.close()


def test_a_fold_goes_on_drawing_here_when_the_process_dies(tiny_weights, tmp_path, capsys):
    from foldlite.cli.fold_worker import FoldJob, RecordFolder, RecordTask

    job = FoldJob(out=str(tmp_path), weights=tiny_weights, templates="none")
    figures = FigureService()
    folder = RecordFolder(job, figures=figures)
    figures._process.kill()
    figures._process.join()
    row = folder.fold(RecordTask(0, "q", "q", "MKTAYIAKQRQISFVKSHFSRQLEERLG"))
    figures.close()
    assert row.ok, row.status
    assert "drawing figures in this process" in capsys.readouterr().err
    assert folder.figures is None
    assert (tmp_path / "q.png").read_bytes().startswith(b"\x89PNG")


def test_the_fold_command_writes_the_figure_a_fold_here_draws(tiny_weights, tmp_path):
    """`foldlite fold` (serial: figures from the figure process) and write_prediction here give the
    same PNG bytes for the same record and seed."""
    from foldlite.cli import main
    from foldlite.io.outputs import write_prediction

    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLG"
    assert main(["fold", "--sequence", sequence, "--id", "q", "-o", str(tmp_path / "cli"),
                 "--weights", tiny_weights, "--templates", "none", "--quiet"]) == 0
    prediction = foldlite.fold(sequence, model=foldlite.load_model(tiny_weights), templates=None,
                               record_id="q")
    write_prediction(prediction, tmp_path / "here", name="q")
    assert (tmp_path / "cli" / "q.png").read_bytes() == (tmp_path / "here" / "q.png").read_bytes()


@pytest.mark.parametrize("extra", [[], ["--workers", "2"]], ids=["serial", "workers"])
def test_ctrl_c_stops_the_fold_and_its_helper_processes_quietly(tiny_weights, tmp_path, extra):
    """Ctrl-C in a terminal reaches the whole process group: the command says it was interrupted
    (exit 130), and its search and figure processes (serial) or its worker processes leave without
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


def test_only_a_single_record_run_starts_a_figure_process(tiny_weights, tmp_path, monkeypatch):
    """Many records pay matplotlib's import once and draw in the folding process (a figure process
    competed with the next record's search there); one record draws in a figure process."""
    from foldlite.cli import main
    from foldlite.io import figure_service

    started = []

    class Counted(figure_service.FigureService):
        def __init__(self):
            started.append(1)
            super().__init__()

    monkeypatch.setattr(figure_service, "FigureService", Counted)
    common = ["--weights", tiny_weights, "--templates", "none", "--quiet"]
    fasta = tmp_path / "two.fasta"
    fasta.write_text(">a\nMKTAYIAKQRQISFVKSHFSRQ\n>b\nGSHMSLFDFFKNKGSAAATMRR\n")
    assert main(["fold", str(fasta), "-o", str(tmp_path / "two"), *common]) == 0
    assert started == [] and (tmp_path / "two" / "b.png").exists()
    assert main(["fold", "--sequence", "MKTAYIAKQRQISFVKSHFSRQ", "-o", str(tmp_path / "one"), *common]) == 0
    assert started == [1] and (tmp_path / "one" / "query.png").exists()


def test_a_prepared_frame_gives_the_same_png_and_leaves_nothing_to_collect(predictions):
    service = FigureService()
    try:
        data = figure_data(predictions[0])
        service.prepare(len(data.plddt))
        service.prepare(len(data.plddt))  # asked twice while pending: drawn once
        service.request("figure", data)
        assert service.result("figure") == figure_png(data)
        assert not service._answers and not service._pending and not service._unwanted
    finally:
        service.close()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no idle scheduling class on this OS")
def test_the_figure_process_runs_only_on_idle_cpu_time():
    """Spawned beside the search process at a fold's start, it must not take CPU time from the search
    or from the fold's torch threads (whose parallel regions wait for their slowest thread)."""
    service = FigureService()
    try:
        assert os.sched_getscheduler(service._process.pid) == os.SCHED_IDLE
        service.ready()
    finally:
        service.close()
