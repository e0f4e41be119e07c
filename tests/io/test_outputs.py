"""Prediction.save / write_prediction: every file of a name is covered by the existing-output check,
--overwrite leaves no file of the old prediction, and a failed write leaves no file of the new one."""
from __future__ import annotations

import pytest

import foldlite
import foldlite.io.outputs
from foldlite.io.outputs import OutputExistsError, record_state


@pytest.fixture(scope="module")
def prediction(tiny_weights):
    return foldlite.fold("MKTAYIAKQRQISFVKSHFSRQ", model=foldlite.load_model(tiny_weights), templates=None)


def test_a_structure_file_of_the_other_format_counts_as_existing(prediction, tmp_path):
    prediction.save(tmp_path, plots=False)
    for path in tmp_path.iterdir():
        if path.suffix != ".pdb":
            path.unlink()
    with pytest.raises(OutputExistsError, match="query.pdb"):
        prediction.save(tmp_path, fmt="cif", plots=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["query.pdb"]


def test_overwrite_removes_the_files_it_does_not_rewrite(prediction, tmp_path):
    prediction.save(tmp_path, plots=True)
    prediction.save(tmp_path, fmt="cif", plots=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["query.cif", "query.json", "query_distogram.npz"]


def test_a_failed_write_leaves_none_of_the_record(prediction, tmp_path, monkeypatch):
    real_write = foldlite.io.outputs.atomic_write_bytes

    def full_disk_at_json(path, data):
        if path.suffix == ".json":
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(foldlite.io.outputs, "atomic_write_bytes", full_disk_at_json)
    with pytest.raises(OSError, match="No space"):
        prediction.save(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_record_state(tmp_path):
    assert record_state(tmp_path, ["a"], "pdb") == ("unfinished", None)
    (tmp_path / "a.json").write_text("{}")
    assert record_state(tmp_path, ["a"], "pdb") == ("unfinished", None)  # leftovers of a killed run
    (tmp_path / "a.pdb").write_text("END\n")
    assert record_state(tmp_path, ["a"], "pdb") == ("done", None)
    assert record_state(tmp_path, ["a"], "cif") == ("other", tmp_path / "a.pdb")
    ranks = [f"b_rank_{k}" for k in (1, 2, 3)]
    (tmp_path / "b_rank_3.pdb").write_text("END\n")  # ranks are written last first: unfinished
    assert record_state(tmp_path, ranks, "pdb") == ("unfinished", None)
    (tmp_path / "b_rank_1.pdb").write_text("END\n")  # a finished run with fewer models
    assert record_state(tmp_path, ranks[:2] + ["b_rank_4"], "pdb")[0] == "other"


def test_saving_again_reports_that_writes_time_not_the_sum_of_both(tiny_weights, tmp_path):
    import json

    prediction = foldlite.fold("MKTAYIAKQRQISFVKSHFSRQ", model=foldlite.load_model(tiny_weights), templates=None)
    prediction.save(tmp_path / "a", plots=False)
    prediction.timings["outputs"] = 1000.0  # as if the first write had taken that long
    prediction.save(tmp_path / "b", plots=False)
    timings = json.loads((tmp_path / "b" / "query.json").read_text())["timings_s"]
    assert timings["outputs"] < 100.0
    assert timings["total"] == pytest.approx(sum(v for k, v in timings.items() if k != "total"), abs=1e-3)
