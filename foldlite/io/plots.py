"""Prediction figure: predicted distance map with contacts, predicted error (PAE) map, pLDDT along the
sequence, SS track.

figure_data(prediction) takes what the figure shows out of a Prediction (a few [L, L] maps, no model,
no [L, L, 65] distogram), so that the figure can also be drawn in another process
(foldlite.io.figure_service); draw_figure draws it, figure_png renders it to PNG bytes.

FigureLayout builds the figure for one chain length with placeholder data, and fill() puts a record's
data in. The PNG path keeps a layout's frame (everything but the data) as pixels per length and draws
only the data over it (_Blitter), so prepare_figure(length) can draw the frame before the record is
folded. The PNG is the same, pixel for pixel, as a full draw of draw_figure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import CONTACT_CLASSES, DISTOGRAM_CENTERS, DISTOGRAM_MAX, SS3_ALPHABET
from .viz import PLDDT_BANDS, SS_COLOURS


def expected_distance_map(distogram: np.ndarray) -> np.ndarray:
    """Expected Cβ distance [L, L] in Å with the > 22 Å class counted as 22 Å: the top of the colour
    scale (display only; the geometry counts it as FAR_DISTANCE)."""
    centers = np.append(DISTOGRAM_CENTERS, DISTOGRAM_MAX).astype(distogram.dtype)
    return distogram @ centers  # in the distogram's own precision: float64 centres would copy it to float64


@dataclass(frozen=True)
class FigureData:
    """What the figure shows. distances, contacts: [L, L] (Å; probability) of the distogram the
    structure was built from; pae: [L, L] Å or None; plddt: [L] 0-100; ss3_probs: [L, 3]."""

    title: str
    distances: np.ndarray
    contacts: np.ndarray
    pae: np.ndarray | None
    ptm: float | None
    plddt: np.ndarray
    mean_plddt: float
    seed: int
    rank: int
    secondary_structure: str
    ss3_probs: np.ndarray


def figure_data(prediction) -> FigureData:
    """The figure's content of a Prediction (foldlite.api.Prediction or anything with its fields)."""
    # show the distribution the structure was built from: with templates, the restrained one
    restrained = getattr(prediction, "restrained_distogram", None)
    distogram = prediction.distogram if restrained is None else restrained
    source = "network" if restrained is None else "network + templates"
    # the record id goes across the whole figure (ids can be long); the panels keep short titles
    return FigureData(title=f"{_shorten(str(prediction.id), 80)}  ({source})",
                      distances=expected_distance_map(distogram),
                      contacts=distogram[..., :CONTACT_CLASSES].sum(-1),
                      pae=getattr(prediction, "pae", None), ptm=getattr(prediction, "ptm", None),
                      plddt=np.asarray(prediction.plddt), mean_plddt=float(prediction.mean_plddt),
                      seed=prediction.seed, rank=prediction.rank,
                      secondary_structure=prediction.secondary_structure,
                      ss3_probs=np.asarray(prediction.ss3_probs))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# Fixed panel positions, in inches from the figure's lower left corner: (left, bottom, width, height).
# A layout engine ("constrained") found nearly the same places but took ~0.3 s of the figure's ~0.7 s
# of drawing at 300 residues to do it for every figure. MAP_SIDE: the square heat maps.
FIGURE_HEIGHT = 5.4
MAP_SIDE, MAP_BOTTOM = 3.6, 0.75
_COLOUR_BAR = (0.15, 2.4)  # width, height (centred on the map beside it)


def _inch_rects(with_pae: bool) -> tuple[float, dict]:
    """Figure width (in) and each panel's rectangle in inches: map, its two colour bars, PAE (with its
    colour bar), and the right column's pLDDT, SS track and P(SS) axes."""
    bar_bottom = MAP_BOTTOM + (MAP_SIDE - _COLOUR_BAR[1]) / 2
    rects = {"map": (0.65, MAP_BOTTOM, MAP_SIDE, MAP_SIDE),
             "contact_bar": (4.5, bar_bottom, *_COLOUR_BAR),
             "distance_bar": (5.45, bar_bottom, *_COLOUR_BAR)}
    right = 7.0  # the next panel starts after the distance bar's label and room for its own
    if with_pae:
        rects["pae"] = (right, MAP_BOTTOM, MAP_SIDE, MAP_SIDE)
        rects["pae_bar"] = (right + MAP_SIDE + 0.25, bar_bottom, *_COLOUR_BAR)
        right += MAP_SIDE + 1.65
    width = 2.4
    rects.update({"plddt": (right, 3.15, width, 1.6), "ss": (right, 2.25, width, 0.25),
                  "ss_probs": (right, 0.75, width, 1.1)})
    return right + width + 0.15, rects


# The PAE colour scale is fixed, as in the AlphaFold database's PAE plots, so that figures of different
# records compare (and the colour bar is the same for every record of a length; see _Blitter)
PAE_MAX = 30.0  # Å


