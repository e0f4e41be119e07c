"""Training checkpoint -> shippable weights: no optimiser state, fitted pLDDT, PAE and pTM calibrations, a checksum."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..model.checkpoint import (FORMAT_VERSION, WeightsError, model_from_checkpoint, read_checkpoint, save_checkpoint,
                                sha256_of)

KEEP_KEYS = ("format_version", "config", "train_config", "state_dict", "provenance")
MIN_RESTRAINED_RESIDUES = 500  # fewer template-restrained residues than this: no separate map


def calibration_data(model, chainset, indices, seed: int = 0, restrained: bool = False, pair_samples=None):
    """Raw confidence and true lDDT-Cα per residue of structures folded from the given chains.

    restrained=False: single-sequence folds (the network's own distogram confidence). True: folds with
    the shipped template library, the chain itself and >= 95 % identical hits excluded as in the
    benchmarks; only the chains whose geometry the templates restrained count (the others are
    single-sequence folds). pair_samples: a foldlite.geometry.pae.PairErrorSamples that also receives
    every counted fold (its pairwise errors and TM-score) for the PAE and pTM maps."""
    from ..api import fold
    from ..evaluation.benchmark import TEMPLATE_MAX_IDENTITY
    from ..evaluation.metrics import lddt_ca, tm_score
    from ..geometry.confidence import expected_lddt

    raws, trues = [np.zeros(0)], [np.zeros(0)]
    for index in indices:
        chain = chainset.chain(int(index))
        options = ({"exclude_templates": (chain.name,), "max_template_identity": TEMPLATE_MAX_IDENTITY}
                   if restrained else {"templates": None})
        prediction = fold(chain.sequence, model=model, seed=seed, keep_attention=False, **options)
        if restrained and prediction.restrained_distogram is None:
            continue
        used = prediction.restrained_distogram if restrained else prediction.distogram
        raws.append(expected_lddt(used, prediction.structure.cb))
        trues.append(lddt_ca(prediction.structure.ca, chain.backbone[:, 1], per_residue=True)[1])
        if pair_samples is not None:
            tm = tm_score(prediction.structure.ca, chain.backbone[:, 1]).tm_score
            pair_samples.add(used, prediction.structure.cb, chain.cb, tm)
    return np.concatenate(raws), np.concatenate(trues)


def export_weights(checkpoint_path, out_path, calibrate: bool = False, data_path=None,
                   num_chains: int = 60, max_length: int = 300, current_weights: bool = False) -> str:
    """Write the weights file (and OUT.sha256); return a one-paragraph summary.

    A checkpoint of a run with a weight average (ema_decay > 0) holds the average as its weights and
    the optimiser's current weights beside them; current_weights=True ships the latter (at the end of
    a learning-rate decay they can beat an average that still remembers the higher rate's steps)."""
    import torch

    from ..api import LoadedModel
    from ..data.chains import ChainSet
    from ..geometry.confidence import Calibration, fit_calibration
    from ..geometry.pae import PairErrorSamples, calibrate_ptm

    payload = read_checkpoint(checkpoint_path)
    if current_weights:
        if "train_state_dict" not in payload:
            raise WeightsError(f"{checkpoint_path}: no current weights beside the average (a run without "
                             "--ema-decay, or already an exported weights file): drop --current-weights")
        payload = dict(payload, state_dict=payload["train_state_dict"],
                       provenance=dict(payload["provenance"], weights="current (not the average)"))
    shipped = {k: payload[k] for k in KEEP_KEYS if k in payload}
    shipped["format_version"] = FORMAT_VERSION
    lines = [f"exported {checkpoint_path} (step {payload['provenance']['steps']}"
             f"{', current weights' if current_weights else ''}) -> {out_path}"]
    if calibrate:
        network = model_from_checkpoint(payload, checkpoint_path).eval()
        model = LoadedModel(network, Calibration(), torch.device("cpu"), Path(checkpoint_path),
                            payload["provenance"], sha256="uncalibrated")
        chainset = ChainSet(data_path)
        candidates = chainset.indices("valid", max_length=max_length, min_length=30)
        # a seeded choice disjoint in intent from training's validation subset is not needed: calibration
        # only maps a score monotonically; it is fitted on valid and reported on test.
        chosen = np.random.default_rng(7).choice(candidates, size=min(num_chains, len(candidates)), replace=False)
        pair_samples = PairErrorSamples()
        raw, true = calibration_data(model, chainset, chosen, pair_samples=pair_samples)
        calibration = fit_calibration(raw, true)
        pearson = float(np.corrcoef(calibration(raw), true)[0, 1])
        record = {"split": "valid", "chains": len(chosen), "residues": int(len(raw)),
                  "pearson_plddt_vs_lddt_valid": round(pearson, 4)}
        lines.append(f"calibrated on {len(chosen)} valid chains ({len(raw)} residues): "
                     f"Pearson r(pLDDT, lDDT-Cα) = {pearson:.3f}")
        raw_t, true_t = calibration_data(model, chainset, chosen, restrained=True, pair_samples=pair_samples)
        if len(raw_t) >= MIN_RESTRAINED_RESIDUES:
            restrained = fit_calibration(raw_t, true_t)
            calibration = replace(calibration, restrained=restrained)
            pearson_t = float(np.corrcoef(restrained(raw_t), true_t)[0, 1])
            record["restrained"] = {"residues": int(len(raw_t)), "pearson_plddt_vs_lddt_valid": round(pearson_t, 4),
                                    "library": "shipped, the chain itself and >= 95 % copies excluded"}
            lines.append(f"template-restrained folds of the same chains ({len(raw_t)} residues): "
                         f"Pearson r = {pearson_t:.3f}")
        pair, fitted = pair_samples.fit()
        calibration = replace(calibration, pair=pair)
        ptm = calibrate_ptm(np.array(pair_samples.raw_ptm), pair.ptm)
        pearson_ptm = float(np.corrcoef(ptm, pair_samples.tm)[0, 1]) if len(ptm) > 2 else float("nan")
        record["pair"] = {"folds": len(pair_samples.tm), "fitted": fitted,
                          "pearson_ptm_vs_tm_valid": round(pearson_ptm, 4)}
        kept = sorted({"pae_near", "pae_far", "ptm"} - set(fitted))
        lines.append(f"PAE and pTM maps from {len(pair_samples.tm)} of these folds: fitted {', '.join(fitted) or 'none'}"
                     + (f" (too little data: {', '.join(kept)} kept from foldlite.geometry.pae)" if kept else "")
                     + f"; Pearson r(pTM, TM-score) = {pearson_ptm:.3f}")
        shipped["calibration"] = calibration.to_dict()
        shipped["provenance"] = dict(shipped["provenance"], calibration=record)
    save_checkpoint(shipped, out_path)
    digest = sha256_of(out_path)
    Path(str(out_path) + ".sha256").write_text(f"{digest}  {Path(out_path).name}\n")
    lines.append(f"sha256 {digest}; {Path(out_path).stat().st_size / 1e6:.1f} MB")
    return "\n".join(lines)
