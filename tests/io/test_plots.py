"""The prediction figure with matplotlib (Prediction.plot()): foldlite never changes the user's matplotlib backend; long ids are not cut;
both triangles of the distance map have a colour bar."""
from __future__ import annotations

import subprocess
import sys

import pytest

import foldlite
from foldlite.io.plots import plot_prediction

BACKEND_SCRIPT = """
import sys, tempfile
import matplotlib
matplotlib.use("svg")  # the user's choice (svg: a backend that works without a display)
import foldlite
seen = [matplotlib.get_backend()]
model = foldlite.load_model(sys.argv[1])
prediction = foldlite.fold("MKTAYIAKQRQISFVKSHFSRQ", model=model, templates=None)
prediction.plot()
seen.append(matplotlib.get_backend())
prediction.save(tempfile.mkdtemp())  # writes the PNG
seen.append(matplotlib.get_backend())
print(" ".join(seen))
"""


def test_import_plot_and_save_leave_the_users_backend_alone(tiny_weights):
    result = subprocess.run([sys.executable, "-c", BACKEND_SCRIPT, tiny_weights], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["svg", "svg", "svg"]


@pytest.fixture(scope="module")
def prediction(tiny_weights):
    return foldlite.fold("MKTAYIAKQRQISFVKSHFSRQ", model=foldlite.load_model(tiny_weights), templates=None)


def _texts_inside(figure):
    """Every title and label drawn lies inside the figure (nothing cut at its edges)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)  # draws as the PNG writer does
    canvas.draw()
    renderer = canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    texts = list(figure.texts)
    if getattr(figure, "_suptitle", None) is not None:
        texts.append(figure._suptitle)
    for axis in figure.axes:
        texts += [axis.title, axis.xaxis.label, axis.yaxis.label]
    for text in texts:
        if not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        assert box.x0 >= -1 and box.x1 <= width + 1 and box.y0 >= -1 and box.y1 <= height + 1, text.get_text()
    return [t.get_text() for t in texts]


@pytest.mark.parametrize("record_id", ["ubiquitin", "sp_P0CG48_UBQ_HUMAN_polyubiquitin-C_fragment_1-76_x",
                                       "a" * 300])
def test_the_title_is_not_cut_for_long_ids(prediction, record_id):
    import dataclasses

    import matplotlib.pyplot as plt

    figure = plot_prediction(dataclasses.replace(prediction, id=record_id))
    texts = _texts_inside(figure)
    plt.close(figure)
    shown = record_id if len(record_id) <= 80 else record_id[:79]
    assert any(shown in text for text in texts)


def test_the_contact_triangle_has_a_colour_bar(prediction, tmp_path):
    figure = plot_prediction(prediction, path=tmp_path / "p.png")
    colour_bar_labels = [axis.get_ylabel() for axis in figure.axes if axis.get_label() == "<colorbar>"]
    # the map's two triangles each have one; the PAE panel (when the prediction has a PAE) a third
    expected = 2 + (getattr(prediction, "pae", None) is not None)
    assert len(colour_bar_labels) == expected
    assert any("contact" in label for label in colour_bar_labels)
    assert any("Cβ distance" in label for label in colour_bar_labels)
