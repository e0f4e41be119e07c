"""The shipped weights, end to end: a fixed sequence and seed must still fold as recorded
(tests/fixtures/golden_fold.json and golden_fold.pdb, made by tools/make_golden_fold.py), and bf16
autocast must stay close to fp32.

fp32 is pinned for the golden comparison: CPUs differ in bf16 support (foldlite turns autocast on
only where it is fast), and bf16 results are not meant to match fp32 to the last bin.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import foldlite
from foldlite.api import run_network
from foldlite.constants import CONTACT_CLASSES
from foldlite.evaluation.metrics import tm_score
from foldlite.io.pdb import read_structure
from foldlite.model import precision

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN = json.loads((FIXTURES / "golden_fold.json").read_text())
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from make_golden_fold import distogram_numbers  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped():
    return foldlite.load_model()


def _pin(monkeypatch, bf16: bool):
    monkeypatch.setattr(precision, "cpu_bf16_is_fast", lambda *args, **kwargs: bf16)


def test_shipped_weights_fold_the_golden_sequence_as_recorded(shipped, monkeypatch):
    _pin(monkeypatch, bf16=False)
    assert shipped.version.endswith(GOLDEN["weights_sha256"])
    prediction = foldlite.fold(GOLDEN["sequence"], model=shipped, seed=GOLDEN["seed"], templates=None)
    numbers = distogram_numbers(prediction.distogram)
    # fp32 kernels differ in their last bits between CPUs: the summaries allow for that, no more
    assert numbers["mean_expected_distance"] == pytest.approx(GOLDEN["mean_expected_distance"], abs=1e-3)
    agreement = np.mean(np.array(GOLDEN["argmax_bins"]) == prediction.distogram.argmax(-1))
    assert agreement >= 0.995, agreement
    if agreement == 1.0:  # on the machine that recorded it, bit for bit
        assert numbers["argmax_sha256"] == GOLDEN["argmax_sha256"]
    assert prediction.mean_plddt == pytest.approx(GOLDEN["mean_plddt"], abs=0.5)
    reference = read_structure(FIXTURES / "golden_fold.pdb")
    assert tm_score(prediction.structure.ca, reference.ca).tm_score > 0.95


def test_bf16_autocast_stays_close_to_fp32(shipped, monkeypatch):
    sequence = GOLDEN["sequence"]
    _pin(monkeypatch, bf16=False)
    fp32 = run_network(shipped, sequence, keep_attention=False)
    _pin(monkeypatch, bf16=True)
    bf16 = run_network(shipped, sequence, keep_attention=False)
    assert np.abs(bf16.distogram - fp32.distogram).max() < 0.1
    assert np.abs(bf16.distogram - fp32.distogram).mean() < 2e-3
    assert np.mean(bf16.distogram.argmax(-1) == fp32.distogram.argmax(-1)) > 0.9
    assert np.mean(bf16.ss3.argmax(-1) == fp32.ss3.argmax(-1)) > 0.9
    contacts = lambda out: out.distogram[..., :CONTACT_CLASSES].sum(-1)  # noqa: E731  P(Cβ < 8 Å)
    assert np.abs(contacts(bf16) - contacts(fp32)).max() < 0.1
