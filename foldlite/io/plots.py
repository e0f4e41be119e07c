"""Prediction figure with matplotlib, for Prediction.plot() (a Figure to show or edit in a notebook):
predicted distance map with contacts, predicted error (PAE) map, pLDDT along the sequence, SS track.
The PNG that `foldlite fold` writes shows the same panels drawn with Pillow (foldlite.io.figure_raster),
which needs no matplotlib import.

figure_data(prediction) takes what the figure shows out of a Prediction (a few [L, L] maps, no model,
no [L, L, 65] distogram); draw_figure draws it.
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
# records compare
PAE_MAX = 30.0  # Å


def plot_prediction(prediction, path=None, pyplot: bool = True):
    """Return a matplotlib Figure; also save it as PNG when `path` is given.

    pyplot=True makes it a pyplot figure, shown the usual way (inline in notebooks); pyplot=False
    makes a plain Figure for writing files. Either way the user's backend is left as it is.
    """
    return draw_figure(figure_data(prediction), path, pyplot)


def draw_figure(data: FigureData, path=None, pyplot: bool = True):
    """The Figure of `data` (see plot_prediction for path and pyplot)."""
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    length, with_pae = len(data.plddt), data.pae is not None
    width, rects = _inch_rects(with_pae)
    size = (width, FIGURE_HEIGHT)
    if pyplot:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=size)
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=size)

    def axes(name, **kwargs):
        left, bottom, w, h = rects[name]
        return fig.add_axes((left / width, bottom / FIGURE_HEIGHT, w / width, h / FIGURE_HEIGHT), **kwargs)

    fig.suptitle(data.title, fontsize=10, y=0.975)
    # distance map: expected distance above the diagonal, contact probability on and below it
    ax_map = axes("map")
    upper = np.triu(np.ones((length, length), bool), 1)
    distance_image = ax_map.imshow(np.where(upper, data.distances, np.nan), cmap="viridis_r", vmin=2, vmax=22,
                                   interpolation="nearest")
    contact_image = ax_map.imshow(np.where(~upper, data.contacts, np.nan), cmap="Greys", vmin=0, vmax=1,
                                  interpolation="nearest")
    # colour bars in axes of their own, labelled as matplotlib labels the ones it places itself
    fig.colorbar(contact_image, cax=axes("contact_bar", label="<colorbar>"), label="P(contact < 8 Å), lower")
    fig.colorbar(distance_image, cax=axes("distance_bar", label="<colorbar>"), label="expected Cβ distance (Å), upper")
    ax_map.set_title("distances (upper) / contacts (lower)", fontsize=9)
    ax_map.set_xlabel("residue")
    ax_map.set_ylabel("residue")

    if with_pae:  # predicted Cβ distance error [L, L] Å, AlphaFold's green scale
        ax_pae = axes("pae")
        pae_image = ax_pae.imshow(data.pae, cmap="Greens_r", vmin=0, vmax=PAE_MAX, interpolation="nearest")
        fig.colorbar(pae_image, cax=axes("pae_bar", label="<colorbar>"), label="predicted distance error (Å)")
        ax_pae.set_title(f"predicted error (PAE), pTM {data.ptm:.2f}", fontsize=8)
        ax_pae.set_xlabel("residue")
        ax_pae.set_ylabel("residue")

    ax_plddt = axes("plddt")
    residues = np.arange(1, length + 1)
    ax_plddt.plot(residues, data.plddt, color="#333333", lw=1.2)
    highs = [100] + [low for low, _ in PLDDT_BANDS[:-1]]  # each band runs from its threshold to the one above
    for (low, colour), high in zip(PLDDT_BANDS, highs):
        ax_plddt.axhspan(low, high, color=colour, alpha=0.15, lw=0)
    ax_plddt.set_ylim(0, 100)
    ax_plddt.set_xlim(1, max(length, 2))
    ax_plddt.set_ylabel("pLDDT")
    ax_plddt.set_title(f"mean pLDDT {data.mean_plddt:.1f}  (seed {data.seed}, rank {data.rank})", fontsize=9)

    ax_ss = axes("ss", sharex=ax_plddt)
    # one image row of colours, not a bar per residue (300 patches made the figure 2x slower to draw)
    colours = np.array([to_rgb(SS_COLOURS[state]) for state in data.secondary_structure])[None]  # [1, L, 3]
    ax_ss.imshow(colours, aspect="auto", interpolation="nearest", extent=(0.5, length + 0.5, 0, 1))
    ax_ss.set_yticks([])
    ax_ss.set_ylabel("SS", rotation=0, labelpad=12)
    ax_ss.legend(handles=[Patch(color=SS_COLOURS[state], label=state) for state in SS3_ALPHABET],
                 ncol=3, fontsize=7, loc="upper right", frameon=False, bbox_to_anchor=(1, 2.1))

    ax_prob = axes("ss_probs", sharex=ax_plddt)
    for index, state in enumerate(SS3_ALPHABET):
        ax_prob.plot(residues, data.ss3_probs[:, index], color=SS_COLOURS[state], lw=1)
    ax_prob.set_ylim(0, 1)
    ax_prob.set_ylabel("P(SS)")
    ax_prob.set_xlabel("residue")

    if path is not None:
        fig.savefig(path, dpi=110)
        if pyplot:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return fig
