"""Rebuild each example notebook from its script's `# %%` cells (so the two never drift apart).

    python examples/make_notebook.py                      # every notebook in NOTEBOOKS
    python examples/make_notebook.py attention_to_fold    # one of them
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOKS = ("quickstart", "attention_to_fold")  # <name>.py -> <name>.ipynb, outputs cleared


def script_cells(text: str) -> list[tuple[str, str]]:
    """Split a percent-format script into (kind, source) cells."""
    cells, kind, lines = [], None, []
    for line in text.splitlines():
        if line.startswith("# %%"):
            if kind is not None:
                cells.append((kind, "\n".join(lines).strip("\n")))
            kind = "markdown" if "[markdown]" in line else "code"
            lines = []
            continue
        lines.append(line[2:] if kind == "markdown" and line.startswith("# ") else
                     ("" if kind == "markdown" and line == "#" else line))
    if kind is not None:
        cells.append((kind, "\n".join(lines).strip("\n")))
    return cells


def notebook(cells: list[tuple[str, str]]) -> dict:
    def cell(index, kind, source):
        # nbformat 4.5 cells need an id; numbering them keeps the file the same on every rebuild
        base = {"cell_type": kind, "id": f"cell-{index}", "metadata": {},
                "source": source.splitlines(keepends=True)}
        if kind == "code":
            base.update(execution_count=None, outputs=[])
        return base

    return {"cells": [cell(i, k, s) for i, (k, s) in enumerate(cells, start=1)], "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}


if __name__ == "__main__":
    for name in sys.argv[1:] or NOTEBOOKS:
        cells = script_cells((HERE / f"{name}.py").read_text(encoding="utf-8"))
        text = json.dumps(notebook(cells), indent=1, ensure_ascii=False) + "\n"
        (HERE / f"{name}.ipynb").write_text(text, encoding="utf-8")
        print(f"wrote {HERE / f'{name}.ipynb'} ({len(cells)} cells)")
