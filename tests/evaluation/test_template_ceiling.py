"""tools/template_ceiling.py: each hit copied and scored, the oracle no worse than the first hit."""
from __future__ import annotations

import math

import numpy as np

from foldlite.evaluation.metrics import tm_score
from foldlite.templates.restraints import template_ca
from foldlite.templates.search import DEFAULT_MAX_EVALUE, search_library
from tools_loader import load_tool


def _tool():
    return load_tool("template_ceiling")


def _chain(chainset, name):
    return chainset.chain(int(np.flatnonzero(chainset.names == name)[0]))


def test_the_best_copy_is_a_real_hit_and_no_worse_than_the_first(chainset, library):
    tool = _tool()
    chain = _chain(chainset, "5DZO_A")  # has a distant relative in the sample (tests/templates)
    row = tool.chain_row(chain, library, max_hits=5)
    hits = search_library(chain.sequence, library, max_hits=5, max_evalue=DEFAULT_MAX_EVALUE,
                          exclude_names={chain.name}, max_identity=0.95)
    assert row["n_hits"] == len(hits) >= 1
    assert all(h.name != chain.name for h in hits)
    best = hits[row["best_rank"] - 1]
    true_ca = chain.backbone[:, 1]
    assert math.isclose(row["copy_best"], tm_score(template_ca(best, library, len(chain.sequence)), true_ca).tm_score)
    assert math.isclose(row["copy_top"], tm_score(template_ca(hits[0], library, len(chain.sequence)), true_ca).tm_score)
    assert row["copy_best"] >= row["copy_top"]
    assert row["top_coverage"] <= row["union_coverage"] <= 1.0
    assert 0.0 < row["aligned_best"] <= 1.0


def test_a_chain_without_hits_gets_no_scores(chainset, library):
    tool = _tool()
    chain = _chain(chainset, "5DZO_A")
    row = tool.chain_row(chain, library, max_hits=0)
    assert row["n_hits"] == 0 and math.isnan(row["copy_best"]) and math.isnan(row["union_coverage"])
    assert "no hit" in tool.summary([row])
