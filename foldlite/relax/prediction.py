"""relax_prediction: swap a Prediction's backbone model for its relaxed full-atom model."""
from __future__ import annotations

import time


def relax_prediction(prediction, threads: int | None = None):
    """Replace prediction.structure by its relaxed full-atom model (relax_structure), keeping the backbone
    model as prediction.unrelaxed. A failure is recorded in relax_info["status"], never raised: the
    prediction then keeps its unrelaxed model. Returns the prediction."""
    tick = time.perf_counter()
    try:
        from .pipeline import RelaxError, relax_structure
    except ImportError as error:  # openmm / pdbfixer missing: say what to install
        prediction.relax_info = {"status": f"failed: relaxation needs openmm and pdbfixer ({error})"}
        return prediction
    try:
        result = relax_structure(prediction.structure, threads=threads)
    except RelaxError as error:
        prediction.relax_info = {"status": f"failed: {error}"}
    else:
        prediction.unrelaxed, prediction.structure = prediction.structure, result.structure
        prediction.relax_info = {"status": "ok", **result.info}
    prediction.timings["relax"] = time.perf_counter() - tick
    prediction.timings["total"] = prediction.timings.get("total", 0.0) + prediction.timings["relax"]
    return prediction
