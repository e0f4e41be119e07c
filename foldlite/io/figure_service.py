"""The figure of `foldlite fold`, drawn in a process of its own.

Importing matplotlib takes ~0.4 s (0.9 s on an AVX2-only AMD EPYC) and drawing a 300-residue figure
~0.5 s, all of it Python work that would otherwise follow the geometry on the folding process's
critical path. The figure process (spawned at the start beside the search process, in the idle
scheduling class) imports matplotlib while the folding process imports torch and loads the model, in
the CPU time those and the search leave. When a record starts, it draws the
frame of a figure of that length (axes, ticks, labels: ~0.35 s) in the CPU time the search and the
fold leave; once the fold is done and its files are being made, it fills in the record's FigureData
(foldlite.io.plots: a few [L, L] maps, ~2 MB at 300 residues; ~0.1 s), which the folding process hands
over when it needs the PNG (so that the hand-over, which waits while this process is still drawing the
frame, counts in the record's "outputs" time).

    figures = FigureService()                 # spawned at once; imports matplotlib
    figures.prepare(length)                   # a record starts: draw its figure's frame meanwhile
    figures.request(key, figure_data(pred))   # queue a figure
    png = figures.result(key)                 # its PNG bytes, the same as figure_png() here
    figures.close()
"""
from __future__ import annotations

from ..background import BackgroundProcess, BackgroundProcessError
from .plots import FigureData


class FigureServiceError(BackgroundProcessError):
    """The figure process stopped answering (it died, or its pipe broke)."""


def _import_matplotlib(_):
    """Setup in the figure process: the imports a figure needs, before the first one is asked for."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import PIL.Image  # noqa: F401

    return None, None


def _draw(_, data: FigureData | int) -> bytes | None:
    """A figure's PNG bytes; for a length (prepare), None once the frame of that length is drawn."""
    from .plots import figure_png, prepare_figure

    if isinstance(data, int):
        prepare_figure(data)
        return None
    return figure_png(data)


class FigureService(BackgroundProcess):
    """A spawned process that draws figures (module docstring)."""

    Stopped = FigureServiceError

    def __init__(self):
        # the idle scheduling class: spawned beside the search process, whose answer a fold waits for
        # first, it must not slow that search (nice 15 alone, the fallback, still took 1/4 of the
        # core the torch import leaves: CFS weights 36 against the search's 110)
        super().__init__(_import_matplotlib, _draw, None, nice=15, name="foldlite-figures", idle=True)

    def prepare(self, length: int) -> None:
        """Draw the frame of a `length`-residue figure now (axes, ticks, labels: most of a figure's
        drawing time, foldlite.io.plots.prepare_figure), while the record folds, so that its figure
        only fills in the data once the fold is done. Nothing to collect."""
        key = ("frame", int(length))
        self.request(key, int(length))
        self.forget(key)
