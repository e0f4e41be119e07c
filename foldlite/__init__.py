"""foldlite: offline protein structure prediction on a laptop CPU.

    import foldlite
    pred = foldlite.fold("MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG")
    pred.plddt.mean(); pred.to_pdb(); pred.save("out/"); pred.view()

torch is imported only when the folding API is first used, so I/O modules stay light.
"""
from .version import __version__

__all__ = ["fold", "fold_models", "fold_fasta", "load_model", "Prediction", "Structure", "__version__"]


def __getattr__(name):
    if name in ("fold", "fold_models", "fold_fasta", "load_model", "Prediction"):
        from . import api

        return getattr(api, name)
    if name == "Structure":
        from .structure import Structure

        return Structure
    raise AttributeError(f"module 'foldlite' has no attribute {name!r}")
