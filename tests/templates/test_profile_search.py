"""Profile search (HMMER3 via pyhmmer, foldlite.templates.profile): hits, alignments, method choice,
and a distant relative from the sample data that it finds and plain Smith–Waterman misses.

The sample library (data/sample_chains.npz, 300 valid/test chains, ~49 k residues) is ~90 times
smaller than the shipped one (21 k chains, 4.6 M residues), and E-values grow with the library:
a hit at E = 1e-3 here would have E ~ 0.1 (fold()'s cut-off, DEFAULT_MAX_EVALUE) in the shipped
library. So "found at fold()'s cut-off in the shipped library" is tested as E <= 1e-3 here.
"""
from __future__ import annotations

import numpy as np
import pytest

from foldlite.cli import EXIT_OK, main
from foldlite.templates.profile import domain_pairs, profile_search
from foldlite.templates.search import (DEFAULT_MAX_EVALUE, SEARCH_METHODS, combined_search, find_templates, search,
                                      search_library)

SHIPPED_SCALE_EVALUE = 1e-3  # DEFAULT_MAX_EVALUE (0.1) x sample residues / shipped residues (~1/90)

# (query, its distant relative) in the sample chain set, both from the valid/test splits. TM-align
# (tmtools 0.3, normalised by the query): 5DZO_A/4H8W_D 0.78, 3SL7_B/3OCO_B 0.58 (same fold);
# identity over TM-align's structural alignment 26 % and 15 %. The test recomputes both when
# tmtools is installed (the `test` extra has it).
DISTANT_PAIRS = [("5DZO_A", "4H8W_D"), ("3SL7_B", "3OCO_B")]


def test_domain_pairs_reads_insertions_and_deletions():
    # model states from 3, target residues from 10 (1-based); column 3 is a target insertion ('.'
    # in the model row), column 5 a deletion ('-' in the target row)
    q, t, c = domain_pairs(3, "ab.cde", 10, "ABxC-E", posterior="*950.*")
    assert q.tolist() == [2, 3, 4, 6] and t.tolist() == [9, 10, 12, 13]
    np.testing.assert_allclose(c, [1.0, 0.9, 0.0, 1.0])  # posterior of the paired columns only
    q, t, c = domain_pairs(1, "abcd", 1, "A-CD")  # a deletion: state 2 has no target residue
    assert q.tolist() == [0, 2, 3] and t.tolist() == [0, 1, 2] and c.tolist() == [1.0, 1.0, 1.0]
    q, t, _ = domain_pairs(1, "a..b", 5, "AxyB")  # two target insertions between states 1 and 2
    assert q.tolist() == [0, 1] and t.tolist() == [4, 7]


def test_profile_search_finds_the_chain_itself_with_its_alignment(library):
    index = int(np.flatnonzero((library.lengths > 120) & (library.lengths < 250))[0])
    sequence = library.sequence(index)
    hits = profile_search(sequence, library, max_hits=5)
    assert hits[0].index == index and hits[0].name == library.names[index]
    assert hits[0].identity == 1.0 and hits[0].coverage > 0.9
    np.testing.assert_array_equal(hits[0].query_idx, hits[0].target_idx)  # the diagonal
    assert all(a.evalue <= b.evalue for a, b in zip(hits, hits[1:]))
    # exclusions work as in search(): by name and by identity
    assert all(h.index != index for h in profile_search(sequence, library, exclude_names={library.names[index]}))
    assert all(h.identity < 0.95 for h in profile_search(sequence, library, max_identity=0.95))
    assert profile_search(sequence, library, max_hits=0) == []


def test_every_profile_hit_is_a_consistent_alignment(library):
    sequence = library.sequence(int(np.flatnonzero(library.lengths > 150)[0]))
    for hit in profile_search(sequence, library, max_hits=20, max_evalue=10.0):
        assert np.all(np.diff(hit.query_idx) > 0) and np.all(np.diff(hit.target_idx) > 0)
        assert 0 <= hit.target_idx.min() and hit.target_idx.max() < hit.target_length
        target = library.sequence(hit.index)
        same = np.mean([sequence[q] == target[t] for q, t in zip(hit.query_idx, hit.target_idx)])
        assert same == pytest.approx(hit.identity)
        assert hit.coverage == pytest.approx(len(hit.query_idx) / len(sequence))
        confidence = hit.pair_confidence()
        assert confidence.shape == hit.query_idx.shape and 0 <= confidence.min() and confidence.max() <= 1


