"""Python API: load_model -> fold / fold_models / fold_fasta -> Prediction.

    import foldlite
    pred = foldlite.fold("MQIFVKTLTG...")
    pred.plddt.mean(); pred.to_pdb(); pred.save("out/"); pred.view()

fold_models() is the pipeline, one stage folder after another: check the sequence -> templates
(foldlite.templates.prepare: search the shipped structure library, build the network's template
features) -> run_network (foldlite.model) -> template restraints mixed into the distogram ->
reconstruct (foldlite.geometry) -> Prediction. fold() returns its one model. Pass templates=None to
fold from the sequence alone.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .geometry.confidence import Calibration
from .constants import CONTACT_CLASSES, SS3_ALPHABET
from .io.fasta import check_length, read_fasta
from .geometry.pae import predicted_errors
from .geometry.reconstruct import RESTRAINED_SCHEDULE, reconstruct
from .geometry.refine import RefineWeights
from .geometry.threads import one_blas_thread
from .model.loaded import (DeviceError, LoadedModel, NetworkOutput, load_model, resolve_device,  # noqa: F401
                           run_network)
from .structure import Structure
from .templates.resolve import resolve_templates
from .templates.prepare import RESTRAIN_GEOMETRY, TemplateOptions, prepare_templates
from .templates.search import DEFAULT_MAX_EVALUE
from .tokenizer import describe_modified, modified_residues, normalize_sequence

MIN_LENGTH = 10  # residues; shorter peptides have no fold for a distogram to describe
MAX_LENGTH = 2000  # residues; memory grows as L² (see README "Limits")
# Geometry for folds without template restraints, chosen on valid (results/tune_compactness_valid.txt):
# compactness 10 (TM 0.147 -> 0.204, Rg 36 -> 15 Å), a firmer clash term (clashes 555 -> 214 / 1,000 atoms).
SINGLE_SEQUENCE_WEIGHTS = RefineWeights(compactness=10.0, clash=100.0, clash_distance=5.0)


class ModifiedResidueWarning(UserWarning):
    """Some residues were folded as others (U as C, O as K, B/Z/J as X); Prediction.modified_residues."""


_DEFAULT_MODEL: dict[str, LoadedModel] = {}


def _default_model(device) -> LoadedModel:
    key = "cpu" if str(device) == "cpu" else str(resolve_device(device))
    if key not in _DEFAULT_MODEL:
        _DEFAULT_MODEL[key] = load_model(None, key)
    return _DEFAULT_MODEL[key]


@dataclass
class Prediction:
    """A folded sequence: structure, confidences and every head's output.

    distogram is the network's prediction (with the templates as its input when any were found).
    When template restraints were also mixed in (restrain_geometry), the structure was built from
    restrained_distogram (see foldlite.templates.restraints.combine) and pLDDT is computed from that same
    distribution; otherwise restrained_distogram is None. pLDDT is calibrated on valid folds of the
    same kind (with template restraints or without; Calibration.for_fold). templates: one dict per template found (foldlite.templates.prepare.describe),
    best first; empty when none. modified_residues: the input residues folded as others
    (tokenizer.ModifiedResidue: U as C, O as K, B/Z/J as X), empty when none. pae [L, L] and ptm come
    from the distribution the geometry used and the built Cβ (foldlite.geometry.pae). After relax=True
    `structure` is the full-atom relaxed model and `unrelaxed` the backbone model it came from; when
    relaxation failed, `structure` stays the unrelaxed model and relax_info["status"] says why.
    """

    id: str
    sequence: str
    structure: Structure
    distogram: np.ndarray  # [L, L, 65] Cβ distance-bin probabilities
    ss3_probs: np.ndarray  # [L, 3] H, E, C
    attention: np.ndarray | None  # [layers*heads, L, L] attention probabilities (float16)
    seed: int
    rank: int = 1
    timings: dict = field(default_factory=dict)
    model_version: str = ""
    geometry_loss: float = float("nan")
    templates: list = field(default_factory=list)
    restrained_distogram: np.ndarray | None = None  # [L, L, 65] used for geometry and pLDDT, or None
    modified_residues: list = field(default_factory=list)
    pae: np.ndarray | None = None  # [L, L] Å predicted Cβ distance error of the model (geometry.pae)
    ptm: float = float("nan")  # predicted TM-score of the model, 0-1 (geometry.pae)
    unrelaxed: Structure | None = None  # the backbone model before relaxation, when relaxed
    relax_info: dict = field(default_factory=dict)  # {"status": "ok" | "failed: ...", timings, ...}
    runtime: str = ""  # what ran the network: "onnx" (ONNX Runtime) or "torch" (foldlite.model.runtime)

    @property
    def plddt(self) -> np.ndarray:
        """Per-residue pLDDT [L], 0-100."""
        return self.structure.confidence

    @property
    def mean_plddt(self) -> float:
        return float(np.mean(self.plddt))

    @property
    def relaxed(self) -> bool:
        """True when `structure` is the relaxed full-atom model."""
        return self.unrelaxed is not None

    @property
    def contacts(self) -> np.ndarray:
        """P(Cβ–Cβ < 8 Å) [L, L]."""
        return self.distogram[..., :CONTACT_CLASSES].sum(-1)

    @property
    def attention_contacts(self) -> np.ndarray:
        """P(Cβ–Cβ < 8 Å) [L, L] from the attention maps alone (foldlite.model.attention_probe)."""
        from .model.attention_probe import attention_contacts
        return attention_contacts(self.attention, self.model_version)

    @property
    def secondary_structure(self) -> str:
        """Predicted 3-state secondary structure, one of H/E/C per residue."""
        return "".join(SS3_ALPHABET[i] for i in self.ss3_probs.argmax(-1))

    def to_pdb(self) -> str:
        """PDB text with pLDDT in the B-factors and the predicted helices and strands (HELIX/SHEET)."""
        from .io.pdb import write_pdb

        return write_pdb(self.structure, secondary_structure=self.secondary_structure)

    def to_cif(self) -> str:
        """mmCIF text with pLDDT in the B-factors and the predicted helices and strands (_struct_conf)."""
        from .io.pdb import write_cif

        return write_cif(self.structure, secondary_structure=self.secondary_structure)

    def summary(self) -> dict:
        """JSON-ready description (sequence, pLDDT, SS, seed, timings, model version, templates)."""
        return {
            "id": self.id, "sequence": self.sequence, "length": len(self.sequence),
            "mean_plddt": round(self.mean_plddt, 2),
            "plddt": [round(float(v), 2) for v in self.plddt],
            "secondary_structure": self.secondary_structure,
            "seed": self.seed, "rank": self.rank,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "model_version": self.model_version, "runtime": self.runtime,
            "templates": list(self.templates),
            "modified_residues": [m._asdict() for m in self.modified_residues],
            "ptm": round(self.ptm, 4) if np.isfinite(self.ptm) else None,
            "mean_pae": round(float(self.pae.mean()), 3) if self.pae is not None else None,
            "relax": {k: round(v, 4) if isinstance(v, float) else v for k, v in self.relax_info.items()}
            if self.relax_info else None,
        }

    def save(self, directory: str | os.PathLike, name: str | None = None, fmt: str = "pdb",
             plots: bool = True, overwrite: bool = False, html: bool = False, **options) -> dict[str, Path]:
        """Write <name>.pdb|.cif, <name>.json, <name>_distogram.npz and <name>.png into directory
        (and the <name>.html report with html=True; full_distogram=True keeps the [L, L, 65] arrays).

        Any existing file of this name (either format) is an OutputExistsError unless overwrite, which
        replaces or removes every old file of the name (no figure or JSON of another prediction stays).
        """
        from .io.outputs import write_prediction

        return write_prediction(self, Path(directory), name=name, fmt=fmt, plots=plots, overwrite=overwrite,
                                html=html, **options)

    def plot(self, path: str | os.PathLike | None = None):
        """Distance map with contacts, pLDDT along the sequence, SS track (matplotlib Figure)."""
        from .io.plots import plot_prediction

        return plot_prediction(self, path)

    def view(self, width: int = 640, height: int = 480, color: str = "plddt", sidechains: bool | None = None):
        """py3Dmol view (cartoon) for notebooks, with 3Dmol.js inline: it displays without internet.

        color: "plddt" (default), "rainbow" (N- to C-terminus) or "ss" (predicted secondary
        structure); sidechains: shown when the model has them (None), or forced on/off.
        """
        from .io.viz import view_prediction

        return view_prediction(self, width=width, height=height, color=color, sidechains=sidechains)

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """A self-contained HTML report (3D view, pLDDT and SS tracks, distance/contact map, run
        facts) that opens in any browser without a server or internet; also written to `path`."""
        from .io.report import prediction_html

        html = prediction_html(self)
        if path is not None:
            from .io.safe_io import atomic_write_text

            atomic_write_text(Path(path), html, encoding="utf-8")
        return html


def fold(sequence: str, model: LoadedModel | None = None, seed: int = 0, num_models: int = 1,
         device: str | None = "cpu", record_id: str = "query", keep_attention: bool = True,
         num_restarts: int | None = None, templates="auto", exclude_templates=(),
         max_template_identity: float | None = None,
         restrain_geometry: bool | None = None, template_start: bool = True,
         template_evalue: float | None = None, modified=None,
         relax: bool = False) -> Prediction:
    """Fold one sequence into one Prediction (for several structures ranked by pLDDT: fold_models).

    templates: "auto" (the shipped structure library when present), None or "none" (network only),
    a library path (cached per process) or a foldlite.templates.library.Library. The templates found
    are the network's template input; restrain_geometry also mixes their distance distributions
    into the distogram the geometry uses (default True, see foldlite.templates.prepare).
    exclude_templates (chain names) and max_template_identity (e.g. 0.95) keep the query itself and
    its copies out, for benchmarking. template_evalue: the search's E-value cut-off (default
    foldlite.templates.search.DEFAULT_MAX_EVALUE). template_start: also refine from the best
    templates' Cα traces beside the MDS restarts (num_restarts: see reconstruct); the likeliest refined
    structure is kept. Its starts are not jittered: the seed matters only to fold_models' later models.
    num_models: must be 1 (kept so that older calls asking for several get a clear message).
    modified: the substitutions already made in a canonical `sequence` (FastaRecord.modified); by
    default they are read off `sequence`. Any substitution (U as C, O as K, B/Z/J as X) is reported
    with a ModifiedResidueWarning and kept in Prediction.modified_residues (and the JSON).
    relax: add side chains and hydrogens and minimise under restraints (foldlite.relax.prediction);
    a failure leaves the model unrelaxed and says why in prediction.relax_info.
    """
    if num_models > 1:
        raise ValueError(f"fold() returns one Prediction; for num_models={num_models} ranked structures "
                         f"call foldlite.fold_models(sequence, num_models={num_models}, ...)")
    return fold_models(sequence, model, seed, num_models, device, record_id, keep_attention, num_restarts,
                       templates, exclude_templates, max_template_identity, restrain_geometry, template_start,
                       template_evalue, modified, relax)[0]


def fold_models(sequence: str, model: LoadedModel | None = None, seed: int = 0, num_models: int = 1,
                device: str | None = "cpu", record_id: str = "query", keep_attention: bool = True,
                num_restarts: int | None = None, templates="auto", exclude_templates=(),
                max_template_identity: float | None = None,
                restrain_geometry: bool | None = None, template_start: bool = True,
                template_evalue: float | None = None, modified=None,
                relax: bool = False) -> list[Prediction]:
    """Fold one sequence into `num_models` Predictions ranked by mean pLDDT (options as fold()).

    The pipeline, in data-flow order: check -> templates -> network -> restraints -> geometry ->
    Prediction. The network runs once; the structures come from geometry seeds seed, seed+1, ...
    """
    if num_models < 1:
        raise ValueError(f"num_models must be at least 1, got {num_models}")
    given, sequence = sequence, normalize_sequence(sequence, record_id)
    modified = list(modified_residues(given) if modified is None else modified)
    check_length(record_id, sequence, MIN_LENGTH, MAX_LENGTH)
    if modified:
        warnings.warn(f"{record_id}: folded {describe_modified(modified)}", ModifiedResidueWarning,
                      stacklevel=2)
    model = model or _default_model(device)
    library = resolve_templates(templates)  # before the network: a bad library path fails fast
    options = TemplateOptions(
        max_evalue=DEFAULT_MAX_EVALUE if template_evalue is None else template_evalue,
        exclude_names=tuple(exclude_templates), max_identity=max_template_identity,
        restrain_geometry=RESTRAIN_GEOMETRY if restrain_geometry is None else restrain_geometry,
        start=template_start)

    tick = time.perf_counter()
    with one_blas_thread():  # all numpy work of the fold (not the network's): see foldlite.geometry.threads
        found = prepare_templates(sequence, library, options)
    templates_s = time.perf_counter() - tick

    tick = time.perf_counter()
    net = run_network(model, sequence, keep_attention, templates=found.features)
    network_s = time.perf_counter() - tick
    found.features = None  # [T, L, L]: not needed any more

    with one_blas_thread():
        tick = time.perf_counter()
        distogram, torsion = found.restrain(net.distogram, net.ca_torsion)
        starts = found.starts()
        templates_s += time.perf_counter() - tick

        # no restraints: pull the chain to a globule's size; restrained: fewer steps (see both constants)
        weights, schedule = (None, RESTRAINED_SCHEDULE) if found.restrains else (SINGLE_SEQUENCE_WEIGHTS, {})
        predictions = []
        for k in range(num_models):
            tick = time.perf_counter()
            # model 1 keeps the clean MDS starts; later ones are all seeded jitter (a different structure each)
            result = reconstruct(distogram, torsion, seed=seed + k, num_restarts=num_restarts,
                                 clean_restarts=2 if k == 0 else 0, extra_starts=starts, weights=weights, **schedule)
            structure = _structure(result.coords, sequence, record_id, model.calibration.for_fold(found.restrains),
                                   result.expected_lddt)
            pae, ptm = predicted_errors(distogram, result.coords[:, 4], model.calibration.pair)  # [L, L] Å, 0-1
            geometry_s = time.perf_counter() - tick
            predictions.append(Prediction(
                id=record_id, sequence=sequence, structure=structure, distogram=net.distogram,
                ss3_probs=net.ss3, attention=net.attention, seed=seed + k,
                timings={"network": network_s, "templates": templates_s, "geometry": geometry_s,
                         "total": network_s + templates_s + geometry_s},
                model_version=model.version, runtime=model.runtime, geometry_loss=result.loss, templates=found.used,
                restrained_distogram=distogram if found.restrains else None, pae=pae, ptm=ptm,
                modified_residues=modified))
            if relax:
                from .relax.prediction import relax_prediction

                relax_prediction(predictions[-1])
    predictions.sort(key=lambda p: -p.mean_plddt)
    for rank, prediction in enumerate(predictions, start=1):
        prediction.rank = rank
    return predictions


def _structure(coords: np.ndarray, sequence: str, record_id: str, calibration: Calibration,
               raw_confidence: np.ndarray) -> Structure:
    """Backbone [L, 5, 3] and its raw expected lDDT [L] (the geometry's) -> Structure with pLDDT."""
    plddt = calibration(raw_confidence)
    # predicted coordinates have no absolute frame: centre them (Cα centroid at the origin) so long
    # chains stay inside the fixed-width PDB coordinate columns
    coords = coords - coords[:, 1].mean(axis=0)
    return Structure(sequence=sequence, coords=coords, confidence=plddt, name=record_id)


def fold_fasta(path: str | os.PathLike, model: LoadedModel | None = None, **kwargs) -> Iterator[Prediction]:
    """Fold every record of a FASTA file, streaming: one record in memory at a time."""
    for record in read_fasta(path):
        yield fold(record.sequence, model=model, record_id=record.id, modified=record.modified, **kwargs)
