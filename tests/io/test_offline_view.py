"""The 3D view and the HTML report work offline.

The browser tests render `pred.view()`'s HTML (as a page, and the way notebook front ends run an
output) and `pred.to_html()` in headless Chromium with networking off, take a screenshot and check
that the structure is drawn; a plain py3Dmol view (what foldlite showed before) renders blank in the
same harness, which shows the harness is really offline. Set FOLDLITE_SCREENSHOTS=DIR to keep the
screenshots (the README's come from here).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import foldlite
from foldlite.io import viz

import headless_chromium as browser  # tests/io/headless_chromium.py

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "foldlite" / "assets" / "3dmol"
SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVK"  # 60 residues
VIEW_SIZE = (640, 480)
SS_LETTERS = {"H": "h", "E": "s", "C": "c"}  # 3Dmol.js's per-atom secondary structure codes

needs_browser = pytest.mark.skipif(
    browser.chromium() is None,
    reason="no Chromium/Chrome found: install Debian's `chromium` (.ci/run does) or set FOLDLITE_CHROMIUM")


UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"


@pytest.fixture(scope="module")
def ubiquitin():
    """What a user sees: ubiquitin folded with the shipped weights and templates (for the browser)."""
    return foldlite.fold(UBIQUITIN, record_id="ubiquitin", keep_attention=False)


@pytest.fixture(scope="module")
def prediction(tiny_weights):
    """A prediction with a designed secondary structure (an untrained model's states are arbitrary)."""
    import dataclasses

    model = foldlite.load_model(tiny_weights)
    prediction = foldlite.fold(SEQ, model=model, templates=None, keep_attention=False)
    pattern = "CCHHHHHHHHHHHHCCCEEEEECCCEEEEECCHHHHHHHHHHHCCCCEEEECCEEEECCC"
    return dataclasses.replace(prediction, ss3_probs=np.eye(3)[["HEC".index(s) for s in pattern]])


@pytest.fixture
def shots(tmp_path):
    """Where screenshots go: $FOLDLITE_SCREENSHOTS when set (kept), else the test's tmp folder."""
    folder = Path(os.environ.get("FOLDLITE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ----------------------------------------------------------------------------- without a browser

def test_shipped_3dmol_is_the_fetched_build_py3dmol_expects():
    source = json.loads((ASSETS / "SOURCE.json").read_text())
    for name, meta in source["files"].items():  # never edited by hand: tools/fetch_3dmol.py wrote them
        data = (ASSETS / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"], name
    sys.path.insert(0, str(ROOT / "tools"))
    from fetch_3dmol import expected_version

    assert source["version"] == expected_version() == viz.library_version()
    assert "BSD" in (ASSETS / "LICENSE").read_text() and source["license"] == "BSD-3-Clause"


def test_shipped_files_are_package_data():
    """A wheel carries the 3Dmol.js files (and the weights): setup.cfg's patterns match them."""
    from fnmatch import fnmatch

    from setuptools.config.setupcfg import read_configuration

    patterns = read_configuration(str(ROOT / "setup.cfg"))["options"]["package_data"]["foldlite"]
    package = ROOT / "foldlite"
    shipped = [*ASSETS.iterdir(), package / "weights" / "foldlite.pt", package / "weights" / "library.npz"]
    for path in shipped:
        name = path.relative_to(package).as_posix()
        assert any(fnmatch(name, pattern) for pattern in patterns), (name, patterns)


def test_view_html_carries_the_library_and_loads_nothing(prediction):
    html = prediction.view().write_html()  # what show() displays
    library = (ASSETS / "3Dmol-min.js").read_text()
    assert library in html
    assert "cdn.jsdelivr" not in html and "<script src" not in html.replace(" ", "").lower()
    # py3Dmol's loader sees a resolved promise before its own script runs
    assert html.index("window.$3Dmolpromise = Promise.resolve()") < html.index("loadScriptAsync")


def test_report_is_one_file_with_everything(prediction):
    html = prediction.to_html()
    assert html.count((ASSETS / "3Dmol-min.js").read_text()) == 1
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)  # nothing fetched from outside
    assert prediction.sequence in html and prediction.model_version in html
    assert "data:image/png;base64," in html  # the distance/contact map
    assert html.count('class="residue"') == len(prediction.sequence)  # one track column per residue
    data = json.loads(re.search(r'<script type="application/json" id="foldlite-data">(.*?)</script>',
                                html, re.S).group(1))
    assert data["pdb"] == prediction.to_pdb() and set(data["styles"]) == set(viz.COLOR_SCHEMES)


def test_colour_schemes_colour_every_residue_once(prediction):
    numbers = [int(n) for n in prediction.structure.residue_numbers]
    for scheme, expected in (("plddt", [viz.plddt_colour(v) for v in prediction.plddt]),
                             ("ss", [viz.SS_COLOURS[s] for s in prediction.secondary_structure])):
        commands = viz.style_commands(prediction, scheme)
        coloured = {}
        for method, selection, style in commands[1:]:
            for residue in selection["resi"]:
                assert residue not in coloured
                coloured[residue] = style["cartoon"]["color"]
        assert [coloured[n] for n in numbers] == expected
    assert viz.style_commands(prediction, "rainbow") == [("setStyle", {}, {"cartoon": {"color": "spectrum"}})]
    with pytest.raises(ValueError, match="colour scheme"):
        prediction.view(color="plddt-ish")


def test_side_chains_are_shown_when_the_model_has_them(prediction):
    pdb = prediction.to_pdb()
    assert not viz.has_side_chains(pdb)  # backbone + CB only
    with_cg = pdb.replace(" CB  MET A   1", " CG  MET A   1", 1)
    assert with_cg != pdb and viz.has_side_chains(with_cg)
    assert "stick" in prediction.view(sidechains=True).startjs
    assert "stick" not in prediction.view().startjs


def test_view_displays_as_html_in_ipython(prediction):
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    published = []
    shell.display_pub.publish = lambda data, metadata=None, **kwargs: published.append(data)
    try:
        shell.display_formatter.format(prediction.view())  # what a cell's last expression goes through
    finally:
        InteractiveShell.clear_instance()
    assert len(published) == 1 and set(published[0]) == {"text/plain", "text/html"}
    assert viz.library_script() in published[0]["text/html"]


# ----------------------------------------------------------------------------- in Chromium, offline

def _view_ss_probe():
    return """function () {
      var name = Object.keys(window).find(function (k) { return k.indexOf("viewer_") === 0; });
      var atoms = window[name].getModel().selectedAtoms({atom: "CA"});
      return {ss: atoms.map(function (a) { return a.ss; }).join("")};
    }"""


@needs_browser
@pytest.mark.slow
@pytest.mark.parametrize("host", ["page", "notebook"])
def test_view_draws_the_structure_offline(ubiquitin, host, shots, tmp_path):
    prediction = ubiquitin
    output = prediction.view(*VIEW_SIZE).write_html()  # the HTML a notebook shows (a fragment)
    html = browser.plain_page(output) if host == "page" else browser.notebook_host(output)
    page = tmp_path / f"view_{host}.html"
    page.write_text(html, encoding="utf-8")
    pixels = browser.screenshot(page, shots / f"view_{host}.png", *VIEW_SIZE)  # README: view_notebook.png
    drawn = browser.coloured_fraction(pixels[:VIEW_SIZE[1], :VIEW_SIZE[0]])
    assert drawn > 0.02, f"the view is blank offline ({drawn:.2%} coloured pixels)"
    # the viewer reads the predicted helices and strands from the PDB records, and nothing else
    found = browser.probe(html, _view_ss_probe(), tmp_path, *VIEW_SIZE)
    assert found.get("ss") == "".join(SS_LETTERS[s] for s in prediction.secondary_structure), found


@needs_browser
def test_plain_py3dmol_view_is_blank_in_the_same_harness(prediction, tmp_path):
    """What foldlite showed before: py3Dmol fetching 3Dmol.js from its CDN. Offline it draws nothing,
    so the test above measures the inlined library, not a network that happens to be there."""
    import py3Dmol

    view = py3Dmol.view(width=VIEW_SIZE[0], height=VIEW_SIZE[1])
    view.addModel(prediction.to_pdb(), "pdb")
    view.setStyle({"cartoon": {"color": "spectrum"}})
    view.zoomTo()
    page = tmp_path / "plain.html"
    page.write_text(browser.plain_page(view.write_html()), encoding="utf-8")
    pixels = browser.screenshot(page, tmp_path / "plain.png", *VIEW_SIZE)
    assert browser.coloured_fraction(pixels) < 0.001


@needs_browser
@pytest.mark.slow
def test_report_draws_the_structure_offline(ubiquitin, shots, tmp_path):
    prediction = ubiquitin
    width, height = 1000, 1300
    page = tmp_path / "report.html"
    prediction.to_html(page)
    html = page.read_text(encoding="utf-8")
    found = browser.probe(html, """function () {
      var atoms = window.foldlite.viewer.getModel().selectedAtoms({atom: "CA"});
      var box = document.getElementById("viewer").getBoundingClientRect();
      return {ss: atoms.map(function (a) { return a.ss; }).join(""),
              box: [box.left, box.top, box.right, box.bottom]};
    }""", tmp_path, width, height)
    assert found.get("ss") == "".join(SS_LETTERS[s] for s in prediction.secondary_structure), found
    pixels = browser.screenshot(page, shots / "report.png", width, height)
    left, top, right, bottom = (int(round(v)) for v in found["box"])
    drawn = browser.coloured_fraction(pixels[top + 2:bottom - 2, left + 2:right - 2])
    assert drawn > 0.02, f"the report's 3D view is blank offline ({drawn:.2%} coloured pixels)"


def test_cli_fold_html_writes_the_report(tmp_path, tiny_weights):
    from foldlite.cli import main

    out = tmp_path / "out"
    assert main(["fold", "--sequence", SEQ, "--id", "p1", "-o", str(out), "--html", "--no-plots",
                 "--templates", "none", "--weights", tiny_weights, "--quiet"]) == 0
    html = (out / "p1.html").read_text(encoding="utf-8")
    assert viz.library_script() in html and (out / "p1.pdb").read_text() in html.replace("\\n", "\n")
    assert json.loads((out / "p1.json").read_text())["files"]["html"] == "p1.html"
    from foldlite.io.outputs import output_paths

    assert "html" not in output_paths(out, "p1")  # only when asked for


@needs_browser
@pytest.mark.slow
def test_example_notebook_shows_the_structure_offline(shots, tmp_path):
    """examples/quickstart.ipynb, executed with no network (where unshare allows), displays the 3D
    view, and that output draws the structure in Chromium with networking off."""
    pytest.importorskip("nbclient")
    executed = tmp_path / "executed.ipynb"
    command = [*browser.offline_prefix(), sys.executable, str(Path(__file__).with_name("offline_notebook.py")),
               str(ROOT / "examples" / "quickstart.ipynb"), str(executed)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = [o for cell in json.loads(executed.read_text())["cells"] for o in cell.get("outputs", [])]
    views = [o["data"]["text/html"] for o in outputs
             if o.get("output_type") == "display_data" and "$3Dmol" in "".join(o["data"].get("text/html", ""))]
    assert len(views) == 1, [o.get("output_type") for o in outputs]
    html = "".join(views[0])
    assert viz.library_script() in html
    page = tmp_path / "notebook_view.html"
    page.write_text(browser.notebook_host(html), encoding="utf-8")
    pixels = browser.screenshot(page, shots / "notebook.png", *VIEW_SIZE)
    drawn = browser.coloured_fraction(pixels)
    assert drawn > 0.02, f"the notebook's 3D view is blank offline ({drawn:.2%} coloured pixels)"