def test_search_methods_are_selectable(library):
    sequence = library.sequence(0)
    assert set(SEARCH_METHODS) == {"both", "profile", "sw"}
    for method in SEARCH_METHODS:
        assert search_library(sequence, library, method, max_hits=1)[0].index == 0
        assert find_templates(sequence, library, method=method, exclude_names={library.names[0]},
                              max_evalue=DEFAULT_MAX_EVALUE) is not None
    with pytest.raises(ValueError, match="unknown template search"):
        search_library(sequence, library, "blast")


def test_combined_search_keeps_both_searches_hits(library):
    sequence = library.sequence(int(np.flatnonzero(library.lengths > 150)[0]))
    options = dict(max_hits=50, max_evalue=1.0)
    sw = {h.index: h for h in search(sequence, library, **options)}
    profile = {h.index: h for h in profile_search(sequence, library, **options)}
    both = combined_search(sequence, library, **options)
    assert {h.index for h in both} == set(sw) | set(profile)
    assert all(a.evalue <= b.evalue for a, b in zip(both, both[1:]))
    for hit in both:
        if hit.index in sw:  # Smith-Waterman's alignment, the better E-value
            np.testing.assert_array_equal(hit.query_idx, sw[hit.index].query_idx)
            assert hit.evalue == min(sw[hit.index].evalue, profile[hit.index].evalue if hit.index in profile else 1e9)
        else:
            assert hit.confidence is not None


@pytest.mark.parametrize("query, relative", DISTANT_PAIRS)
def test_profile_search_finds_a_distant_relative_that_smith_waterman_misses(library, query, relative):
    q, r = library.index_of(query), library.index_of(relative)
    sequence = library.sequence(q)
    kwargs = dict(max_hits=50, max_evalue=SHIPPED_SCALE_EVALUE, exclude_names={query})
    profile = {h.name: h for h in profile_search(sequence, library, **kwargs)}
    plain = {h.name: h for h in search(sequence, library, **kwargs)}
    assert relative in profile, "the profile search should find the distant relative"
    assert relative not in plain, "plain Smith-Waterman finds it at this E-value: not a distinguishing case"
    # still a remote relative by the searches' own alignments: well below 30 % identity over the query
    hit = profile[relative]
    assert hit.identity * hit.coverage < 0.30
    tmtools = pytest.importorskip("tmtools")  # the `test` extra installs it
    aligned = tmtools.tm_align(library.ca(q), library.ca(r), sequence, library.sequence(r))
    assert aligned.tm_norm_chain1 >= 0.5  # same fold
    pairs = [(a, b) for a, b in zip(aligned.seqxA, aligned.seqyA) if a != "-" and b != "-"]
    assert np.mean([a == b for a, b in pairs]) < 0.30  # distant: < 30 % identity where the structures align


def test_search_cli_method_option(library_path, capsys):
    fasta = library_path.parent / "query.fasta"
    from foldlite.templates.library import load_library

    library = load_library(library_path)
    fasta.write_text(f">q\n{library.sequence(0)}\n")
    for method in ("both", "profile", "sw"):
        assert main(["search", str(fasta), "--library", str(library_path), "--method", method, "--max-hits", "2"]) == EXIT_OK
        assert library.names[0] in capsys.readouterr().out


def test_libraries_record_how_they_were_built(tmp_path, capsys):
    from foldlite.data.chains import sample_chainset_path
    from foldlite.templates.library import load_library

    out = tmp_path / "lib.npz"
    assert main(["library", "build", str(sample_chainset_path()), "-o", str(out), "--split", "test"]) == EXIT_OK
    provenance = load_library(out).provenance
    assert provenance["command"] == f"foldlite library build {sample_chainset_path()} -o {out} --split test"
    assert provenance["split"] == "test" and provenance["built"] and "(test chains)" in provenance["source"]


def test_shipped_library_holds_every_chain_within_the_size_budget():
    from foldlite.templates.library import default_library_path, load_library

    path = default_library_path()
    assert path.stat().st_size <= 40e6  # the budget for the package
    library = load_library(path)
    assert library.provenance["split"] == "all" and "(all chains)" in library.source
    assert library.provenance["command"].startswith("foldlite library build ")
    assert len(library) > 20_000  # train, valid and test chains of the chain set
