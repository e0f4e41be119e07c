"""The PNG figure drawn with Pillow (foldlite.io.figure_raster): matplotlib's colour scales, the right
colours where the maps are, any length, and no matplotlib import on the way."""
from __future__ import annotations

import dataclasses
import io
import subprocess
import sys

import numpy as np
import pytest

import foldlite
from foldlite.io.figure_raster import MAP_SIDE, MAP_TOP, colour_indices, colour_table, figure_png, nice_ticks, \
    residue_ticks
from foldlite.io.plots import PAE_MAX, FigureData, figure_data


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("name, low, high", [("viridis_r", 2.0, 22.0), ("Greys", 0.0, 1.0), ("Greens_r", 0.0, 30.0)])
def test_colours_are_the_ones_matplotlib_gives_the_same_values(name, low, high):
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    values = np.concatenate([np.random.default_rng(0).uniform(low - 5, high + 5, 2000), [low, high]])
    expected = np.round(colormaps[name](Normalize(low, high)(values))[:, :3] * 255).astype(np.uint8)
    assert np.array_equal(colour_table(name)[colour_indices(values, low, high)], expected)


def _planted(length: int, with_pae: bool = True) -> FigureData:
    """A figure whose maps are one value each: every distance 2 Å, no contact, every error 30 Å."""
    return FigureData(title="planted", distances=np.full((length, length), 2.0), contacts=np.zeros((length, length)),
                      pae=np.full((length, length), PAE_MAX) if with_pae else None, ptm=0.5 if with_pae else None,
                      plddt=np.linspace(20, 95, length), mean_plddt=57.5, seed=0, rank=1,
                      secondary_structure="H" * length, ss3_probs=np.tile([0.8, 0.1, 0.1], (length, 1)))


@pytest.mark.parametrize("length", [10, 301, 2000])
def test_each_triangle_and_the_error_map_show_their_colour(length):
    pixels = _pixels(figure_png(_planted(length)))
    assert pixels.shape[0] == 560
    left = 75  # the distance map's left edge (figure_raster.figure_png)
    near_top_right = pixels[MAP_TOP + 20, left + MAP_SIDE - 20]  # upper triangle: distance 2 Å
    near_bottom_left = pixels[MAP_TOP + MAP_SIDE - 20, left + 20]  # lower triangle: P(contact) 0
    assert tuple(near_top_right) == tuple(colour_table("viridis_r")[0])
    assert tuple(near_bottom_left) == tuple(colour_table("Greys")[0])
    # the error map: somewhere right of the distance map, every pixel of its centre at PAE_MAX
    greens_top = tuple(colour_table("Greens_r")[255])
    row = pixels[MAP_TOP + MAP_SIDE // 2]
    assert sum(tuple(p) == greens_top for p in row) > MAP_SIDE // 2


def test_without_a_pae_the_figure_is_narrower():
    assert _pixels(figure_png(_planted(50, with_pae=False))).shape[1] < _pixels(figure_png(_planted(50))).shape[1]


def test_ticks_are_round_and_within_range():
    assert residue_ticks(300, 8) == [1, 50, 100, 150, 200, 250, 300]
    for length in (10, 11, 37, 99, 1000, 2000):
        ticks = residue_ticks(length, 8)
        assert ticks[0] == 1 and ticks[-1] <= length and len(ticks) <= 9 and ticks == sorted(set(ticks))
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_the_fold_command_and_save_write_the_same_png(tiny_weights, tmp_path):
    from foldlite.cli import main

    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLG"
    assert main(["fold", "--sequence", sequence, "--id", "q", "-o", str(tmp_path / "cli"),
                 "--weights", tiny_weights, "--templates", "none", "--quiet"]) == 0
    prediction = foldlite.fold(sequence, model=foldlite.load_model(tiny_weights), templates=None, record_id="q")
    prediction.save(tmp_path / "here", name="q")
    png = (tmp_path / "cli" / "q.png").read_bytes()
    assert png == (tmp_path / "here" / "q.png").read_bytes()
    assert png == figure_png(figure_data(prediction))


NO_MATPLOTLIB = """
import sys, tempfile
import foldlite
prediction = foldlite.fold("MKTAYIAKQRQISFVKSHFSRQ", model=foldlite.load_model(sys.argv[1]), templates=None)
prediction.save(tempfile.mkdtemp(), html=True)
print(sorted(name for name in sys.modules if name.split(".")[0] in ("matplotlib", "torch")))
"""


def test_writing_the_files_imports_no_matplotlib(tiny_weights):
    result = subprocess.run([sys.executable, "-c", NO_MATPLOTLIB, tiny_weights], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "matplotlib" not in result.stdout, result.stdout[:500]


@pytest.mark.parametrize("with_pae", [True, False])
def test_the_longest_title_fits_inside_the_figure(with_pae):
    """figure_data keeps titles to 80 characters (plus the source): the widest of them is not cut."""
    data = dataclasses.replace(_planted(30, with_pae), title="W" * 80 + "  (network + templates)")
    band = _pixels(figure_png(data))[:32]  # the title's rows
    assert (band < 128).any()  # drawn
    assert (band[:, :4] == 255).all() and (band[:, -4:] == 255).all()  # and not touching either edge
