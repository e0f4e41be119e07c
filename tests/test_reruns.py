"""What survives today stays: a run killed with SIGKILL and rerun, two runs into one folder at once, and
a full disk all end with complete records only (no half-written or stray files)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from foldlite.cli import main
from foldlite.io.pdb import read_structure
from foldlite.io.safe_io import remove_stale_temporaries

COUNT = 24


@pytest.fixture
def fasta(tmp_path):
    rng = np.random.default_rng(3)
    alphabet = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    sequences = {f"r{i:02d}": "".join(rng.choice(alphabet, int(rng.integers(20, 36)))) for i in range(COUNT)}
    path = tmp_path / "many.fasta"
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in sequences.items()))
    return path, sequences


def _env():
    # one thread per run: two runs at once on a small machine would otherwise oversubscribe its cores
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _command(fasta_path, out, weights, *extra):
    return [sys.executable, "-m", "foldlite", "fold", str(fasta_path), "-o", str(out), "--weights", weights,
            "--templates", "none", "--quiet", *extra]


def _structures(out):
    return list(out.glob("*.pdb")) if out.exists() else []


def _assert_complete(out, sequences, plots):
    """Exactly the files of finished records, each whole and describing the same prediction."""
    suffixes = [".pdb", ".json", "_distogram.npz"] + ([".png"] if plots else [])
    assert sorted(p.name for p in out.iterdir() if p.name != "summary.tsv") == \
        sorted(f"{n}{s}" for n in sequences for s in suffixes)
    for name, sequence in sequences.items():
        structure = read_structure(out / f"{name}.pdb")
        summary = json.loads((out / f"{name}.json").read_text())
        assert structure.sequence == summary["sequence"] == sequence
        np.testing.assert_allclose(structure.confidence, summary["plddt"], atol=0.01)
        with np.load(out / f"{name}_distogram.npz") as arrays:
            assert arrays["contacts"].shape == (len(sequence), len(sequence))
        if plots:
            png = (out / f"{name}.png").read_bytes()
            assert png.startswith(b"\x89PNG") and png.endswith(b"IEND\xaeB`\x82")


@pytest.mark.slow
def test_a_run_killed_with_sigkill_and_rerun_completes_every_record(tmp_path, fasta, tiny_weights):
    fasta_path, sequences = fasta
    out = tmp_path / "out"
    process = subprocess.Popen(_command(fasta_path, out, tiny_weights), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=_env())
    deadline = time.time() + 600
    while len(_structures(out)) < 6:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 6 <= len(_structures(out)) < COUNT
    # a kill during a write leaves the writer's temporary file: plant one as if it had
    (out / f".r23.json.{process.pid}.k1ll3d.tmp").write_text("{\"half")
    assert main(_command(fasta_path, out, tiny_weights)[3:]) == 0
    _assert_complete(out, sequences, plots=True)


@pytest.mark.slow
def test_two_runs_at_once_into_one_folder_leave_every_record_intact(tmp_path, fasta, tiny_weights):
    fasta_path, sequences = fasta
    out = tmp_path / "out"
    runs = [subprocess.Popen(_command(fasta_path, out, tiny_weights, "--no-plots"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=_env()) for _ in range(2)]
    results = [run.communicate(timeout=900) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in results]
    _assert_complete(out, sequences, plots=False)


def test_stale_temporaries_go_and_live_ones_stay(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True)
    dead_pid = int(finished.stdout)
    living = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".a.pdb.{dead_pid}.x1y2z3.tmp"
        live = tmp_path / f".a.json.{living.pid}.q9w8e7.tmp"
        users = tmp_path / ".notes.tmp"  # not ours: never touched
        for path in (stale, live, users):
            path.write_text("partial")
        assert remove_stale_temporaries(tmp_path) == [stale]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, users.name])
    finally:
        living.kill()
        living.wait()


def _mount_tmpfs(path, size_bytes):
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
                            capture_output=True)
    return result.returncode == 0


@pytest.mark.slow
def test_a_full_disk_fails_the_records_that_do_not_fit_and_leaves_no_half_files(tmp_path, fasta, tiny_weights,
                                                                               capsys):
    fasta_path, sequences = fasta
    few = dict(list(sequences.items())[:4])
    small = tmp_path / "few.fasta"
    small.write_text("".join(f">{n}\n{s}\n" for n, s in few.items()))
    # the size of one record's files, measured on the ordinary disk
    probe = tmp_path / "probe"
    assert main(["fold", "--sequence", max(few.values(), key=len), "-o", str(probe), "--weights", tiny_weights,
                 "--templates", "none", "--quiet"]) == 0
    record_bytes = sum(p.stat().st_size for p in probe.iterdir())
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, int(2.5 * record_bytes)):
        pytest.skip("cannot mount a small tmpfs here (needs Linux and root)")
    try:
        out = disk / "out"
        code = main(["fold", str(small), "-o", str(out), "--weights", tiny_weights, "--templates", "none"])
        table = capsys.readouterr().out
        assert code == 1
        assert "No space left on device" in table
        finished = {p.stem for p in out.glob("*.pdb")}
        assert 0 < len(finished) < len(few)
        _assert_complete(out, {n: few[n] for n in finished}, plots=True)  # nothing else in the folder
    finally:
        subprocess.run(["umount", str(disk)], check=True)
