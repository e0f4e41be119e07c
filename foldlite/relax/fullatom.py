"""Backbone model -> full-atom OpenMM topology: side chains (PDBFixer) and hydrogens (OpenMM Modeller).

The backbone model's N, CA, C, O and Cβ (not glycine's virtual one) are kept as they are. PDBFixer
places the missing heavy atoms (side chains, the C-terminal OXT) from its residue templates; they are
then moved off each other in PDBFixer's soft-core force field (soft.xml) with only the new atoms free.
PDBFixer.addMissingAtoms() does the same but without a cut-off and, when atoms stay closer than
1.3 Å, adds 2,000 steps of dynamics: that took 135 CPU-s for 238 residues here, against a few seconds
for this cut-off minimisation (the restrained Amber minimisation that follows removes what is left).
Modeller then adds the hydrogens for pH 7 at template positions.
"""
from __future__ import annotations

import io
import os

import numpy as np

from ..io.pdb import write_pdb
from ..structure import Structure

PH = 7.0
SOFT_CUTOFF_NM = 0.5  # the soft-core repulsion C / ((r / 0.2 nm)^4 + 1) is ~0.03 C at 0.5 nm
SOFT_ITERATIONS = 500


def _soft_minimise(topology, positions, new_atoms, threads: int | None):
    """Move only `new_atoms` to relieve overlaps in PDBFixer's soft-core force field; returns positions (nm)."""
    import openmm
    import pdbfixer
    from openmm import app, unit

    forcefield = app.ForceField(os.path.join(os.path.dirname(pdbfixer.__file__), "soft.xml"))
    system = forcefield.createSystem(topology)
    moving = [atom.index for atom in new_atoms]
    for index in set(range(system.getNumParticles())) - set(moving):
        system.setParticleMass(index, 0.0)  # massless particles stay where they are
    for force in system.getForces():
        if isinstance(force, openmm.CustomNonbondedForce):
            force.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffNonPeriodic)
            force.setCutoffDistance(SOFT_CUTOFF_NM)
            force.addInteractionGroup(moving, range(system.getNumParticles()))
    platform = openmm.Platform.getPlatformByName("CPU")
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform,
                             {"Threads": str(threads)} if threads else {})
    context.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, SOFT_ITERATIONS)
    return context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)


def add_atoms(structure: Structure, hydrogens: bool = True, threads: int | None = None):
    """(openmm.app.Topology, positions [N, 3] Å) of the full-atom model of `structure`."""
    from openmm import app, unit
    from pdbfixer import PDBFixer

    backbone = Structure(sequence=structure.sequence, coords=structure.coords, confidence=structure.confidence,
                         chain_id="A", atom_mask=structure.atom_mask, name=structure.name)
    fixer = PDBFixer(pdbfile=io.StringIO(write_pdb(backbone)))
    fixer.missingResidues = {}  # every residue is there; only atoms are missing
    fixer.findMissingAtoms()
    # PDBFixer's template placement without its minimisation (a private method, present since
    # pdbfixer 1.0 and the one addMissingAtoms() itself calls): heavy atoms only
    topology, positions, new_atoms, _ = fixer._addAtomsToTopology(True, True)
    if new_atoms:
        positions = _soft_minimise(topology, positions, new_atoms, threads) * unit.nanometer
    if hydrogens:
        modeller = app.Modeller(topology, positions)
        modeller.addHydrogens(pH=PH)
        topology, positions = modeller.topology, modeller.positions
    xyz = np.array(positions.value_in_unit(unit.angstrom), dtype=np.float64)  # [N, 3] Å
    return topology, xyz
