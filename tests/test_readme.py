"""The README's promises match the program: its commands use files the repo ships, and what it says
about installing torch, glycine's Cβ and changed residues is what happens."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np

from foldlite.io.fasta import read_fasta_all

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
INPUT_SUFFIXES = (".fasta", ".pdb", ".cif", ".npz", ".pt")


def _foldlite_commands():
    """Each `foldlite ...` line of the README's bash blocks, as argument lists (comments dropped)."""
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():  # continued lines joined
            words = shlex.split(line, comments=True)
            if words[:1] == ["foldlite"]:
                yield words[1:]


def test_readme_commands_read_files_the_repo_ships():
    folded_ids = set()  # records the README's fold commands write into out/
    commands = list(_foldlite_commands())
    assert any(c[0] == "evaluate" for c in commands) and any(c[0] == "fold" for c in commands)
    for words in commands:
        outputs = {words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-o", "--out")}
        inputs = [w for w in words[1:] if not w.startswith("-") and w not in outputs
                  and (w.endswith(INPUT_SUFFIXES) or w.endswith("/"))]
        for path in inputs:
            if path.startswith("out/"):  # made by a fold command above it
                assert Path(path).stem in folded_ids, (words, path)
            else:
                assert (ROOT / path).exists(), (words, path)
        if words[0] == "fold" and "out/" in outputs:
            fasta = [w for w in inputs if w.endswith(".fasta")]
            folded_ids |= {r.id for f in fasta for r in read_fasta_all(ROOT / f)}
            if "--sequence" in words:
                folded_ids.add("query")
    for path in re.findall(r'fold_fasta\("([^"]+)"\)', README):
        assert (ROOT / path).exists(), path


def test_readme_tells_the_truth_about_torch_and_cuda():
    assert "never pulls" not in README
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in README
    pin = re.search(r"torch==([\d.]+)", (ROOT / "setup.cfg").read_text()).group(1)
    assert f"torch=={pin} --index-url" in README  # the CPU route installs the pinned version


def test_readme_and_writer_agree_on_glycine_cb():
    import foldlite.io.pdb as pdbio
    from foldlite.structure import Structure

    assert "Cβ virtual for glycine" not in README
    assert "glycine has no Cβ in the written files" in " ".join(README.split())
    structure = Structure(sequence="AGA", coords=np.arange(45, dtype=float).reshape(3, 5, 3),
                          confidence=np.full(3, 50.0), name="t")
    atoms = [(line[17:20], line[12:16].strip()) for line in pdbio.write_pdb(structure).splitlines()
             if line.startswith("ATOM")]
    assert ("GLY", "CB") not in atoms and ("ALA", "CB") in atoms


def test_readme_says_how_changed_residues_are_reported():
    text = " ".join(README.split())
    assert "modified_residues" in text and "U (selenocysteine) is folded as C" in text
