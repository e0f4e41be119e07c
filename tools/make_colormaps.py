"""Write foldlite/assets/colormaps.json: the colour scales of the prediction figure's PNG
(foldlite.io.figure_raster) as 256-entry RGB tables, taken from matplotlib, which draws the same
panels for Prediction.plot(). The PNG is drawn without matplotlib (its import alone costs ~0.5 s of a
fold's CPU time), so its scales are stored; tests/io/test_figure_raster.py checks them against matplotlib.

    python tools/make_colormaps.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "foldlite" / "assets" / "colormaps.json"
NAMES = ("viridis_r", "Greys", "Greens_r")  # the distance, contact and PAE maps' scales in foldlite.io.plots


def tables() -> dict[str, str]:
    """name -> 256 RGB triplets (uint8) as hex text."""
    from matplotlib import colormaps

    out = {}
    for name in NAMES:
        rgb = colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3]
        out[name] = np.round(rgb * 255).astype(np.uint8).tobytes().hex()
    return out


def main() -> int:
    import matplotlib

    payload = {"source": f"matplotlib {matplotlib.__version__}, colormaps[name](linspace(0, 1, 256)), "
                         "RGB rounded to 0-255; made by tools/make_colormaps.py", **tables()}
    OUTPUT.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({', '.join(NAMES)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
