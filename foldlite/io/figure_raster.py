"""The prediction figure as a PNG, drawn with Pillow: what `foldlite fold` and Prediction.save write as
<name>.png. foldlite.io.plots draws the same panels with matplotlib for Prediction.plot() (a Figure to
show or edit in a notebook).

Why not matplotlib here: importing it costs ~0.5 s of CPU time and drawing a 300-residue figure
~0.5 s more, half of what a whole fold takes on 2 cores (it ran in a process of its own, which still
took that CPU time from the fold and its search). Pillow draws this figure in ~0.05 s.

Panels, left to right: the distance map (upper triangle: expected Cβ distance, 2-22 Å; lower triangle
with the diagonal: P(contact < 8 Å)) with a colour bar for each; the PAE map (0-30 Å, as in the
AlphaFold database, so that figures compare) when the prediction has one; pLDDT along the sequence
over its confidence bands, the predicted secondary structure and its probabilities. Residues are
numbered from 1. Colour scales: foldlite/assets/colormaps.json (matplotlib's, tools/make_colormaps.py).
"""
from __future__ import annotations

import functools
import io
import json
from importlib.resources import files

import numpy as np

from ..constants import SS3_ALPHABET
from .plots import PAE_MAX, FigureData, figure_data
from .viz import PLDDT_BANDS, SS_COLOURS

HEIGHT = 560  # px
MAP_TOP, MAP_SIDE = 95, 400  # the square maps
BAR_WIDTH, BAR_HEIGHT = 16, 270  # colour bars, centred beside their map
PLOT_WIDTH = 290  # the right column
DISTANCE_RANGE = (2.0, 22.0)  # Å, as foldlite.io.plots
INK = (0, 0, 0)


@functools.lru_cache(maxsize=None)
def colour_table(name: str) -> np.ndarray:
    """[256, 3] uint8 RGB of a colour scale in foldlite/assets/colormaps.json."""
    tables = json.loads((files("foldlite") / "assets" / "colormaps.json").read_text(encoding="utf-8"))
    return np.frombuffer(bytes.fromhex(tables[name]), np.uint8).reshape(256, 3)


