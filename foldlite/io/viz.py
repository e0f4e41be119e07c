"""Notebook 3D view with py3Dmol (imported lazily: only the viewer needs it)."""
from __future__ import annotations

# AlphaFold's pLDDT colour bands: very high, confident, low, very low.
PLDDT_BANDS = ((90, "#0053d6"), (70, "#65cbf3"), (50, "#ffdb13"), (0, "#ff7d45"))


def plddt_colour(value: float) -> str:
    for threshold, colour in PLDDT_BANDS:
        if value >= threshold:
            return colour
    return PLDDT_BANDS[-1][1]


def view_prediction(prediction, width: int = 640, height: int = 480):
    """py3Dmol view: cartoon coloured per residue by pLDDT."""
    try:
        import py3Dmol
    except ImportError as error:  # a clear message instead of a bare ImportError deep in a notebook
        raise ImportError("Prediction.view() needs py3Dmol: pip install py3Dmol") from error
    view = py3Dmol.view(width=width, height=height)
    view.addModel(prediction.to_pdb(), "pdb")
    view.setStyle({"cartoon": {"color": "white"}})
    for number, value in zip(prediction.structure.residue_numbers, prediction.plddt):
        view.setStyle({"resi": int(number)}, {"cartoon": {"color": plddt_colour(float(value))}})
    view.zoomTo()
    return view
