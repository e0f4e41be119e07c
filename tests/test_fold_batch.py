"""Many records: --workers N and --ray write the same files as a serial run, summary.tsv, progress output."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from foldlite.cli import main
from run_outputs import run_files
from foldlite.progress import BarProgress, PlainProgress, progress


@pytest.fixture(scope="module")
def fasta(tmp_path_factory, chainset):
    """Three short test/valid chains (they find themselves in the sample library: templates used) and a
    made-up sequence (none found), in an order that is not by length."""
    order = np.argsort(chainset.lengths)
    picks = [int(i) for i in order if 30 <= chainset.lengths[i] <= 60][:3]
    records = {str(chainset.names[i]): chainset.sequence(i) for i in picks}
    records["made_up"] = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKV"
    path = tmp_path_factory.mktemp("batch") / "in.fasta"
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in reversed(list(records.items()))))
    return path, records


def _fold(fasta_path, out, weights, library_path, *extra):
    return main(["fold", str(fasta_path), "-o", str(out), "--weights", weights, "--templates", str(library_path),
                 "--no-plots", "--threads", "1", *extra])


@pytest.fixture(scope="module")
def serial(tmp_path_factory, fasta, tiny_weights, library_path):
    out = tmp_path_factory.mktemp("serial") / "out"
    assert _fold(fasta[0], out, tiny_weights, library_path) == 0
    return out


def test_serial_run_used_templates_and_wrote_every_record(serial, fasta):
    files = run_files(serial)
    assert {f"{name}.pdb" for name in fasta[1]} <= set(files)
    assert any(files[f"{name}.json"]["templates"] for name in fasta[1])  # the library was searched


def test_workers_write_the_same_files_as_a_serial_run(tmp_path, serial, fasta, tiny_weights, library_path):
    out = tmp_path / "out"
    assert _fold(fasta[0], out, tiny_weights, library_path, "--workers", "2") == 0
    assert run_files(out) == run_files(serial)
    assert (out / "summary.tsv").read_text().splitlines()[1:] != []


def test_ray_writes_the_same_files_as_a_serial_run(tmp_path, serial, fasta, tiny_weights, library_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")  # a local Ray of 2 CPUs
    try:
        out = tmp_path / "out"
        assert _fold(fasta[0], out, tiny_weights, library_path, "--ray") == 0
    finally:
        ray.shutdown()
    assert run_files(out) == run_files(serial)


def _summary(out):
    return list(csv.DictReader(io.StringIO((out / "summary.tsv").read_text()), delimiter="\t"))


def test_summary_lists_records_in_input_order_with_scores_failures_and_skips(tmp_path, fasta, tiny_weights,
                                                                            library_path, monkeypatch):
    import foldlite.api

    fold_models = foldlite.api.fold_models

    def failing(sequence, *args, record_id="query", **kwargs):
        if record_id == "made_up":
            raise RuntimeError("planted failure")
        return fold_models(sequence, *args, record_id=record_id, **kwargs)

    monkeypatch.setattr(foldlite.api, "fold_models", failing)
    out = tmp_path / "out"
    assert _fold(fasta[0], out, tiny_weights, library_path) == 1  # one record failed
    rows = _summary(out)
    names = list(reversed(list(fasta[1])))  # the FASTA's order
    assert [r["id"] for r in rows] == names and [r["file"] for r in rows] == names
    assert list(rows[0]) == ["id", "file", "length", "mean_plddt", "ptm", "templates", "seconds", "status", "error"]
    by_id = {r["id"]: r for r in rows}
    assert by_id["made_up"]["status"] == "failed" and "planted failure" in by_id["made_up"]["error"]
    assert by_id["made_up"]["mean_plddt"] == ""
    for name, sequence in fasta[1].items():
        row = by_id[name]
        assert int(row["length"]) == len(sequence)
        if name == "made_up":
            continue
        summary = json.loads((out / f"{name}.json").read_text())
        assert row["status"] == "ok" and row["error"] == ""
        assert float(row["mean_plddt"]) == pytest.approx(summary["mean_plddt"], abs=0.01)
        assert float(row["seconds"]) == pytest.approx(summary["timings_s"]["total"], abs=1e-3)
        assert row["templates"].split(", ")[0].split()[0] == summary["templates"][0]["name"]
    # JSON timings add up: the stages sum to the total the table and the summary show
    timings = json.loads((out / f"{names[1]}.json").read_text())["timings_s"]
    assert sum(v for k, v in timings.items() if k != "total") == pytest.approx(timings["total"], abs=1e-3)

    monkeypatch.setattr(foldlite.api, "fold_models", fold_models)
    assert _fold(fasta[0], out, tiny_weights, library_path) == 0  # the rerun folds only the failed one
    again = {r["id"]: r for r in _summary(out)}
    assert again["made_up"]["status"] == "ok"
    for name in fasta[1]:
        if name != "made_up":
            assert again[name]["status"] == "skipped" and "done" in again[name]["error"]
            assert again[name]["mean_plddt"] == by_id[name]["mean_plddt"]  # read back from its JSON


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path, fasta, tiny_weights, library_path,
                                                              capsys):
    assert _fold(fasta[0], tmp_path / "out", tiny_weights, library_path) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fold: ")]
    total = len(fasta[1])
    assert [line.split()[1] for line in lines] == [f"{k}/{total}" for k in range(1, total + 1)]
    assert all("record/s, ETA" in line for line in lines)
    assert "\r" not in "".join(lines)  # no bar drawing in a log file


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_draws_a_bar_with_rate_and_eta_on_a_terminal():
    pytest.importorskip("tqdm")
    stream = _Terminal()
    bar = progress(4, "fold", "record", stream=stream)
    assert isinstance(bar, BarProgress)
    for _ in range(4):
        bar.update(note="x ok")
    bar.close()
    text = stream.getvalue()
    assert "4/4" in text and "record/s" in text and "\r" in text
    assert isinstance(progress(4, "fold", "record", stream=io.StringIO()), PlainProgress)


def test_plain_progress_waits_between_lines_but_always_prints_the_last():
    stream = io.StringIO()
    bar = PlainProgress(100, "search", "record", stream, every_s=3600)
    for _ in range(100):
        bar.update()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("search: 1/100") and lines[1].startswith("search: 100/100")


def test_workers_fold_with_the_parent_runs_precision(monkeypatch, tmp_path, tiny_weights):
    """A bf16-or-fp32 timing taken in each worker could come out differently on a busy machine (and the
    two precisions give slightly different files): the parent decides once and every worker uses that."""
    from foldlite.cli import build_parser
    from foldlite.cli.fold import _fold_job
    from foldlite.cli.fold_worker import FoldJob, RecordFolder
    from foldlite.model import precision

    monkeypatch.setattr(precision, "_FIXED", {})
    precision.cpu_bf16_is_fast.cache_clear()
    try:
        args = build_parser().parse_args(["fold", "--sequence", "MKTAYIAKQR", "-o", str(tmp_path), "--workers", "2",
                                          "--weights", tiny_weights, "--runtime", "torch"])
        assert _fold_job(args).bf16 == precision.cpu_bf16_is_fast()
        serial = build_parser().parse_args(["fold", "--sequence", "MKTAYIAKQR", "-o", str(tmp_path), "--runtime", "torch"])
        assert _fold_job(serial).bf16 is None  # one process: it decides where it folds
        for planted in (True, False):  # a worker takes the job's decision, whatever it would measure
            RecordFolder(FoldJob(out=str(tmp_path), weights=tiny_weights, templates="none", bf16=planted,
                                 runtime="torch"))
            assert precision.cpu_bf16_is_fast() is planted
    finally:
        precision.cpu_bf16_is_fast.cache_clear()


def test_workers_fold_on_the_runtime_the_parent_settled(tmp_path, tiny_weights):
    """The parent settles the runtime once (exporting the network for ONNX Runtime first), so that every
    worker folds on the same one; fp32 ONNX needs no bf16 decision."""
    from foldlite.cli import build_parser
    from foldlite.cli.fold import _fold_job

    args = build_parser().parse_args(["fold", "--sequence", "MKTAYIAKQR", "-o", str(tmp_path), "--workers", "2",
                                      "--weights", tiny_weights, "--runtime", "onnx"])
    job = _fold_job(args)
    assert (job.runtime, job.bf16) == ("onnx", None)
    serial = build_parser().parse_args(["fold", "--sequence", "MKTAYIAKQR", "-o", str(tmp_path)])
    assert _fold_job(serial).runtime == "auto"  # one process: it decides where it folds


def _folding_order(stderr: str) -> list[str]:
    """Record ids in the order the plain progress lines report them (fold: k/N records ...: ID (L aa) ...)."""
    return [line.split(": ")[-1].split(" (")[0] for line in stderr.splitlines() if line.startswith("fold: ")]


def test_records_fold_longest_first_unless_input_order_is_asked_for(tmp_path, fasta, tiny_weights, library_path,
                                                                    capsys):
    records = dict(sorted(fasta[1].items(), key=lambda item: len(item[1])))  # shortest first
    path = tmp_path / "ascending.fasta"
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    by_length = sorted(records, key=lambda name: -len(records[name]))
    assert by_length != list(records)  # the input is not already longest first

    assert _fold(path, tmp_path / "longest", tiny_weights, library_path) == 0
    assert _folding_order(capsys.readouterr().err) == by_length
    assert _fold(path, tmp_path / "input", tiny_weights, library_path, "--order", "input") == 0
    assert _folding_order(capsys.readouterr().err) == list(records)
    # the order only changes when records fold: files and summary are the same, the summary in input order
    assert run_files(tmp_path / "longest") == run_files(tmp_path / "input")
    assert [row["id"] for row in _summary(tmp_path / "longest")] == list(records)


def test_longest_first_keeps_input_order_among_equal_lengths():
    from foldlite.cli.fold_order import longest_first
    from foldlite.cli.fold_worker import RecordTask

    tasks = [RecordTask(index, f"r{index}", f"r{index}", "A" * length, ()) for index, length in
             enumerate([20, 50, 20, 50, 35])]
    assert [task.index for task in longest_first(iter(tasks))] == [1, 3, 4, 0, 2]


def test_the_input_preview_names_the_record_that_folds_first_and_counts_the_records(tmp_path):
    """What the fold command knows before the model loads: which record the search process searches
    first, and whether a figure process (one record only) is worth spawning beside it."""
    from argparse import Namespace

    from foldlite.cli.fold_order import input_preview

    path = tmp_path / "three.fasta"
    path.write_text(">a\nMKTAYIAK\n>b\nmktayiakqrqisfvk\n>c\nMKTAYIAKQRQ\n")
    args = Namespace(sequence=None, id="query", input=str(path), order="longest")
    assert input_preview(args) == (1, "MKTAYIAKQRQISFVK", 3)
    assert input_preview(Namespace(**{**vars(args), "order": "input"})) == (0, "MKTAYIAK", 3)
    assert input_preview(Namespace(**{**vars(args), "input": None, "sequence": "gshm"})) == (0, "GSHM", 1)
    (tmp_path / "broken.fasta").write_text("not a fasta file\n")
    assert input_preview(Namespace(**{**vars(args), "input": str(tmp_path / "broken.fasta")})) is None
    assert input_preview(Namespace(**{**vars(args), "input": str(tmp_path / "missing.fasta")})) is None


def test_the_eta_follows_the_work_left_not_the_count(monkeypatch):
    """Longest first, the first record of two can take 9/10 of the time: one record done out of two
    must not mean half the time is left. A record an earlier run finished takes its work off."""
    from foldlite import progress as progress_module

    clock = iter([0.0, 9.0, 9.5])
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    stream = io.StringIO()
    bar = PlainProgress(3, "fold", "record", stream, work=20.0)
    bar.drop(10.0)  # the third record was folded by an earlier run
    bar.update(work=0.0)
    bar.update(note="long ok", work=9.0)  # 9 s for 9 of the 10 units left
    first, second = stream.getvalue().splitlines()
    assert "ETA ?" in first  # nothing folded yet: no pace to go by
    assert second.startswith("fold: 2/3 records") and "ETA 1 s: long ok" in second


def test_the_bar_fills_by_work_and_still_counts_records():
    pytest.importorskip("tqdm")
    stream = _Terminal()
    bar = progress(2, "fold", "record", stream=stream, work=10.0)
    bar.update(note="long ok", work=9.0)
    bar.close()
    text = stream.getvalue()
    assert " 90%" in text and "1/2 records" in text and "record/s: long ok" in text


def test_fold_cost_grows_with_the_pair_map_and_keeps_a_share_per_record():
    from foldlite.cli.fold_order import fold_cost

    assert fold_cost(50) < fold_cost(100) < fold_cost(300)
    assert 2.5 < fold_cost(400) / fold_cost(100) < 5  # measured: ~4.5 s against ~1.2 s
