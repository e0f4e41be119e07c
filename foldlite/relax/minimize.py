"""Restrained energy minimisation with OpenMM (Amber ff14SB), CPU platform.

As AlphaFold's relax does: the force field's energy plus harmonic restraints
0.5 * k * |x - x0|^2 that hold the predicted heavy atoms near where the model put them
(k = 10 kcal/mol/Å^2), minimised with L-BFGS until the RMS force is below `tolerance`.
No bond constraints: the force field's own X-H bond terms hold the hydrogens. With HBonds
constraints OpenMM's minimiser enforces them by repeated penalty rounds, which took 4x as long for a
300-residue model (17.7 vs 4.4 s) and reached the same energy and clash count (2026-12-01).
Solvent: "vacuum" (nonbonded cut off at 1 nm) or "gbn2" (implicit solvent, same cut-off); see
tools/measure_relax.py for what each costs and gives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KCAL = 4.184  # kJ per kcal
STIFFNESS = 10.0  # kcal/mol/Å^2
TOLERANCE = 2.39  # kcal/mol/Å (RMS force); AlphaFold's value
MAX_ITERATIONS = 0  # 0: until converged
FORCE_FIELDS = {"vacuum": ("amber14-all.xml",), "gbn2": ("amber14-all.xml", "implicit/gbn2.xml")}
CUTOFF_NM = 1.0

_FORCE_FIELD_CACHE: dict = {}


@dataclass
class Minimized:
    """positions [N, 3] Å, energies in kcal/mol (force field + restraints)."""

    positions: np.ndarray
    energy_start: float
    energy_end: float


def _force_field(solvent: str):
    from openmm import app

    if solvent not in FORCE_FIELDS:
        raise ValueError(f"unknown solvent {solvent!r}; choose one of {sorted(FORCE_FIELDS)}")
    if solvent not in _FORCE_FIELD_CACHE:  # parsing the XML takes ~1 s: once per process
        _FORCE_FIELD_CACHE[solvent] = app.ForceField(*FORCE_FIELDS[solvent])
    return _FORCE_FIELD_CACHE[solvent]


def _restraints(positions_nm: np.ndarray, restrained: np.ndarray, stiffness: float):
    """CustomExternalForce holding atoms `restrained` (int [M]) at positions_nm [N, 3] nm."""
    import openmm

    force = openmm.CustomExternalForce("0.5 * k * ((x - x0)^2 + (y - y0)^2 + (z - z0)^2)")
    force.addGlobalParameter("k", stiffness * KCAL * 100.0)  # kcal/mol/Å^2 -> kJ/mol/nm^2
    for name in ("x0", "y0", "z0"):
        force.addPerParticleParameter(name)
    for atom in restrained:
        force.addParticle(int(atom), positions_nm[atom].tolist())
    return force


def minimize(topology, positions: np.ndarray, restrained: np.ndarray, solvent: str = "vacuum",
             stiffness: float = STIFFNESS, tolerance: float = TOLERANCE, max_iterations: int = MAX_ITERATIONS,
             threads: int | None = None) -> Minimized:
    """Minimise topology at positions [N, 3] Å with atoms `restrained` (int [M]) held by restraints."""
    import openmm
    from openmm import app, unit

    system = _force_field(solvent).createSystem(topology, nonbondedMethod=app.CutoffNonPeriodic,
                                                nonbondedCutoff=CUTOFF_NM * unit.nanometer,
                                                constraints=None)
    positions_nm = positions / 10.0  # [N, 3] nm
    system.addForce(_restraints(positions_nm, restrained, stiffness))
    platform = openmm.Platform.getPlatformByName("CPU")
    properties = {"Threads": str(threads)} if threads else {}
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform, properties)
    context.setPositions(positions_nm)
    start = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilocalorie_per_mole)
    openmm.LocalEnergyMinimizer.minimize(context, tolerance * KCAL * 10.0, max_iterations)  # kJ/mol/nm
    state = context.getState(getEnergy=True, getPositions=True)
    end = state.getPotentialEnergy().value_in_unit(unit.kilocalorie_per_mole)
    moved = np.array(state.getPositions(asNumpy=True).value_in_unit(unit.angstrom), dtype=np.float64)
    return Minimized(positions=moved, energy_start=float(start), energy_end=float(end))
