"""Headless Chromium for the offline-view tests: screenshots and DOM read-outs with networking off.

Networking is cut twice over: Chromium runs in a new, empty network namespace (`unshare --net`,
where the kernel allows it; not even loopback is up there), and its resolver maps every host name
to "not found". `.ci/run` installs Debian's chromium when it is missing.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags for a root, headless, offline run; SwiftShader is the CPU WebGL that 3Dmol.js draws with.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
         "--enable-unsafe-swiftshader", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND"]
VIRTUAL_TIME_MS = 1500  # page time allowed for scripts before the capture (virtual: may pass faster than real time)


def chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None ($FOLDLITE_CHROMIUM overrides the search)."""
    explicit = os.environ.get("FOLDLITE_CHROMIUM")
    if explicit:
        return explicit
    return next((path for path in map(shutil.which, CANDIDATES) if path), None)


@lru_cache(maxsize=1)
def offline_prefix() -> tuple[str, ...]:
    """('unshare', '--net') where a process may enter a network namespace of its own, else ()."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0:
        return (unshare, "--net")
    return ()


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:  # a fresh, empty profile every time
        command = [*offline_prefix(), chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def screenshot(page: Path, png: Path, width: int, height: int) -> np.ndarray:
    """Render a local page and return its screenshot as an [H, W, 3] uint8 array."""
    result = _run([f"--window-size={width},{height}", f"--virtual-time-budget={VIRTUAL_TIME_MS}",
                   f"--screenshot={png}", page.resolve().as_uri()])
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {result.returncode}):\n{result.stderr[-3000:]}")
    from PIL import Image

    return np.asarray(Image.open(png).convert("RGB"))


PROBE = """<script>
// test probe: after the page's own scripts, report what the 3D viewer holds
setTimeout(function () {
  var found = {};
  try { found = (%s)(); } catch (error) { found = {error: String(error)}; }
  var pre = document.createElement("pre");
  pre.id = "foldlite-probe";
  pre.textContent = JSON.stringify(found);
  document.body.appendChild(pre);
}, 200);
</script>"""


def probe(page_html: str, expression: str, folder: Path, width: int, height: int) -> dict:
    """Load `page_html` with a probe appended and return the JSON that `expression` (a JavaScript
    function, run after the page's scripts) produced."""
    page = folder / "probe.html"
    head, _, tail = page_html.rpartition("</body>")
    page.write_text(f"{head}{PROBE % expression}</body>{tail}" if head else page_html + PROBE % expression,
                    encoding="utf-8")
    result = _run([f"--window-size={width},{height}", f"--virtual-time-budget={VIRTUAL_TIME_MS}",
                   "--dump-dom", page.resolve().as_uri()])
    start = result.stdout.find('<pre id="foldlite-probe">')
    if start < 0:
        raise RuntimeError(f"the probe did not run (exit {result.returncode}):\n{result.stderr[-3000:]}")
    text = result.stdout[start + len('<pre id="foldlite-probe">'):].split("</pre>", 1)[0]
    import html

    return json.loads(html.unescape(text))


def coloured_fraction(pixels: np.ndarray) -> float:
    """Share of strongly coloured pixels (max - min channel > 80): the cartoon, in any of the
    schemes, but not white background, black text, grey borders or py3Dmol's pink warning box."""
    channels = pixels.astype(np.int16)
    return float(((channels.max(-1) - channels.min(-1)) > 80).mean())


def plain_page(output_html: str) -> str:
    """A page with the output in its body, its scripts run as the parser meets them."""
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin: 0">'
            f"{output_html}</body></html>")


def notebook_host(output_html: str) -> str:
    """A page that shows an HTML output the way notebook front ends do: an AMD loader is present
    (classic Notebook loads require.js), the HTML goes in through innerHTML, where scripts do not run,
    and each script is then re-created in order so that it runs (JupyterLab, VS Code and classic
    Notebook all execute output scripts this way)."""
    literal = json.dumps(output_html).replace("</", "<\\/")  # a JS string that cannot end the script
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<script>window.define = function () {{}}; window.define.amd = {{}};</script></head>
<body style="margin: 0"><div id="output"></div>
<script>
var output = document.getElementById("output");
output.innerHTML = {literal};
for (const old of Array.from(output.querySelectorAll("script"))) {{
  const fresh = document.createElement("script");
  fresh.textContent = old.textContent;
  old.replaceWith(fresh);
}}
</script></body></html>"""
