"""The template search process of `foldlite fold` (foldlite.templates.service): the same hits as a
search in this process, only the chains hit sent back, clear errors for a bad library, and a fold
that goes on searching here when the process dies. Also the k-mer index it builds (search.kmer_index)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from foldlite.templates import search as template_search
from foldlite.templates.library import LibraryError
from foldlite.templates.search import K, find_templates, kmer_index
from foldlite.templates.service import SearchService, SearchServiceError


@pytest.fixture(scope="module")
def queries(chainset):
    """Three sample chains of different lengths, and a sequence with no relative."""
    picks = [int(np.flatnonzero(chainset.lengths >= low)[0]) for low in (40, 120, 250)]
    return [chainset.chain(i).sequence for i in picks] + ["MKVLAAGIVGLLALSQPAWA" * 3]


def _same_hits(mine, theirs, library, subset):
    assert [h.name for h in mine] == [h.name for h in theirs]
    for here, there in zip(mine, theirs):
        assert (here.evalue, here.identity, here.coverage) == (there.evalue, there.identity, there.coverage)
        assert np.array_equal(here.query_idx, there.query_idx) and np.array_equal(here.target_idx, there.target_idx)
        # the renumbered index points at the same chain, with the same coordinates
        assert subset.names[there.index] == here.name
        assert np.array_equal(subset.ca(there.index), library.ca(here.index))
        assert np.array_equal(subset.cb(there.index), library.cb(here.index))
        assert subset.sequence(there.index) == library.sequence(here.index)


def test_the_search_process_finds_what_a_search_here_finds(library, library_path, queries):
    service = SearchService(str(library_path))
    try:
        for key, sequence in enumerate(queries):  # all queued first: answers are kept until asked for
            service.request(key, sequence)
        service.request(0, queries[0])  # asked twice: searched once
        assert service.describe() == f"{library_path} ({len(library)} chains)"
        answers = {key: service.result(key) for key in reversed(range(len(queries)))}  # any order
        for key, (hits, subset) in answers.items():
            _same_hits(find_templates(queries[key], library), hits, library, subset)
            assert len(subset) == len({h.index for h in hits})  # only the chains hit travel back
        assert answers[0][0]  # a sample chain finds itself
        assert answers[3][0] == [] and len(answers[3][1]) == 0  # the unrelated sequence
    finally:
        service.close()
        service.close()  # idempotent
    assert not service._process.is_alive()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no idle scheduling class on this OS")
def test_searches_after_the_first_run_only_on_idle_cpu_time(library_path, queries):
    """The first search is what a fold waits for (nice 10, beside the torch import); the searches
    for the next records run ahead while the fold's torch threads work, so they must not preempt them."""
    service = SearchService(str(library_path))
    try:
        service.request(0, queries[0])
        service.request(1, queries[1])
        assert os.sched_getscheduler(service._process.pid) != os.SCHED_IDLE
        service.result(0)
        assert os.sched_getscheduler(service._process.pid) == os.SCHED_IDLE
        service.result(1)
    finally:
        service.close()


def test_a_bad_library_is_a_library_error(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a library")
    for path in (tmp_path / "missing.npz", broken):
        service = SearchService(str(path))
        try:
            with pytest.raises(LibraryError, match=str(path.name)):
                service.describe()
        finally:
            service.close()


def test_a_dead_search_process_is_an_error_not_a_hang(library_path, queries):
    service = SearchService(str(library_path))
    service.describe()
    service._process.kill()
    service._process.join()
    with pytest.raises(SearchServiceError):
        service.request(0, queries[0])
        service.result(0)
    service.close()


def test_a_fold_goes_on_searching_here_when_the_process_dies(tiny_weights, library_path, queries, tmp_path, capsys):
    from foldlite.cli.fold_worker import FoldJob, RecordFolder, RecordTask

    job = FoldJob(out=str(tmp_path), weights=tiny_weights, templates=str(library_path), plots=False)
    service = SearchService(job.templates)
    folder = RecordFolder(job, service)
    service._process.kill()
    service._process.join()
    row = folder.fold(RecordTask(0, "q", "q", queries[1]))
    service.close()
    assert row.ok, row.status
    assert row.templates and "searching in this process" in capsys.readouterr().err
    assert folder.search is None and folder.library is not None


def test_kmer_index_lists_every_usable_kmer_once_by_code(library):
    starts, positions = kmer_index(library)
    codes = template_search._kmer_codes(library.seq)  # [R - K + 1], -1 for k-mers with X
    chain_of = library.residue_chain()
    inside = np.zeros(len(codes), bool)
    inside[:] = chain_of[:len(codes)] == chain_of[K - 1:]  # the k-mer ends in the chain it starts in
    expected = np.flatnonzero((codes >= 0) & inside)
    assert np.array_equal(np.sort(positions), expected)
    for code in np.unique(codes[expected])[:50]:
        rows = positions[starts[code]:starts[code + 1]]
        assert np.all(codes[rows] == code) and np.all(np.diff(rows) > 0)  # by row within a code


def _foldlite(*args, cwd):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "foldlite", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_the_foldlite_command_folds_with_its_search_process(tmp_path, tiny_weights, library_path, queries):
    """The command as users run it (console(): main, then os._exit): table printed, files whole."""
    import json

    fasta = tmp_path / "two.fasta"
    fasta.write_text(f">first\n{queries[1]}\n>second\n{queries[3]}\n")
    out = tmp_path / "out"
    result = _foldlite("fold", str(fasta), "-o", str(out), "--weights", tiny_weights, "--templates",
                       str(library_path), "--no-plots", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"templates: {library_path} (" in result.stderr
    assert "2/2 folded" in result.stdout  # flushed before the process left without teardown
    first = json.loads((out / "first.json").read_text())
    assert first["templates"] and first["templates"][0]["identity"] == 1.0  # found itself in the library
    assert json.loads((out / "second.json").read_text())["templates"] == []
    assert (out / "summary.tsv").read_text().count("\tok\t") == 2


def test_the_foldlite_command_refuses_a_broken_library(tmp_path, tiny_weights):
    fasta = tmp_path / "one.fasta"
    fasta.write_text(">one\nMKTAYIAKQRQISFVKSHFSRQ\n")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 but not a zip archive")
    result = _foldlite("fold", str(fasta), "-o", str(tmp_path / "out"), "--weights", tiny_weights,
                       "--templates", str(broken), cwd=tmp_path)
    assert result.returncode == 2
    assert "foldlite fold: error:" in result.stderr and "broken.npz" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_request_after_the_process_gave_up_on_its_library_still_names_the_library(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a library")
    service = SearchService(str(broken))
    service._process.join(timeout=60)  # it reports the error and exits
    assert not service._process.is_alive()
    service.request(0, "MKTAYIAKQRQISFVKSHFSRQ")  # into a closed pipe: no error yet
    with pytest.raises(LibraryError, match="broken.npz"):
        service.result(0)
    service.close()
