"""Notebook 3D view with py3Dmol (imported lazily: only the viewer needs it)."""
from __future__ import annotations

# AlphaFold's pLDDT colour bands: very high, confident, low, very low.
PLDDT_BANDS = ((90, "#0053d6"), (70, "#65cbf3"), (50, "#ffdb13"), (0, "#ff7d45"))
SIDE_CHAIN_EXCLUDED = ("N", "C", "O", "OXT")  # backbone atoms the cartoon already shows


def plddt_colour(value: float) -> str:
    for threshold, colour in PLDDT_BANDS:
        if value >= threshold:
            return colour
    return PLDDT_BANDS[-1][1]


def view_prediction(prediction, width: int = 640, height: int = 480, side_chains: bool = True):
    """py3Dmol view: cartoon coloured per residue by pLDDT; for a full-atom (relaxed) model and
    side_chains=True, also the side chains' heavy atoms as sticks in the residue's pLDDT colour."""
    try:
        import py3Dmol
    except ImportError as error:  # a clear message instead of a bare ImportError deep in a notebook
        raise ImportError("Prediction.view() needs py3Dmol: pip install py3Dmol") from error
    view = py3Dmol.view(width=width, height=height)
    view.addModel(prediction.to_pdb(), "pdb")
    view.setStyle({"cartoon": {"color": "white"}})
    atoms = prediction.structure.atoms if side_chains else None
    for i, (number, value) in enumerate(zip(prediction.structure.residue_numbers, prediction.plddt)):
        colour = plddt_colour(float(value))
        view.setStyle({"resi": int(number)}, {"cartoon": {"color": colour}})
        if atoms is not None:  # side-chain heavy atoms from CA on (no backbone N, C, O, no hydrogens)
            names = [str(n) for n, e in zip(atoms.name[atoms.residue == i], atoms.element[atoms.residue == i])
                     if e != "H" and n not in SIDE_CHAIN_EXCLUDED]
            if len(names) > 1:  # glycine has CA only
                view.addStyle({"resi": int(number), "atom": names}, {"stick": {"color": colour, "radius": 0.2}})
    view.zoomTo()
    return view
