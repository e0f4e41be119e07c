"""3D view of a prediction that works offline, in notebooks and in the HTML report.

py3Dmol stays the API (`pred.view()` returns a py3Dmol view), but py3Dmol's HTML loads 3Dmol.js from
a CDN when it is displayed, so without internet the view is a blank box. foldlite ships the build
that the pinned py3Dmol release expects (foldlite/assets/3dmol, made by tools/fetch_3dmol.py) and
puts it inline in front of the view's own script. Inline script is what Jupyter Notebook, JupyterLab and
VS Code all execute in an HTML output (a trusted one), with no server route, lab extension or file
access needed; the price is ~0.5 MB of JavaScript in every displayed view.

py3Dmol is imported lazily: only the viewer needs it.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

from ..structure import BACKBONE_ATOMS

# AlphaFold's pLDDT colour bands: very high, confident, low, very low.
PLDDT_BANDS = ((90, "#0053d6"), (70, "#65cbf3"), (50, "#ffdb13"), (0, "#ff7d45"))
# predicted helix, strand, coil: one set of colours for the 3D view, the figure and the report
SS_COLOURS = {"H": "#d62728", "E": "#1f77b4", "C": "#bbbbbb"}
COLOR_SCHEMES = ("plddt", "rainbow", "ss")
# 3Dmol's own secondary-structure assignment would override the prediction where the file has no
# record (it calls a predicted coil a helix if the geometry looks like one): use the records only.
MODEL_OPTIONS = {"noComputeSecondaryStructure": True}
# side chains as sticks: every atom but N, C and O, so each stick starts at its Cα
SIDECHAIN_STYLE = ({"not": {"atom": ["N", "C", "O"]}}, {"stick": {"radius": 0.2}})
_ASSETS = "assets/3dmol"


def plddt_colour(value: float) -> str:
    for threshold, colour in PLDDT_BANDS:
        if value >= threshold:
            return colour
    return PLDDT_BANDS[-1][1]


def has_side_chains(pdb_text: str) -> bool:
    """True when the model has side-chain atoms beyond Cβ (foldlite's backbone models do not)."""
    return any(line[12:16].strip() not in BACKBONE_ATOMS
               for line in pdb_text.splitlines() if line.startswith(("ATOM  ", "HETATM")))


def _grouped(numbers, labels) -> dict:
    """label -> residue numbers carrying it, in first-seen order."""
    groups: dict = {}
    for number, label in zip(numbers, labels):
        groups.setdefault(label, []).append(int(number))
    return groups


def style_commands(prediction, color: str = "plddt", sidechains: bool = False) -> list[tuple[str, dict, dict]]:
    """The 3Dmol calls (method, atom selection, style) that draw a prediction, in order.

    color: "plddt" (AlphaFold's bands), "rainbow" (N- to C-terminus) or "ss" (predicted H/E/C, the
    colours of the prediction figure). sidechains adds sticks for every atom but N, C and O.
    One list serves the notebook view and the report, so both draw the same picture.
    """
    if color not in COLOR_SCHEMES:
        raise ValueError(f"unknown colour scheme {color!r}; choose one of {COLOR_SCHEMES}")
    numbers = prediction.structure.residue_numbers
    commands = [("setStyle", {}, {"cartoon": {"color": "white"}})]
    if color == "rainbow":
        commands = [("setStyle", {}, {"cartoon": {"color": "spectrum"}})]
    else:
        labels = ([plddt_colour(float(v)) for v in prediction.plddt] if color == "plddt"
                  else [SS_COLOURS[s] for s in prediction.secondary_structure])
        commands += [("setStyle", {"resi": residues}, {"cartoon": {"color": colour}})
                     for colour, residues in _grouped(numbers, labels).items()]
    if sidechains:
        commands.append(("addStyle", *SIDECHAIN_STYLE))
    return commands


def _asset(name: str) -> str:
    return resources.files("foldlite").joinpath(f"{_ASSETS}/{name}").read_text(encoding="utf-8")


def library_licence() -> str:
    return _asset("LICENSE")


def library_version() -> str:
    return json.loads(_asset("SOURCE.json"))["version"]


@lru_cache(maxsize=1)
def library_script() -> str:
    """A <script> that defines $3Dmol from the shipped build (once per page) and tells py3Dmol's
    loader it is there. Safe to repeat: a second copy on the same page only resolves the promise."""
    source = _asset("3Dmol-min.js")
    licence = library_licence()
    # inline JavaScript must not end its own <script> element, nor the licence its comment
    if re.search(r"</script", source, re.IGNORECASE) or "*/" in licence:
        raise RuntimeError("the shipped 3Dmol.js cannot be inlined; rerun tools/fetch_3dmol.py")
    return (
        "<script>\n"
        f"/* 3Dmol.js {library_version()} (npm package 3dmol), inlined by foldlite for offline use.\n"
        f"{licence}*/\n"
        'if (typeof window.$3Dmol === "undefined") {\n'
        # define/exports/module are hidden from the library's UMD wrapper, so it sets the global
        # $3Dmol even where the page has an AMD loader (classic Notebook's require.js) or CommonJS
        # shims; `this` is the window, which the wrapper takes as the global object.
        "(function (define, exports, module) {\n"
        f"{source}\n"
        "}).call(window);\n"
        "}\n"
        # py3Dmol's HTML loads the library only while $3Dmolpromise is undefined, and then waits on
        # it: resolved here, it never fetches (a pending one left by an earlier online view is replaced)
        "window.$3Dmolpromise = Promise.resolve();\n"
        "</script>\n")


@lru_cache(maxsize=1)
def _offline_view_class():
    try:
        import py3Dmol
    except ImportError as error:  # a clear message instead of a bare ImportError deep in a notebook
        raise ImportError("Prediction.view() needs py3Dmol: pip install py3Dmol") from error

    class OfflineView(py3Dmol.view):
        """A py3Dmol view whose HTML carries 3Dmol.js inline (no CDN, no lab extension)."""

        def _make_html(self):  # every output path of py3Dmol (show, write_html, insert) goes here
            return library_script() + super()._make_html()

        def show(self):
            # text/html only: front ends without py3Dmol's lab extension render it, and the
            # half-megabyte output is not stored twice (py3Dmol also adds its own MIME type)
            import IPython.display

            IPython.display.display(IPython.display.HTML(self._make_html()))

        def _ipython_display_(self):  # a view as a cell's last expression shows the structure
            self.show()

    return OfflineView


def view_prediction(prediction, width: int = 640, height: int = 480, color: str = "plddt",
                    sidechains: bool | None = None):
    """py3Dmol view of the predicted structure (cartoon) that displays without internet.

    color: "plddt" (default), "rainbow" or "ss"; sidechains: None shows them when the model has
    side-chain atoms beyond Cβ, True/False forces them on/off.
    """
    pdb = prediction.to_pdb()
    if sidechains is None:
        sidechains = has_side_chains(pdb)
    commands = style_commands(prediction, color, sidechains)  # checks `color` before py3Dmol loads
    # js=: py3Dmol's loader is never reached (library_script resolves its promise first); an empty
    # data address keeps the CDN address out of the HTML all the same
    view = _offline_view_class()(width=width, height=height, js="data:text/javascript,")
    view.addModel(pdb, "pdb", MODEL_OPTIONS)
    for method, selection, style in commands:
        getattr(view, method)(selection, style)
    view.zoomTo()
    return view