def colour_indices(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values -> rows of a 256-colour table, as matplotlib's imshow picks them (clipped to the ends)."""
    scaled = (np.asarray(values, np.float64) - low) / (high - low)
    return np.clip((np.nan_to_num(scaled) * 256).astype(np.int64), 0, 255)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) within [low, high], at most `most`."""
    span = max(high - low, 1e-9)
    for step in (m * 10.0 ** e for e in range(-2, 6) for m in (1, 2, 5)):
        if span / step <= most - 1:
            break
    first = np.ceil(low / step - 1e-9) * step
    return [round(v, 6) for v in np.arange(first, high + step * 1e-6, step)]


def residue_ticks(length: int, most: int) -> list[float]:
    """Residue numbers to mark: 1, then round numbers up to `length` (none crowding the 1)."""
    ticks = [t for t in nice_ticks(0, length, most) if t >= 1]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else length
    return [1.0] + [t for t in ticks if t - 1 >= 0.5 * step]


def _tick_text(value: float) -> str:
    value = float(value) + 0.0  # no "-0"
    return f"{value:g}" if value.is_integer() or abs(value) >= 1 else f"{value:.1f}"


class _Canvas:
    """A white RGB image with the few drawing operations the figure needs (text, axes, ticks)."""

    def __init__(self, width: int, height: int):
        from PIL import Image, ImageDraw

        self.image = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.image)

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def font(size: int):
        """DejaVu Sans, the font of matplotlib's figures, from matplotlib's own files (found without
        importing matplotlib); Pillow's built-in font where it is missing (it has no Å or β)."""
        import importlib.util
        from pathlib import Path

        from PIL import ImageFont

        spec = importlib.util.find_spec("matplotlib")
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            path = Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
            if path.is_file():
                return ImageFont.truetype(str(path), size)
        return ImageFont.load_default(size)

    def text(self, x: float, y: float, text: str, size: int = 12, align: str = "left", fill=INK) -> None:
        """Text with its top at y, starting at x (align "left"), centred on it or ending at it ("right")."""
        font = self.font(size)
        left, top, right, _ = self.draw.textbbox((0, 0), text, font=font)
        shift = {"left": 0, "centre": (right - left) / 2, "right": right - left}[align]
        self.draw.text((x - shift - left, y - top), text, font=font, fill=fill)

    def fitted_size(self, text: str, size: int, width: float, smallest: int = 8) -> int:
        """The largest font size up to `size` at which `text` is at most `width` pixels wide."""
        while size > smallest:
            left, _, right, _ = self.draw.textbbox((0, 0), text, font=self.font(size))
            if right - left <= width:
                break
            size -= 1
        return size

    def vertical_text(self, x: float, y_centre: float, text: str, size: int = 12) -> None:
        """Text read bottom to top, its left edge at x, centred on y_centre."""
        from PIL import Image, ImageDraw

        font = self.font(size)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        mask = Image.new("L", (right - left + 2, bottom - top + 2), 0)
        ImageDraw.Draw(mask).text((1 - left, 1 - top), text, font=font, fill=255)
        mask = mask.rotate(90, expand=True)
        self.image.paste(INK, (int(x), int(y_centre - mask.height / 2)), mask)

    def frame(self, box: tuple[int, int, int, int]) -> None:
        self.draw.rectangle(box, outline=INK, width=1)

    def curve(self, points: list[tuple[float, float]], colour, width: float, box) -> None:
        """An anti-aliased polyline inside box: drawn 4x larger into a mask, then shrunk by averaging."""
        from PIL import Image, ImageDraw

        scale = 4
        size = (box[2] - box[0] + 1, box[3] - box[1] + 1)
        mask = Image.new("L", (size[0] * scale, size[1] * scale), 0)
        ImageDraw.Draw(mask).line([((x - box[0]) * scale, (y - box[1]) * scale) for x, y in points], fill=255,
                                  width=round(width * scale), joint="curve")
        self.image.paste(colour, box[:2], mask.resize(size, Image.Resampling.BOX))

    def x_ticks(self, box, ticks: list[float], to_x, label: str | None = None) -> None:
        for value in ticks:
            x = to_x(value)
            self.draw.line([(x, box[3]), (x, box[3] + 4)], fill=INK)
            self.text(x, box[3] + 6, _tick_text(value), 11, "centre")
        if label:
            self.text((box[0] + box[2]) / 2, box[3] + 24, label, 12, "centre")

    def y_ticks(self, box, ticks: list[float], to_y, label: str | None = None, right: bool = False) -> None:
        edge = box[2] if right else box[0]
        out = 4 if right else -4
        for value in ticks:
            y = to_y(value)
            self.draw.line([(edge, y), (edge + out, y)], fill=INK)
            self.text(edge + 2 * out, y - 7, _tick_text(value), 11, "left" if right else "right")
        if label:
            self.vertical_text(edge + (42 if right else -56), (box[1] + box[3]) / 2, label)

    def paste_map(self, rgb: np.ndarray, box) -> None:
        """An [L, L, 3] (or [1, L, 3]) uint8 picture stretched over box: nearest residue when enlarged,
        averaged when shrunk (a long chain's map keeps every contact visible as a shade)."""
        from PIL import Image

        size = (box[2] - box[0], box[3] - box[1])
        picture = Image.fromarray(np.ascontiguousarray(rgb))
        shrink = picture.width > size[0] or picture.height > size[1]
        self.image.paste(picture.resize(size, Image.Resampling.BOX if shrink else Image.Resampling.NEAREST),
                         box[:2])

    def colour_bar(self, x: int, name: str, low: float, high: float, label: str) -> None:
        top = MAP_TOP + (MAP_SIDE - BAR_HEIGHT) // 2
        box = (x, top, x + BAR_WIDTH, top + BAR_HEIGHT)
        levels = colour_table(name)[colour_indices(np.linspace(high, low, BAR_HEIGHT), low, high)]  # top = high
        self.paste_map(np.repeat(levels[:, None, :], BAR_WIDTH, axis=1), box)
        self.frame(box)
        self.y_ticks(box, nice_ticks(low, high), lambda v: box[3] - (v - low) / (high - low) * BAR_HEIGHT,
                     label, right=True)


def _map_box(left: int) -> tuple[int, int, int, int]:
    return (left, MAP_TOP, left + MAP_SIDE, MAP_TOP + MAP_SIDE)


def _residue_axes(canvas: _Canvas, box, length: int) -> None:
    """Residue ticks (numbered from 1) on the bottom and left of a square map."""
    to_pixel = lambda r, start: start + (r - 0.5) / length * MAP_SIDE  # noqa: E731 (a residue's centre)
    ticks = residue_ticks(length, 8)
    canvas.frame(box)
    canvas.x_ticks(box, ticks, lambda r: to_pixel(r, box[0]), "residue")
    canvas.y_ticks(box, ticks, lambda r: to_pixel(r, box[1]), "residue")


def prediction_png(prediction) -> bytes:
    """A Prediction's figure as PNG bytes: the <name>.png of `foldlite fold` (and the HTML report's)."""
    return figure_png(figure_data(prediction))


