"""Full-atom models: side chains and hydrogens (PDBFixer), then restrained Amber minimisation (OpenMM).

    from foldlite.relax import relax_structure
    result = relax_structure(structure)      # RelaxResult: .structure (full atom), .info (timings, RMSD)

openmm and pdbfixer are imported only here, when a relaxation is asked for.
"""
from .pipeline import RelaxError, RelaxResult, relax_structure

__all__ = ["RelaxError", "RelaxResult", "relax_structure"]
