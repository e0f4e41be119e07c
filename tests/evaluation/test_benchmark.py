"""benchmark.summarise: per-method numbers from per-chain rows, checked by hand."""
from __future__ import annotations

import math

import pytest

from foldlite.evaluation.benchmark import format_summary, summarise


def row(method, tm, length=100, seconds=1.0, template="none", identity=float("nan"), lr=0.2, q3=0.7):
    return {"method": method, "tm_score": tm, "gdt_ts": tm / 2, "lddt_ca": tm + 0.1, "length": length,
            "seconds": seconds, "lr_contact_precision": lr, "q3": q3, "template": template,
            "template_identity": identity}


ROWS = [row("foldlite", 0.2, length=100, seconds=1.0, lr=0.1, q3=0.6),
        row("foldlite", 0.6, length=300, seconds=5.0, lr=float("nan"), q3=0.8),
        row("foldlite", 0.7, length=100, seconds=2.0, lr=0.3, q3=0.7),
        row("nearest_template", 0.9, template="1ABC_A", identity=0.4),
        row("nearest_template", 0.1)]


def test_summarise_by_hand():
    summary = summarise(ROWS)
    assert set(summary) == {"foldlite", "nearest_template"}
    fold = summary["foldlite"]
    assert fold["chains"] == 3
    assert fold["mean_tm"] == pytest.approx(0.5) and fold["median_tm"] == pytest.approx(0.6)
    assert fold["fraction_tm_above_0.5"] == pytest.approx(2 / 3)
    assert fold["mean_gdt_ts"] == pytest.approx(0.25) and fold["mean_lddt_ca"] == pytest.approx(0.6)
    assert fold["mean_lr_contact_precision"] == pytest.approx(0.2)  # NaN rows are left out
    assert fold["mean_q3"] == pytest.approx(0.7)
    assert fold["seconds_per_residue"] == pytest.approx(8.0 / 500)  # total time / total residues
    copy = summary["nearest_template"]
    assert copy["fraction_with_template"] == pytest.approx(0.5)
    assert copy["mean_template_identity"] == pytest.approx(0.4)
    assert math.isnan(copy["mean_q3"]) and math.isnan(copy["mean_lr_contact_precision"])


def test_format_summary_has_one_line_per_method():
    text = format_summary(summarise(ROWS))
    assert any(line.startswith("foldlite ") for line in text.splitlines())
    assert any(line.startswith("nearest_template") for line in text.splitlines())
