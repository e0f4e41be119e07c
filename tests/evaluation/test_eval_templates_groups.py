"""tools/eval_templates.py --best-identity: the chains kept are those whose best template, as fold()
finds it, falls in the identity range."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from foldlite.evaluation.benchmark import TEMPLATE_MAX_IDENTITY
from foldlite.templates.search import find_templates
from tools_loader import load_tool


def test_chains_by_best_identity_keeps_exactly_the_range(chainset, library):
    tool = load_tool("eval_templates")
    indices = chainset.indices()[:40]
    best = {}
    for index in indices:
        hits = find_templates(chainset.sequence(int(index)), library, exclude_names=(str(chainset.names[int(index)]),),
                              max_identity=TEMPLATE_MAX_IDENTITY)
        best[int(index)] = hits[0].identity if hits else None
    found = [i for i, identity in best.items() if identity is not None]
    assert found, "the sample's first chains should have some template"
    low, high = 0.0, float(np.median([best[i] for i in found]))
    kept = tool.chains_by_best_identity(chainset, library, indices, low, high)
    assert kept.tolist() == [i for i in sorted(best) if best[i] is not None and low <= best[i] < high]
    assert len(tool.chains_by_best_identity(chainset, library, indices, 0.999, 1.01)) == 0  # copies are excluded


def test_identity_range_option():
    tool = load_tool("eval_templates")
    assert tool._identity_range("0.15-0.30") == (0.15, 0.30)
    with pytest.raises(argparse.ArgumentTypeError, match="MIN-MAX"):
        tool._identity_range("fifteen")
