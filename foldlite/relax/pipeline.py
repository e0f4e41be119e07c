"""relax_structure: backbone Structure -> full-atom, energy-minimised Structure (pLDDT kept per atom)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..geometry.backbone import ideal_cb
from ..structure import BACKBONE_ATOMS, AtomSite, Structure
from .fullatom import add_atoms
from .minimize import minimize

DEFAULT_SOLVENT = "vacuum"  # chosen on the valid split: see tools/measure_relax.py and the README
MAX_BACKBONE_RMSD = 2.0  # Å; a minimisation that moved the restrained backbone further has failed


class RelaxError(RuntimeError):
    """Relaxation failed; the message says why. The unrelaxed model is still usable."""


@dataclass
class RelaxResult:
    """structure: the full-atom relaxed model; info: solvent, energies (kcal/mol), backbone RMSD (Å),
    atom counts and seconds per step."""

    structure: Structure
    info: dict = field(default_factory=dict)


def _restrained_atoms(topology, structure: Structure) -> np.ndarray:
    """Indices [M] of the atoms the prediction placed: N, CA, C, O and (not for Gly) CB."""
    predicted = {"N", "CA", "C", "O", "CB"}
    return np.array([atom.index for atom in topology.atoms() if atom.name in predicted
                     and not (atom.name == "CB" and structure.sequence[atom.residue.index] == "G")], dtype=np.int64)


def _atom_site(topology, positions: np.ndarray) -> AtomSite:
    residue = [atom.residue.index for atom in topology.atoms()]
    names = [atom.name for atom in topology.atoms()]
    elements = [atom.element.symbol for atom in topology.atoms()]
    return AtomSite(residue=residue, name=names, element=elements, coords=positions)


def _backbone_from(atoms: AtomSite, structure: Structure) -> np.ndarray:
    """[L, 5, 3] Å N, CA, C, O, CB of the full-atom model (Gly: virtual CB from its N, CA, C)."""
    coords = np.array(structure.coords, dtype=np.float64)
    index = {(int(r), str(n)): k for k, (r, n) in enumerate(zip(atoms.residue, atoms.name))}
    for i in range(len(structure)):
        for k, name in enumerate(BACKBONE_ATOMS):
            if (i, name) in index:
                coords[i, k] = atoms.coords[index[(i, name)]]
    glycine = np.array([aa == "G" for aa in structure.sequence])
    coords[glycine, 4] = ideal_cb(coords[glycine, 0], coords[glycine, 1], coords[glycine, 2])
    return coords


def relax_structure(structure: Structure, solvent: str = DEFAULT_SOLVENT, threads: int | None = None,
                    minimise: bool = True) -> RelaxResult:
    """Add side chains and hydrogens to a backbone model and minimise it under restraints.

    minimise=False stops after the atoms are added (the full-atom model before minimisation).
    Raises RelaxError (with the reason) for any failure: no usable result, non-finite coordinates, or a
    backbone moved more than MAX_BACKBONE_RMSD.
    """
    if "X" in structure.sequence:
        raise RelaxError("unknown residues (X) have no side chain template")
    info = {"solvent": solvent if minimise else "none"}
    try:
        tick = time.perf_counter()
        topology, positions = add_atoms(structure, threads=threads)
        info["add_atoms_s"] = time.perf_counter() - tick
        restrained = _restrained_atoms(topology, structure)
        start = positions[restrained]  # [M, 3] Å
        if minimise:
            tick = time.perf_counter()
            result = minimize(topology, positions, restrained, solvent=solvent, threads=threads)
            info["minimize_s"] = time.perf_counter() - tick
            info["energy_start_kcal"], info["energy_end_kcal"] = result.energy_start, result.energy_end
            positions = result.positions
    except RelaxError:
        raise
    except Exception as error:  # OpenMM and PDBFixer raise many types; the caller keeps the unrelaxed model
        raise RelaxError(f"{type(error).__name__}: {error}") from error
    if not np.all(np.isfinite(positions)):
        raise RelaxError("minimisation produced non-finite coordinates")
    rmsd = float(np.sqrt(((positions[restrained] - start) ** 2).sum(-1).mean()))
    if rmsd > MAX_BACKBONE_RMSD:
        raise RelaxError(f"restrained atoms moved {rmsd:.2f} Å RMSD (limit {MAX_BACKBONE_RMSD} Å)")
    atoms = _atom_site(topology, positions)
    info.update(restrained_rmsd=rmsd, atoms=len(atoms.residue), heavy_atoms=int((atoms.element != "H").sum()))
    relaxed = Structure(sequence=structure.sequence, coords=_backbone_from(atoms, structure),
                        confidence=structure.confidence, chain_id=structure.chain_id,
                        residue_numbers=structure.residue_numbers, name=structure.name,
                        meta=dict(structure.meta), atoms=atoms)
    return RelaxResult(structure=relaxed, info=info)
