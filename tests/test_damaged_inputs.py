"""Every file a user hands in, damaged, gives one line on stderr that names it and exit 2: never a
traceback, and nothing written (template libraries, weights, chain sets, PDB/mmCIF files, FASTA)."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from foldlite.data.chains import sample_chainset_path
from foldlite.cli import main

DATA = Path(__file__).parent / "fixtures"


def _damaged(source: bytes, how: str) -> bytes:
    if how == "truncated":
        return source[: len(source) // 2]
    if how == "not_a_zip":  # starts like a zip, then nothing of one
        return b"PK\x03\x04" + bytes(range(256)) * 8
    if how == "corrupted":  # compressed data overwritten in the middle
        data = bytearray(source)
        middle = len(data) // 2
        data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
        return bytes(data)
    raise ValueError(how)


ZIP_DAMAGE = ("truncated", "not_a_zip", "corrupted")

# (command line, the kind of file that is damaged in it); FILE is the damaged file, OUT an output path
COMMANDS = {
    "fold --templates": (["fold", "--sequence", "MKTAYIAKQRQISFVK", "-o", "OUT", "--templates", "FILE",
                          "--weights", "TINY"], "library"),
    "search --library": (["search", "FASTA", "--library", "FILE"], "library"),
    "benchmark --library": (["benchmark", "--data", "SAMPLE", "--library", "FILE", "-o", "OUT/b.csv",
                             "--weights", "TINY"], "library"),
    "benchmark --data": (["benchmark", "--data", "FILE", "-o", "OUT/b.csv", "--weights", "TINY"], "chainset"),
    "model-metrics --data": (["model-metrics", "--data", "FILE", "--weights", "TINY"], "chainset"),
    "train --data": (["train", "--data", "FILE", "--out", "OUT", "--max-steps", "1"], "chainset"),
    "library build": (["library", "build", "FILE", "-o", "OUT/lib.npz"], "chainset"),
    "fold --weights": (["fold", "--sequence", "MKTAYIAKQRQISFVK", "-o", "OUT", "--weights", "FILE"], "weights"),
}


@pytest.fixture(scope="module")
def sources(library_path, tiny_weights):
    return {"library": Path(library_path).read_bytes(), "chainset": sample_chainset_path().read_bytes(),
            "weights": Path(tiny_weights).read_bytes()}


def _run(tmp_path, argv, damaged_file, tiny_weights, capsys):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">q\nMKTAYIAKQRQISFVK\n")
    out = tmp_path / "out"
    argv = [a.replace("FILE", str(damaged_file)).replace("OUT", str(out)).replace("TINY", tiny_weights)
            .replace("FASTA", str(fasta)).replace("SAMPLE", str(sample_chainset_path())) for a in argv]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err.strip(), out


@pytest.mark.parametrize("how", ZIP_DAMAGE)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_damaged_npz_or_weights_file_is_one_line_and_exit_2(tmp_path, sources, tiny_weights, capsys,
                                                               command, how):
    argv, kind = COMMANDS[command]
    damaged = tmp_path / ("damaged.pt" if kind == "weights" else "damaged.npz")
    damaged.write_bytes(_damaged(sources[kind], how))
    code, err, out = _run(tmp_path, argv, damaged, tiny_weights, capsys)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and str(damaged) in err and "Traceback" not in err
    assert not out.exists()  # nothing written, not even an empty run folder


def _gzip_damaged(path: Path, how: str) -> bytes:
    packed = gzip.compress(path.read_bytes())
    if how == "truncated":
        return packed[: len(packed) // 2]
    return packed[:10] + bytes(range(200)) + packed[210:]  # deflate stream overwritten


@pytest.mark.parametrize("name, content", [
    ("binary.pdb", lambda: bytes(range(256)) * 4),
    ("half.cif", lambda: (DATA / "1B0X_A.cif").read_bytes()[:3000]),
    ("truncated.pdb.gz", lambda: _gzip_damaged(DATA / "1AHO_A.pdb", "truncated")),
    ("corrupted.pdb.gz", lambda: _gzip_damaged(DATA / "1AHO_A.pdb", "corrupted")),
    ("npz_as.pdb", lambda: sample_chainset_path().read_bytes()[:5000]),
])
def test_evaluate_names_a_damaged_structure_file(tmp_path, tiny_weights, capsys, name, content):
    damaged = tmp_path / name
    damaged.write_bytes(content())
    for argv in (["evaluate", "FILE", str(DATA / "1AHO_A.pdb")], ["evaluate", str(DATA / "1AHO_A.pdb"), "FILE"]):
        code, err, _ = _run(tmp_path, argv, damaged, tiny_weights, capsys)
        assert code == 2, err
        assert len(err.splitlines()) == 1 and str(damaged) in err and "Traceback" not in err
