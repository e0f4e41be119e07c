"""tools/compare_eval_runs.py: paired differences of two evaluation runs, with groups."""
from __future__ import annotations

import csv

import pytest

from tools_loader import load_tool

FIELDS = ["name", "best_identity", "tm_none", "tm_restrained"]


def _write(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def test_paired_differences_and_groups(tmp_path, capsys):
    tool = load_tool("compare_eval_runs")
    first = _write(tmp_path / "a.csv", [
        {"name": "A", "best_identity": "0.5", "tm_none": "0.2", "tm_restrained": "0.8"},
        {"name": "B", "best_identity": "0.2", "tm_none": "0.3", "tm_restrained": "0.5"},
        {"name": "C", "best_identity": "nan", "tm_none": "0.1", "tm_restrained": "0.1"},
        {"name": "only_here", "best_identity": "0.9", "tm_none": "0.9", "tm_restrained": "0.9"}])
    second = _write(tmp_path / "b.csv", [
        {"name": "C", "best_identity": "nan", "tm_none": "0.1", "tm_restrained": "0.1"},
        {"name": "A", "best_identity": "0.5", "tm_none": "0.2", "tm_restrained": "0.9"},
        {"name": "B", "best_identity": "0.2", "tm_none": "0.3", "tm_restrained": "0.4"}])
    assert tool.main([first, second]) == 0
    out = capsys.readouterr().out
    # chains are paired by name; the one missing from the second run is left out
    assert "tm_restrained      n 3  0.4667 -> 0.4667  difference +0.0000" in out
    assert "up 1, down 1" in out
    assert "tm_none            n 3" in out and "up 0, down 0" in out
    assert "best template >= 30 %      n   1  TM restrained 0.8000 -> 0.9000" in out
    assert "best template 15-30 %      n   1  TM restrained 0.5000 -> 0.4000" in out
    assert "best template no template  n   1" in out


def test_runs_without_shared_chains_are_refused(tmp_path):
    tool = load_tool("compare_eval_runs")
    first = _write(tmp_path / "a.csv", [{"name": "A", "best_identity": "0.5", "tm_none": "0.2", "tm_restrained": "0.8"}])
    second = _write(tmp_path / "b.csv", [{"name": "B", "best_identity": "0.5", "tm_none": "0.2", "tm_restrained": "0.8"}])
    with pytest.raises(SystemExit, match="share 0 chains"):
        tool.main([first, second])
