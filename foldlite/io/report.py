"""A self-contained HTML report of one prediction: one file, any browser, no server, no internet.

It holds the 3D view (the shipped 3Dmol.js inline, the same styles as `pred.view()`), per-residue
pLDDT and secondary-structure tracks (SVG; a click on a residue shows it in 3D), the prediction figure
(distance and contact map, pLDDT, SS probabilities) as an embedded PNG, and the run's facts:
sequence, templates, model version, seed, timings. The PDB it shows (with its HELIX/SHEET records)
is embedded too and can be saved from the page.
"""
from __future__ import annotations

import base64
import html
import json

from ..version import __version__
from .viz import (COLOR_SCHEMES, MODEL_OPTIONS, PLDDT_BANDS, SIDECHAIN_STYLE, SS_COLOURS, has_side_chains,
                  library_licence, library_script, library_version, plddt_colour, style_commands)

_SCHEME_NAMES = {"plddt": "pLDDT", "rainbow": "rainbow (N → C)", "ss": "secondary structure"}
_SS_NAMES = {"H": "helix", "E": "strand", "C": "coil"}
_COLUMN = 8  # SVG units per residue in the tracks

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
.facts { color: #555; } table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: left; }
th { color: #555; font-weight: normal; } pre { font-size: 12px; overflow-x: auto; }
#viewer { position: relative; width: 100%; height: 480px; border: 1px solid #ddd; box-sizing: border-box; }
.controls { margin: 0.5em 0; } .legend span { display: inline-block; margin-right: 1em; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em; vertical-align: -0.1em; }
.track-scroll { overflow-x: auto; } svg.tracks { width: 100%; height: auto; display: block; }
svg.tracks rect.residue { cursor: pointer; } svg.tracks rect.residue:hover { stroke: #000; }
img.figure { max-width: 100%; }
"""

# Draws the structure from the embedded data; `foldlite` (window.foldlite) is there for the console.
_SCRIPT = """
(function () {
  const data = JSON.parse(document.getElementById("foldlite-data").textContent);
  const element = document.getElementById("viewer");
  const viewer = $3Dmol.createViewer(element, {backgroundColor: "white"});
  viewer.addModel(data.pdb, "pdb", data.modelOptions);
  const scheme = document.getElementById("color"), sidechains = document.getElementById("sidechains");
  let focused = null;
  function draw() {
    for (const [method, selection, style] of data.styles[scheme.value]) viewer[method](selection, style);
    if (sidechains.checked) viewer.addStyle(data.sidechains[0], data.sidechains[1]);
    if (focused !== null) viewer.addStyle({resi: focused}, {stick: {radius: 0.35, color: "black"}});
    for (const legend of document.querySelectorAll(".legend")) legend.hidden = legend.dataset.scheme !== scheme.value;
    viewer.render();
  }
  function focus(residue) {
    focused = residue;
    viewer.zoomTo({resi: residue});
    draw();
  }
  scheme.addEventListener("change", draw);
  sidechains.addEventListener("change", draw);
  document.getElementById("reset").addEventListener("click", () => { focused = null; viewer.zoomTo(); draw(); });
  for (const rect of document.querySelectorAll("svg.tracks rect.residue")) {
    rect.addEventListener("click", () => focus(Number(rect.dataset.resi)));
  }
  document.getElementById("save-pdb").addEventListener("click", () => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([data.pdb], {type: "chemical/x-pdb"}));
    link.download = data.fileName;
    link.click();
  });
  viewer.zoomTo();
  draw();
  window.foldlite = {viewer: viewer, focus: focus, draw: draw};
})();
"""


def _json_for_script(value) -> str:
    """JSON that can sit inside a <script> element ('</' cannot end it early)."""
    return json.dumps(value).replace("</", "<\\/")


def _figure_png(prediction) -> str:
    """The prediction figure (maps, pLDDT, SS) as a base64 PNG: the <name>.png of `foldlite fold`."""
    from .figure_raster import prediction_png

    return base64.b64encode(prediction_png(prediction)).decode("ascii")


def _tracks_svg(prediction) -> str:
    """pLDDT bars over the SS strip over the residue letters; one clickable column per residue."""
    length = len(prediction.sequence)
    numbers = prediction.structure.residue_numbers
    bar, strip, letters = 60, 10, 12  # row heights
    # at least 6 px per residue: long chains scroll sideways instead of shrinking out of sight
    parts = [f'<div class="track-scroll"><svg class="tracks" style="min-width: {6 * length}px" '
             f'viewBox="0 0 {length * _COLUMN} {bar + strip + letters + 4}" '
             'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="pLDDT and secondary structure">']
    for i, (letter, state, value) in enumerate(zip(prediction.sequence, prediction.secondary_structure,
                                                   prediction.plddt)):
        x, height = i * _COLUMN, max(1.0, bar * float(value) / 100)
        title = f"{letter}{int(numbers[i])}  pLDDT {float(value):.1f}  {_SS_NAMES[state]}"
        parts.append(f'<g><title>{html.escape(title)}</title>'
                     f'<rect class="residue" data-resi="{int(numbers[i])}" x="{x}" y="0" width="{_COLUMN}" '
                     f'height="{bar + strip + letters}" fill="transparent"/>'
                     f'<rect x="{x + 0.5}" y="{bar - height:.1f}" width="{_COLUMN - 1}" height="{height:.1f}" '
                     f'fill="{plddt_colour(float(value))}" pointer-events="none"/>'
                     f'<rect x="{x}" y="{bar + 2}" width="{_COLUMN}" height="{strip - 2}" '
                     f'fill="{SS_COLOURS[state]}" pointer-events="none"/>'
                     f'<text x="{x + _COLUMN / 2}" y="{bar + strip + letters - 2}" font-size="8" '
                     f'text-anchor="middle" font-family="monospace" pointer-events="none">{letter}</text></g>')
    parts.append("</svg></div>")
    return "".join(parts)


def _legends() -> str:
    def swatches(items):
        return "".join(f'<span><i class="swatch" style="background:{colour}"></i>{html.escape(label)}</span>'
                       for label, colour in items)

    bands = [f"≥ {PLDDT_BANDS[0][0]}"] + [f"{low}–{high}" for (high, _), (low, _) in
                                          zip(PLDDT_BANDS, PLDDT_BANDS[1:])]
    plddt = swatches(zip([f"pLDDT {b}" for b in bands], [colour for _, colour in PLDDT_BANDS]))
    ss = swatches((_SS_NAMES[s], SS_COLOURS[s]) for s in "HEC")
    rainbow = swatches([("N-terminus", "#0000ff"), ("C-terminus", "#ff0000")])
    return "".join(f'<div class="legend" data-scheme="{scheme}">{content}</div>'
                   for scheme, content in (("plddt", plddt), ("rainbow", rainbow), ("ss", ss)))


def _templates_table(templates: list) -> str:
    if not templates:
        return "<p>No templates: folded from the sequence alone.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(str(t.get('name', '')))}</td><td>{100 * t.get('identity', 0):.0f} %</td>"
        f"<td>{100 * t.get('coverage', 0):.0f} %</td><td>{t.get('evalue', float('nan')):.2g}</td>"
        f"<td>{html.escape(str(t.get('query_range', '')))}</td><td>{t.get('weight', 0):.2f}</td></tr>"
        for t in templates)
    return ("<table><tr><th>template</th><th>identity</th><th>coverage</th><th>E-value</th>"
            f"<th>query residues</th><th>restraint weight</th></tr>{rows}</table>")


def _wrapped(text: str, width: int = 60) -> str:
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def prediction_html(prediction) -> str:
    """The report as one HTML string (about 0.6 MB, most of it 3Dmol.js)."""
    pdb = prediction.to_pdb()
    side_chains = has_side_chains(pdb)
    data = {"pdb": pdb, "fileName": f"{prediction.id}.pdb", "modelOptions": MODEL_OPTIONS,
            "styles": {scheme: style_commands(prediction, scheme) for scheme in COLOR_SCHEMES},
            "sidechains": SIDECHAIN_STYLE}
    options = "".join(f'<option value="{s}">{_SCHEME_NAMES[s]}</option>' for s in COLOR_SCHEMES)
    title = html.escape(f"{prediction.id} · foldlite prediction")
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in prediction.timings.items())
    facts = [("id", prediction.id), ("length", f"{len(prediction.sequence)} residues"),
             ("mean pLDDT", f"{prediction.mean_plddt:.1f}"), ("model", prediction.model_version),
             ("seed / rank", f"{prediction.seed} / {prediction.rank}"), ("timings", timings),
             ("written by", f"foldlite {__version__}; 3D view: 3Dmol.js {library_version()} (BSD-3-Clause)")]
    fact_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    sequence_block = "\n\n".join(f"{s}\n{ss}" for s, ss in zip(_wrapped(prediction.sequence).split("\n"),
                                                            _wrapped(prediction.secondary_structure).split("\n")))
    disabled = "" if side_chains else ' disabled title="this model has backbone atoms (N, CA, C, O, CB) only"'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{html.escape(prediction.id)}</h1>
<p class="facts">{len(prediction.sequence)} residues · mean pLDDT {prediction.mean_plddt:.1f} ·
{html.escape(prediction.model_version)} · seed {prediction.seed}, rank {prediction.rank}</p>

<h2>Structure</h2>
<div class="controls">
<label>colour <select id="color">{options}</select></label>
<label><input type="checkbox" id="sidechains"{' checked' if side_chains else ''}{disabled}> side chains</label>
<button id="reset">reset view</button> <button id="save-pdb">save PDB</button>
</div>
<div id="viewer"></div>
{_legends()}

<h2>Confidence and secondary structure along the sequence</h2>
<p class="facts">Bars: pLDDT; strip: predicted helix (red), strand (blue), coil (grey). Click a residue
to show it in the 3D view.</p>
{_tracks_svg(prediction)}

<h2>Distance and contact map</h2>
<img class="figure" alt="predicted distance and contact map, pLDDT and secondary structure"
 src="data:image/png;base64,{_figure_png(prediction)}">

<h2>Run</h2>
<table>{fact_rows}</table>
<h2>Sequence and predicted secondary structure</h2>
<pre>{html.escape(sequence_block)}</pre>
<h2>Templates</h2>
{_templates_table(prediction.templates)}
<details><summary>3Dmol.js licence</summary><pre>{html.escape(library_licence())}</pre></details>

<script type="application/json" id="foldlite-data">{_json_for_script(data)}</script>
{library_script()}<script>{_SCRIPT}</script>
</body>
</html>
"""
