"""Structure library, template search, the nearest-template baseline and the `library` / `search` CLI.

Everything runs on a library built from the bundled sample chain set (300 chains, ~49 k residues).
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from foldlite.evaluation.benchmark import ideal_helix_ca, nearest_template, run_benchmark, select_chains
from foldlite.data.chains import ChainSet, sample_chainset_path
from foldlite.cli import EXIT_OK, EXIT_USAGE, main
from foldlite.templates.library import CA_UNIT, Library, LibraryError, load_library
from foldlite.templates.build import build_library
from foldlite.evaluation.metrics import tm_score
from foldlite.constants import COPY_IDENTITY, CA_CA_DISTANCE as CA_STEP
from foldlite.templates.search import Hit, search
from foldlite.templates.restraints import template_ca
from foldlite.tokenizer import STANDARD_RESIDUES

DATA = Path(__file__).resolve().parents[1] / "fixtures"


def _chain_of_length(chainset: ChainSet, low: int, high: int) -> int:
    return int(np.flatnonzero((chainset.lengths >= low) & (chainset.lengths <= high))[0])


def _mutate(sequence: str, fraction: float, seed: int = 0) -> str:
    """Replace `fraction` of the positions by a different random residue."""
    rng = np.random.default_rng(seed)
    letters = list(sequence)
    for i in rng.choice(len(letters), size=int(round(fraction * len(letters))), replace=False):
        letters[i] = rng.choice([a for a in STANDARD_RESIDUES if a != letters[i]])
    return "".join(letters)


def _single_chain_library(chainset: ChainSet, index: int, copies: int = 1) -> Library:
    chain = chainset.chain(index)
    ca = chain.backbone[:, 1] - chain.backbone[:, 1].mean(0)
    length = len(chain.sequence)
    return Library(names=[f"copy{k}" for k in range(copies)], lengths=[length] * copies,
                   seq=np.tile(np.frombuffer(chain.sequence.encode(), np.uint8), copies),
                   ca=np.tile(np.rint(ca / CA_UNIT).astype(np.int16), (copies, 1)),
                   cb_offset=np.zeros((copies * length, 3), np.int8), center=np.zeros((copies, 3)))


# ------------------------------------------------------------------------------------------ library

def test_library_round_trip_keeps_coordinates(chainset, library, library_path):
    assert len(library) == len(chainset)
    assert library_path.stat().st_size < 1_000_000  # ~49 k residues
    index = _chain_of_length(chainset, 150, 300)
    chain = chainset.chain(index)
    j = library.index_of(chain.name)
    assert library.sequence(j) == chain.sequence
    absolute = library.center[j]
    assert np.abs(library.ca(j) + absolute - chain.backbone[:, 1]).max() <= 0.051  # 0.1 Å grid
    assert np.abs(library.cb(j) + absolute - chain.cb).max() <= 0.08


def test_a_loaded_library_decodes_only_the_chains_it_is_asked_for(library_path):
    library = load_library(library_path)
    assert library._ca_int is None  # loading (and searching) leaves the Cα steps encoded
    chains = [0, 7, len(library) - 1]
    one_by_one = [(library.ca(i), library.cb(i)) for i in chains]
    assert library._ca_int is None
    everything = library.ca_int  # the whole array, decoded at once when asked for
    for i, (ca, cb) in zip(chains, one_by_one):
        rows = slice(library.offsets[i], library.offsets[i] + library.lengths[i])
        assert np.array_equal(ca, everything[rows].astype(np.float64) * CA_UNIT)
        assert np.array_equal(cb, library.cb(i))  # the same from the decoded array


def test_library_from_a_folder_skips_bad_files(tmp_path):
    folder = tmp_path / "structures"
    folder.mkdir()
    for name in ("1AHO_A.pdb", "1B0X_A.cif"):
        shutil.copy(DATA / name, folder / name)
    (folder / "broken.pdb").write_text("not a structure\n")
    (folder / "notes.txt").write_text("hello\n")
    report = build_library(folder, tmp_path / "lib.npz")
    assert report.chains == 2
    assert {what for what, _ in report.skipped} == {"broken.pdb", "notes.txt"}
    library = load_library(tmp_path / "lib.npz")
    assert search(library.sequence(0), library, max_hits=1)[0].index == 0


def test_load_library_errors(tmp_path):
    with pytest.raises(LibraryError, match="library build"):
        load_library(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(LibraryError, match="not a structure library"):
        load_library(tmp_path / "text.npz")


# ------------------------------------------------------------------------------------------- search

def test_chain_finds_itself_first(chainset, library):
    index = _chain_of_length(chainset, 150, 300)
    sequence = chainset.sequence(index)
    hits = search(sequence, library, max_hits=5)
    top = hits[0]
    assert top.name == chainset.names[index]
    assert top.identity == 1.0 and top.coverage == 1.0
    assert (top.query_start, top.query_end, top.target_start, top.target_end) == (0, len(sequence), 0, len(sequence))
    assert np.array_equal(top.query_idx, np.arange(len(sequence)))
    assert np.array_equal(top.target_idx, np.arange(len(sequence)))
    assert top.evalue < 1e-50 and top.bits > 100
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_mutated_copy_still_finds_its_chain(chainset, library):
    index = _chain_of_length(chainset, 120, 250)
    mutant = _mutate(chainset.sequence(index), 0.30, seed=1)
    top = search(mutant, library, max_hits=3)[0]
    assert top.name == chainset.names[index]
    assert 0.6 < top.identity < 0.8
    assert top.coverage > 0.9


def test_prefilter_ranks_the_same_with_int32_and_int64_diagonal_keys(chainset, library, monkeypatch):
    from foldlite.templates import search as search_module

    query = _mutate(chainset.sequence(_chain_of_length(chainset, 120, 250)), 0.4, seed=3)
    chains, scores = search_module.prefilter(query, library)  # int32 keys: the sample library fits
    assert len(chains) > 10
    monkeypatch.setattr(search_module, "_INT32_KEYS_BELOW", 0)  # as for a library too large for int32
    wide_chains, wide_scores = search_module.prefilter(query, library)
    np.testing.assert_array_equal(wide_chains, chains)
    np.testing.assert_array_equal(wide_scores, scores)


@pytest.mark.parametrize("threads", [1, 2])
def test_ungapped_scores_match_their_definition(library, monkeypatch, threads):
    """Best ungapped segment of each diagonal, written out: diagonals reaching past either end of
    their chain (only the chain's own rows count), an X in the query, one or two scoring threads."""
    from foldlite.templates import search as search_module
    from foldlite.templates.alignment import score_matrix

    monkeypatch.setattr(search_module, "_SCORE_THREADS", threads)
    monkeypatch.setattr(search_module, "_THREADED_DIAGONALS", 10)
    rng = np.random.default_rng(4)
    query_text = library.sequence(3)[:40] + "X" + library.sequence(9)[5:60]
    query = search_module._residue_codes(np.frombuffer(query_text.encode("ascii"), dtype=np.uint8))
    chains = np.sort(rng.choice(len(library), 60))
    # the library row facing query residue 0: from before the chain's start to near its end
    row0 = library.offsets[chains] + rng.integers(-len(query) + 5, library.lengths[chains] - 5)
    scores = search_module._ungapped_scores(query, row0, chains, library)
    blosum = score_matrix()
    library_codes = search_module._residue_codes(library.seq)
    for d, (chain, first) in enumerate(zip(chains, row0)):
        begin, end = library.offsets[chain], library.offsets[chain] + library.lengths[chain]
        pairs = [blosum[query[i], library_codes[first + i]] if begin <= first + i < end else 0
                 for i in range(len(query))]
        best = max(max(sum(pairs[a:b]) for b in range(a, len(pairs) + 1)) for a in range(len(pairs)))
        assert scores[d] == best, d


def test_fragment_finds_its_parent(chainset, library):
    index = _chain_of_length(chainset, 200, 400)
    fragment = chainset.sequence(index)[40:120]
    top = search(fragment, library, max_hits=1)[0]
    assert top.name == chainset.names[index]
    assert (top.target_start, top.target_end) == (40, 120)
    assert top.coverage == 1.0 and top.identity == 1.0


def test_exclusion_by_name_and_identity(chainset, library):
    index = _chain_of_length(chainset, 150, 300)
    name, sequence = chainset.names[index], chainset.sequence(index)
    assert name not in [h.name for h in search(sequence, library, exclude_names={name})]
    hits = search(sequence, library, max_identity=0.95)
    assert name not in [h.name for h in hits]
    assert all(h.identity < 0.95 for h in hits)


def test_identity_exclusion_looks_past_many_copies(chainset):
    """300 identical copies fill the first Smith–Waterman rounds; the 60 %-identical one is still found."""
    index = _chain_of_length(chainset, 100, 160)
    copies = _single_chain_library(chainset, index, copies=300)
    mutant = _mutate(chainset.sequence(index), 0.4, seed=2)
    homologue = Library(
        names=np.concatenate([copies.names, ["homologue"]]),
        lengths=np.concatenate([copies.lengths, [len(mutant)]]),
        seq=np.concatenate([copies.seq, np.frombuffer(mutant.encode(), np.uint8)]),
        ca=np.concatenate([copies.ca_int, copies.ca_int[:len(mutant)]]),
        cb_offset=np.zeros((len(copies.seq) + len(mutant), 3), np.int8), center=np.zeros((301, 3)))
    hits = search(chainset.sequence(index), homologue, max_hits=1, max_identity=0.95, candidates=50)
    assert [h.name for h in hits] == ["homologue"]


def test_no_words_no_hits(library):
    assert search("X" * 40, library) == []


# ---------------------------------------------------------------------------- template trace, baseline

def test_nearest_template_reproduces_the_chain_without_self_exclusion(chainset, library):
    index = _chain_of_length(chainset, 80, 200)
    chain = chainset.chain(index)
    ca, hit = nearest_template(chain.sequence, library, exclude_names=(), max_identity=None)
    assert hit.name == chain.name
    assert tm_score(ca, chain.backbone[:, 1]).tm_score > 0.99


def test_nearest_template_falls_back_to_the_helix(chainset):
    index = _chain_of_length(chainset, 80, 200)
    only = _single_chain_library(chainset, index)
    sequence = chainset.sequence(index)
    ca, hit = nearest_template(sequence, only, exclude_names={"copy0"})
    assert hit is None
    assert np.allclose(ca, ideal_helix_ca(len(sequence)))


def test_gaps_and_ends_get_ca_steps(chainset):
    index = _chain_of_length(chainset, 80, 200)
    only = _single_chain_library(chainset, index)
    # query residues 3..12 and 23..32 aligned to template residues 0..9 and 20..29: a 10-residue
    # internal gap, 3 unaligned N-terminal and 5 C-terminal residues
    query_idx = np.concatenate([np.arange(3, 13), np.arange(23, 33)])
    target_idx = np.concatenate([np.arange(0, 10), np.arange(20, 30)])
    hit = Hit(name="copy0", index=0, score=0.0, bits=0.0, evalue=1.0, identity=1.0, coverage=0.5,
              query_start=3, query_end=33, target_start=0, target_end=30, target_length=int(only.lengths[0]),
              query_idx=query_idx, target_idx=target_idx)
    ca = template_ca(hit, only, 38)
    assert ca.shape == (38, 3) and np.isfinite(ca).all()
    assert np.allclose(ca[query_idx], only.ca(0)[target_idx])
    steps = np.linalg.norm(np.diff(ca, axis=0), axis=1)
    span = np.linalg.norm(ca[23] - ca[12])
    assert span < 11 * CA_STEP  # too close for a straight line: an arc with 3.8 Å steps
    assert np.allclose(steps[12:23], CA_STEP), steps[12:23]
    assert np.allclose(steps[:3], CA_STEP) and np.allclose(steps[32:], CA_STEP)  # ends


def test_gap_fill_extremes():
    from foldlite.templates.restraints import _fill_gap

    a, b = np.zeros(3), np.array([40.0, 0.0, 0.0])
    filled = _fill_gap(a, b, 9, away=np.array([0.0, 1.0, 0.0]))
    steps = np.linalg.norm(np.diff(np.vstack([a, filled, b]), axis=0), axis=1)
    assert np.allclose(steps, 4.0)
    # the other extreme: both ends at one point -> a closed loop of 3.8 Å steps
    loop = _fill_gap(a, a, 5, away=np.array([0.0, 1.0, 0.0]))
    steps = np.linalg.norm(np.diff(np.vstack([a, loop, a]), axis=0), axis=1)
    assert np.allclose(steps, CA_STEP, atol=1e-3)


def test_benchmark_writes_nearest_template_rows(chainset, library, tiny_weights, tmp_path):
    from foldlite.api import load_model

    indices = select_chains(chainset, "test", limit=1, min_length=30, max_length=60)
    summary = run_benchmark(load_model(tiny_weights), chainset, indices, tmp_path / "b.csv", library=library,
                            log=lambda message: None)
    rows = list(csv.DictReader(open(tmp_path / "b.csv")))
    assert [r["method"] for r in rows] == ["foldlite", "ideal_helix", "nearest_template", "foldlite+templates"]
    for template in rows[2:]:
        assert template["template"] != rows[0]["name"]  # never itself
        assert template["template"] == "none" or float(template["template_identity"]) < COPY_IDENTITY
    # one chain: the fraction is 1 exactly when its row names a template
    for row in rows[2:]:
        assert summary[row["method"]]["fraction_with_template"] == float(row["template"] != "none")


# ---------------------------------------------------------------------------------------------- CLI

def test_cli_search_prints_hits(chainset, library_path, tmp_path, capsys):
    index = _chain_of_length(chainset, 150, 300)
    fasta = tmp_path / "q.fasta"
    fasta.write_text(f">query one\n{chainset.sequence(index)}\n>fragment\n{chainset.sequence(index)[10:90]}\n")
    assert main(["search", str(fasta), "--library", str(library_path), "--max-hits", "3"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "# query (" in out and "# fragment (80 aa)" in out
    first_table_row = out.splitlines()[2].split()
    assert first_table_row[0] == chainset.names[index]
    assert first_table_row[1:3] == ["1.00", "1.00"]
    assert f"1-{chainset.lengths[index]}" in out and "11-90" in out


def test_cli_search_bad_fasta(library_path, tmp_path, capsys):
    fasta = tmp_path / "bad.fasta"
    fasta.write_text(">x\nMKT-LV\n")
    assert main(["search", str(fasta), "--library", str(library_path)]) == EXIT_USAGE
    assert "search: error" in capsys.readouterr().err


def test_cli_search_missing_library(tmp_path, capsys):
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">x\nMKTAYIAKQRQISFVKSHFSRQ\n")
    assert main(["search", str(fasta), "--library", str(tmp_path / "none.npz")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "none.npz" in err and "foldlite library build" in err


def test_cli_library_build(tmp_path, capsys):
    out = tmp_path / "lib.npz"
    assert main(["library", "build", str(sample_chainset_path()), "-o", str(out), "--split", "test"]) == EXIT_OK
    assert "wrote 150 chains" in capsys.readouterr().out
    assert len(load_library(out)) == 150
    assert main(["library", "build", str(sample_chainset_path()), "-o", str(out)]) == EXIT_USAGE  # exists
    assert main(["library", "build", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.npz")]) == EXIT_USAGE


@pytest.mark.parametrize("query, homologue", [("1AOH_A", "3UL4_A"), ("1J30_B", "1LKO_A")])
def test_real_homologue_from_the_same_cluster_is_found(chainset, library, query, homologue):
    """Natural homologues (same 30 % cluster of the sample, 37-41 % identical): with the query itself
    excluded, the other PDB entry is the top hit, with a confident E-value."""
    index = int(np.flatnonzero(chainset.names == query)[0])
    top = search(chainset.sequence(index), library, max_hits=1, exclude_names={query}, max_identity=0.95)[0]
    assert top.name == homologue
    assert 0.3 < top.identity < 0.6 and top.evalue < 1e-10