def figure_png(data: FigureData) -> bytes:
    """The figure of `data` as PNG bytes (module docstring)."""
    length = len(data.plddt)
    map_box = _map_box(75)
    contact_bar_x = map_box[2] + 30
    distance_bar_x = contact_bar_x + 110
    right = distance_bar_x + 135
    pae_box = None
    if data.pae is not None:
        pae_box = _map_box(right + 10)
        right = pae_box[2] + 30 + 135
    width = right + PLOT_WIDTH + 25
    canvas = _Canvas(width, HEIGHT)
    canvas.text(width / 2, 10, data.title, canvas.fitted_size(data.title, 15, width - 20), "centre")

    # distance map: expected distance above the diagonal, contact probability on and below it
    upper = np.triu(np.ones((length, length), bool), 1)
    distances = colour_table("viridis_r")[colour_indices(data.distances, *DISTANCE_RANGE)]
    contacts = colour_table("Greys")[colour_indices(data.contacts, 0.0, 1.0)]
    canvas.paste_map(np.where(upper[..., None], distances, contacts), map_box)
    _residue_axes(canvas, map_box, length)
    canvas.text((map_box[0] + map_box[2]) / 2, MAP_TOP - 22, "distances (upper) / contacts (lower)", 12, "centre")
    canvas.colour_bar(contact_bar_x, "Greys", 0.0, 1.0, "P(contact < 8 Å), lower")
    canvas.colour_bar(distance_bar_x, "viridis_r", *DISTANCE_RANGE, "expected Cβ distance (Å), upper")

    if pae_box is not None:
        canvas.paste_map(colour_table("Greens_r")[colour_indices(data.pae, 0.0, PAE_MAX)], pae_box)
        _residue_axes(canvas, pae_box, length)
        canvas.text((pae_box[0] + pae_box[2]) / 2, MAP_TOP - 22, f"predicted error (PAE), pTM {data.ptm:.2f}",
                    12, "centre")
        canvas.colour_bar(pae_box[2] + 30, "Greens_r", 0.0, PAE_MAX, "predicted distance error (Å)")

    _sequence_panels(canvas, data, right)
    buffer = io.BytesIO()
    # zlib level 3 instead of Pillow's 6: ~2.5x faster, a few % larger
    canvas.image.save(buffer, format="png", compress_level=3)
    return buffer.getvalue()


def _sequence_panels(canvas: _Canvas, data: FigureData, left: int) -> None:
    """The right column: pLDDT over its bands, the SS track with its legend, P(SS) per state."""
    length = len(data.plddt)
    residues = np.arange(1, length + 1)
    to_x = lambda r: left + (r - 1) / max(length - 1, 1) * PLOT_WIDTH  # noqa: E731 (xlim 1..L)
    x_ticks = residue_ticks(length, 5)

    plddt_box = (left, MAP_TOP, left + PLOT_WIDTH, MAP_TOP + 170)
    to_y = lambda v, box, top: box[3] - v / top * (box[3] - box[1])  # noqa: E731
    highs = [100] + [low for low, _ in PLDDT_BANDS[:-1]]
    for (low, colour), high in zip(PLDDT_BANDS, highs):  # each band at 15 % of its colour over white
        tint = tuple(round(0.15 * c + 0.85 * 255) for c in hex_rgb(colour))
        canvas.draw.rectangle((left, to_y(high, plddt_box, 100), plddt_box[2], to_y(low, plddt_box, 100)), fill=tint)
    canvas.curve([(to_x(r), to_y(v, plddt_box, 100)) for r, v in zip(residues, data.plddt)], (51, 51, 51), 1.6,
                 plddt_box)
    canvas.frame(plddt_box)
    canvas.y_ticks(plddt_box, [0, 20, 40, 60, 80, 100], lambda v: to_y(v, plddt_box, 100), "pLDDT")
    canvas.text((left + plddt_box[2]) / 2, MAP_TOP - 22,
                f"mean pLDDT {data.mean_plddt:.1f}  (seed {data.seed}, rank {data.rank})", 12, "centre")

    ss_box = (left, plddt_box[3] + 50, left + PLOT_WIDTH, plddt_box[3] + 76)
    track = np.array([hex_rgb(SS_COLOURS[state]) for state in data.secondary_structure], np.uint8)[None]
    canvas.paste_map(track, ss_box)
    canvas.frame(ss_box)
    canvas.text(left - 10, ss_box[1] + 5, "SS", 12, "right")
    for k, state in enumerate(SS3_ALPHABET):  # the legend, above the track's right end
        x = ss_box[2] - 120 + 42 * k
        canvas.draw.rectangle((x, ss_box[1] - 18, x + 14, ss_box[1] - 10), fill=hex_rgb(SS_COLOURS[state]))
        canvas.text(x + 18, ss_box[1] - 20, state, 11)

    probability_box = (left, ss_box[3] + 40, left + PLOT_WIDTH, ss_box[3] + 150)
    for index, state in enumerate(SS3_ALPHABET):
        canvas.curve([(to_x(r), to_y(p, probability_box, 1.0)) for r, p in zip(residues, data.ss3_probs[:, index])],
                     hex_rgb(SS_COLOURS[state]), 1.3, probability_box)
    canvas.frame(probability_box)
    canvas.y_ticks(probability_box, [0, 0.5, 1.0], lambda v: to_y(v, probability_box, 1.0), "P(SS)")
    canvas.x_ticks(probability_box, x_ticks, to_x, "residue")