def plot_prediction(prediction, path=None, pyplot: bool = True):
    """Return a matplotlib Figure; also save it as PNG when `path` is given.

    pyplot=True makes it a pyplot figure, shown the usual way (inline in notebooks); pyplot=False
    makes a plain Figure for writing files. Either way the user's backend is left as it is.
    """
    return draw_figure(figure_data(prediction), path, pyplot)


def draw_figure(data: FigureData, path=None, pyplot: bool = True):
    """The Figure of `data` (see plot_prediction for path and pyplot)."""
    layout = FigureLayout(len(data.plddt), data.pae is not None, pyplot)
    layout.fill(data)
    if path is not None:
        layout.figure.savefig(path, dpi=110)
        if pyplot:
            import matplotlib.pyplot as plt

            plt.close(layout.figure)
    return layout.figure


def figure_png(data: FigureData, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (what `foldlite fold` writes as <name>.png): the same picture as
    draw_figure, drawn by a _Blitter kept per length (prepare_figure draws one ahead of time)."""
    return prepare_figure(len(data.plddt), data.pae is not None, dpi).png(data)


_BLITTERS: dict = {}  # (length, with_pae, dpi) -> _Blitter, the most recently used last
_KEEP_BLITTERS = 4  # ~4 MB of pixels each at 300 residues


def prepare_figure(length: int, with_pae: bool = True, dpi: int = 110) -> "_Blitter":
    """The figure drawer for chains of `length` residues, its frame drawn now if it was not yet (a
    figure process does this when a record starts, while the record folds: foldlite.io.figure_service)."""
    key = (int(length), bool(with_pae), int(dpi))
    blitter = _BLITTERS.pop(key, None) or _Blitter(*key)
    _BLITTERS[key] = blitter
    while len(_BLITTERS) > _KEEP_BLITTERS:
        del _BLITTERS[next(iter(_BLITTERS))]
    return blitter


class _Blitter:
    """Draws figures of one length fast: the frame (axes, ticks, labels, colour bars, legend: ~0.35 s
    of matplotlib at 300 residues, most of a figure's time) is drawn once and kept as pixels; a record's
    figure restores those pixels and draws only what its data changes (matplotlib's "blitting"), then
    the axes' outlines and the legend, which a full draw puts above the data (they are left out of the
    frame too: drawn twice, their anti-aliased edges would come out darker)."""

    def __init__(self, length: int, with_pae: bool, dpi: int):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        # a plain Figure, not pyplot: nothing is shown or kept open, and the user's backend is untouched
        self.layout = FigureLayout(length, with_pae, pyplot=False)
        self.layout.figure.set_dpi(dpi)
        for artist in [*self.layout.data_artists, *self.layout.overlays]:
            artist.set_animated(True)  # left out of the frame
        self.canvas = FigureCanvasAgg(self.layout.figure)
        self.canvas.draw()
        self.frame = self.canvas.copy_from_bbox(self.layout.figure.bbox)

    def png(self, data: FigureData) -> bytes:
        import io

        from PIL import Image

        figure = self.layout.figure
        self.layout.fill(data)
        self.canvas.restore_region(self.frame)
        for artist in [*self.layout.data_artists, *self.layout.overlays]:
            figure.draw_artist(artist)
        image = Image.frombuffer("RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buffer = io.BytesIO()
        # zlib level 3 instead of Pillow's 6: 2.5x faster (0.05 against 0.13 s at 300 residues), 7 % larger
        image.save(buffer, format="png", compress_level=3)
        return buffer.getvalue()


class FigureLayout:
    """The figure's axes for a chain of `length` residues, with every artist that shows a record's data
    (data_artists: the maps, curves and the titles that carry numbers) made with placeholder data;
    fill(data) puts a record's data in. overlays: the artists a full draw puts above the data."""

    def __init__(self, length: int, with_pae: bool, pyplot: bool):
        width, rects = _inch_rects(with_pae)
        size = (width, FIGURE_HEIGHT)
        if pyplot:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=size)
        else:
            from matplotlib.figure import Figure

            fig = Figure(figsize=size)
        self.figure, self.length, self.with_pae = fig, length, with_pae

        def axes(name, **kwargs):
            left, bottom, w, h = rects[name]
            return fig.add_axes((left / width, bottom / FIGURE_HEIGHT, w / width, h / FIGURE_HEIGHT), **kwargs)

        self.title = fig.suptitle(" ", fontsize=10, y=0.975)
        ax_map = axes("map")
        blank = np.full((length, length), np.nan)
        # upper triangle: expected distance; lower triangle: contact probability
        self.upper = np.triu(np.ones((length, length), bool), 1)
        self.distance_image = ax_map.imshow(blank, cmap="viridis_r", vmin=2, vmax=22, interpolation="nearest")
        self.contact_image = ax_map.imshow(blank, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        # colour bars in axes of their own, labelled as matplotlib labels the ones it places itself
        fig.colorbar(self.contact_image, cax=axes("contact_bar", label="<colorbar>"),
                     label="P(contact < 8 Å), lower")
        fig.colorbar(self.distance_image, cax=axes("distance_bar", label="<colorbar>"),
                     label="expected Cβ distance (Å), upper")
        ax_map.set_title("distances (upper) / contacts (lower)", fontsize=9)
        ax_map.set_xlabel("residue")
        ax_map.set_ylabel("residue")
        self.data_artists = [self.title, self.distance_image, self.contact_image]
        shown_axes = [ax_map]

        if with_pae:  # predicted Cβ distance error [L, L] Å, AlphaFold's green scale
            ax_pae = axes("pae")
            self.pae_image = ax_pae.imshow(blank, cmap="Greens_r", vmin=0, vmax=PAE_MAX, interpolation="nearest")
            fig.colorbar(self.pae_image, cax=axes("pae_bar", label="<colorbar>"), label="predicted distance error (Å)")
            self.pae_title = ax_pae.set_title(" ", fontsize=8)
            ax_pae.set_xlabel("residue")
            ax_pae.set_ylabel("residue")
            self.data_artists += [self.pae_image, self.pae_title]
            shown_axes.append(ax_pae)

        ax_plddt = axes("plddt")
        residues = np.arange(1, length + 1)
        (self.plddt_line,) = ax_plddt.plot(residues, np.zeros(length), color="#333333", lw=1.2)
        highs = [100] + [low for low, _ in PLDDT_BANDS[:-1]]  # each band runs from its threshold to the one above
        for (low, colour), high in zip(PLDDT_BANDS, highs):
            ax_plddt.axhspan(low, high, color=colour, alpha=0.15, lw=0)
        ax_plddt.set_ylim(0, 100)
        ax_plddt.set_xlim(1, max(length, 2))
        ax_plddt.set_ylabel("pLDDT")
        self.plddt_title = ax_plddt.set_title(" ", fontsize=9)

        ax_ss = axes("ss", sharex=ax_plddt)
        # one image row of colours, not a bar per residue (300 patches made the figure 2x slower to draw)
        from matplotlib.patches import Patch

        self.ss_image = ax_ss.imshow(np.ones((1, length, 3)), aspect="auto", interpolation="nearest",
                                     extent=(0.5, length + 0.5, 0, 1))
        ax_ss.set_yticks([])
        ax_ss.set_ylabel("SS", rotation=0, labelpad=12)
        legend = ax_ss.legend(handles=[Patch(color=SS_COLOURS[state], label=state) for state in SS3_ALPHABET],
                              ncol=3, fontsize=7, loc="upper right", frameon=False, bbox_to_anchor=(1, 2.1))

        ax_prob = axes("ss_probs", sharex=ax_plddt)
        self.probability_lines = [ax_prob.plot(residues, np.zeros(length), color=SS_COLOURS[state], lw=1)[0]
                                  for state in SS3_ALPHABET]
        ax_prob.set_ylim(0, 1)
        ax_prob.set_ylabel("P(SS)")
        ax_prob.set_xlabel("residue")
        self.data_artists += [self.plddt_line, self.plddt_title, self.ss_image, *self.probability_lines]
        shown_axes += [ax_plddt, ax_ss, ax_prob]
        self.overlays = [spine for ax in shown_axes for spine in ax.spines.values()] + [legend]

    def fill(self, data: FigureData) -> None:
        """Show `data` (a record of this layout's length; with a PAE exactly when the layout has its panel)."""
        from matplotlib.colors import to_rgb

        if len(data.plddt) != self.length or (data.pae is not None) != self.with_pae:
            raise ValueError(f"figure data of {len(data.plddt)} residues ({'with' if data.pae is not None else 'no'} "
                             f"PAE) in a layout for {self.length} ({'with' if self.with_pae else 'no'} PAE)")
        self.title.set_text(data.title)
        self.distance_image.set_data(np.where(self.upper, data.distances, np.nan))
        self.contact_image.set_data(np.where(~self.upper, data.contacts, np.nan))
        if self.with_pae:
            self.pae_image.set_data(data.pae)
            self.pae_title.set_text(f"predicted error (PAE), pTM {data.ptm:.2f}")
        self.plddt_line.set_ydata(data.plddt)
        self.plddt_title.set_text(f"mean pLDDT {data.mean_plddt:.1f}  (seed {data.seed}, rank {data.rank})")
        self.ss_image.set_data(np.array([to_rgb(SS_COLOURS[state]) for state in data.secondary_structure])[None])
        for index, line in enumerate(self.probability_lines):
            line.set_ydata(data.ss3_probs[:, index])
