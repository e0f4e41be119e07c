"""Predicted distogram (+ Cα torsion distribution) -> 3-D backbone. Pure functions, no model inside.

The steps, one module each, in order:

1. `distances.expected_distances`: distogram [L, L, 65] -> expected Cβ–Cβ distance and confidence.
2. `mds`: distances -> Cartesian coordinates (shortest-path completion, classical MDS, stress polish).
3. `refine`: Adam on several Cα traces at once against -log P(distances) + bonds + clashes.
4. `hand`: keep the trace or its mirror, whichever the predicted Cα torsions like more.
5. `backbone.build_backbone`: Cα trace -> N, CA, C, O, CB.
6. `reconstruct` (here): all of the above with restarts of both hands; the structure the
   distogram finds likeliest (confidence.expected_lddt) is kept.

Shapes: L residues; distances in Å; angles in radians. Everything returned is numpy float64.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .backbone import build_backbone
from .confidence import ExpectedLddt
from .distances import expected_distances
from .hand import prefers_mirror
from .mds import MIN_TRUSTED_WEIGHT, classical_mds, complete_distances, stress_polish
from .refine import RefineWeights, _adam, _Energy, compact_radius, radius_of_gyration
from .threads import on_one_blas_thread
from .vectors import mirror

# Refinement schedule: Adam's step size is roughly Å per step. 0.2 Å decaying to 0.05 moves a trace
# far enough in 100 steps to fold an MDS start, then settles it; the polish after the hand is chosen
# only repairs, at a third of the rate, down to 0.01 Å, in 40 steps.
STEPS = 100
POLISH_STEPS = 40
# Template-restrained folds start near their answer and need fewer steps. Measured on valid (issue 14,
# 40 template folds): 60 + 25 steps gave mean TM-score -0.0003 +- 0.0016 against 100 + 40, pLDDT
# against lDDT per chain r 0.960 against 0.958, in ~40 % less refinement time. Single-sequence folds
# keep 100 + 40: with 60 + 25 their TM-score was the same (-0.0003 +- 0.0012 over 60 folds) but
# pLDDT ranked them worse (per chain r 0.705 against 0.774; test, per residue: 0.465 against 0.489).
RESTRAINED_SCHEDULE = {"steps": 60, "polish_steps": 25}
# MDS restarts: 2, both hands, neither jittered (so model 1 does not depend on the seed; later models of
# fold(num_models > 1) jitter every start). A third, jittered restart stopped paying once the likeliest
# structure was kept (session 14): on two sets of 100 valid single-sequence folds, dropping it changed
# TM-score by -0.0002 and +0.0008 (SE 0.0004, 0.0006), lDDT-Cα by +0.0001, pLDDT against lDDT per chain
# r 0.825 -> 0.823 and 0.781 -> 0.778, and took ~10 % less time per fold (0.96 -> 0.86 s for the
# geometry at 301 residues; results/geometry/restarts_valid_session15.txt). Beside a template start 1 is
# enough (the hand of the MDS start is chosen by the torsions; the template start has its own): on 60
# valid chains (issue 14, results/templates/restarts_valid_session11.txt) 1 restart instead of 3 changed
# no restrained fold by more than 0.002 TM (mean +0.0000 TM, +0.0001 lDDT-Cα).
DEFAULT_RESTARTS = 2
TEMPLATE_START_RESTARTS = 1
LR_END = 0.05
POLISH_LR_FACTOR = 0.3
POLISH_LR_END = 0.01
@dataclass
class GeometryResult:
    """Output of `reconstruct`.

    coords: [L, 5, 3] N, CA, C, O, CB; ca: [L, 3]; loss: refinement energy per residue of the
    chosen restart; restart_losses: one per restart; hand_flipped: the chosen trace is the mirror
    of what refinement converged to; timings: seconds per stage; expected_lddt: the raw per-residue
    confidence [L] of the chosen structure (confidence.expected_lddt against the distogram given).
    """

    coords: np.ndarray
    ca: np.ndarray
    loss: float
    restart_losses: list[float]
    hand_flipped: bool
    best_restart: int
    timings: dict = field(default_factory=dict)
    expected_lddt: np.ndarray = field(default_factory=lambda: np.zeros(0))


@on_one_blas_thread  # the same structure whatever BLAS thread count the caller's process has
def reconstruct(distogram_probs: np.ndarray, ca_torsion_probs: np.ndarray | None = None,
                seed: int = 0, num_restarts: int | None = None, steps: int = STEPS, polish_steps: int = POLISH_STEPS,
                restart_noise: float = 1.0, lr: float = 0.2, clean_restarts: int = 2,
                stress_iterations: int = 20, far_weight: float = 0.005,
                weights: RefineWeights | None = None, extra_starts=()) -> GeometryResult:
    """Distogram [L, L, 65] (+ Cα torsion probabilities [L, 36]) -> GeometryResult.

    Start: classical MDS of the expected distances (completed by `complete_distances`), then
    `stress_iterations` weighted-SMACOF steps (`stress_polish`; completed "> 22 Å" distances
    weighted `far_weight` > 0), which repairs the local structure that classical MDS distorts when
    long distances are only estimates (per-domain Cα RMSD of a 4-domain 1000-residue benchmark
    chain 2.5-4.6 Å -> ~1 Å).

    Restarts alternate hands: even ones start from the MDS solution (mirrored first if the
    torsions prefer that), odd ones from its mirror. The first `clean_restarts` (default 2: both
    hands) start exactly there, later ones add N(0, restart_noise²) jitter drawn from numpy
    Generator(seed + r), so only those depend on the seed (pass clean_restarts=0 to make every
    restart seed-dependent, e.g. for several models). All restarts are refined together (Adam,
    `steps` steps, learning rate `lr` Å decaying to 0.05; they share the list of active far pairs,
    so a restart's result can depend slightly on the others in its batch). With torsions, each
    restart is then mirrored if `choose_hand`'s rule says so and polished for `polish_steps` more
    steps with the torsion term. Without torsions the hands compete on the final energy alone
    (the virtual Cβ makes it chiral: use num_restarts >= 2) and the lowest final energy wins; with
    torsions the structure with the highest mean expected lDDT (confidence.expected_lddt against this
    distogram) wins. Either way its expected lDDT comes back as `expected_lddt`.
    num_restarts: DEFAULT_RESTARTS, or TEMPLATE_START_RESTARTS beside extra starts when torsions are
    given.
    extra_starts: more Cα traces [L, 3] Å to refine beside the restarts, as given (not mirrored;
    jittered like the others only when clean_restarts=0), e.g. a template's trace
    (foldlite.templates.restraints.template_ca): with a good template the refinement then starts from the right
    fold instead of having to find it from the MDS solution.
    hand_flipped: the winner is the mirror image of the MDS solution's hand (False for an extra start).
    Same inputs and seed -> identical output.
    """
    if num_restarts is None:  # the MDS start's hand is chosen by the torsions; a template start has its own
        with_start = len(extra_starts) > 0 and ca_torsion_probs is not None
        num_restarts = TEMPLATE_START_RESTARTS if with_start else DEFAULT_RESTARTS
    timings = {}
    start = time.perf_counter()
    probs = np.asarray(distogram_probs, np.float32)
    length = probs.shape[0]
    if length == 0:
        return GeometryResult(np.zeros((0, 5, 3)), np.zeros((0, 3)), 0.0, [0.0], False, 0, {})
    torsions = ca_torsion_probs if ca_torsion_probs is not None and length >= 4 else None

    weights = weights or RefineWeights()
    # The refinement's energy tables and the confidence's cumulative distribution need only the
    # distogram: a helper thread builds them on the second core while the MDS start is found (numpy
    # releases the GIL in its loops; ~45 ms of the ~0.4 s at 301 residues). The same numbers either way.
    helper = ThreadPoolExecutor(max_workers=1)
    energy_soon = helper.submit(_Energy, probs, ca_torsion_probs, weights)
    scorer_soon = helper.submit(ExpectedLddt, probs)
    helper.shutdown(wait=False)  # its thread ends once both are built
    tick = time.perf_counter()
    dist, weight = expected_distances(probs)
    timings["expected_distances"] = time.perf_counter() - tick
    tick = time.perf_counter()
    init, mds_flipped = _mds_start(dist, weight, torsions, stress_iterations, far_weight)
    if weights.compactness > 0:
        # a flat distogram makes MDS spread the chain out (unknown pairs count as "> 22 Å"): start
        # no larger than a compact globule; the refinement repairs the bonds this squeezes
        scale = min(1.0, compact_radius(length) / max(radius_of_gyration(init), 1e-6))
        init = init.mean(0) + (init - init.mean(0)) * scale
    timings["mds"] = time.perf_counter() - tick

    tick = time.perf_counter()
    starts, flipped = _starts(init, mds_flipped, seed, num_restarts, clean_restarts, restart_noise, extra_starts)
    energy = energy_soon.result()
    x = np.stack(starts, axis=1).astype(np.float32)  # [L, B, 3]
    x = _adam(energy, x, steps, lr=lr, lr_end=LR_END)
    if torsions is not None:  # without torsions the hands compete on the energy alone
        x, flipped = _keep_likelier_hands(x, flipped, torsions)
    energy.use_torsion = True
    if polish_steps > 0:  # repairs the traces just mirrored, now with the torsion term
        x = _adam(energy, x, polish_steps, lr=POLISH_LR_FACTOR * lr, lr_end=POLISH_LR_END)
    final = (energy(x) / length).astype(np.float64)  # [B] energy per residue
    timings["refine"] = time.perf_counter() - tick
    scorer = scorer_soon.result()

    traces = x.astype(np.float64)  # [L, B, 3]
    tick = time.perf_counter()
    # With the hands settled by the torsions, the structure the network finds likeliest (highest mean
    # expected lDDT) wins, not the lowest energy: on 100 valid chains lDDT-Cα +0.005-0.006 and TM-score
    # +0.003 for single-sequence and template folds (results/geometry/choice_by_expected_lddt_valid_session14.txt);
    # its per-residue scores become the pLDDT, so computing them costs only the other candidates' share.
    if torsions is not None and traces.shape[1] > 1:
        candidates = [build_backbone(traces[:, b]) for b in range(traces.shape[1])]
        scores = scorer.of_each([c[:, 4] for c in candidates])
        best = int(np.argmax([s.mean() for s in scores]))
        coords, confidence = candidates[best], scores[best]
    else:  # without torsions the hands compete on the energy (the virtual Cβ is chiral)
        best = int(np.argmin(final))
        coords = build_backbone(traces[:, best])
        confidence = scorer(coords[:, 4])
    timings["choice"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start
    return GeometryResult(coords=coords, ca=coords[:, 1].copy(), loss=float(final[best]),
                          restart_losses=[float(v) for v in final], hand_flipped=bool(flipped[best]),
                          best_restart=best, timings=timings, expected_lddt=confidence)


def _mds_start(dist: np.ndarray, weight: np.ndarray, torsions: np.ndarray | None, stress_iterations: int,
               far_weight: float) -> tuple[np.ndarray, bool]:
    """Expected distances [L, L] -> (MDS trace [L, 3], whether it was mirrored to suit the torsions)."""
    completed = complete_distances(dist, weight)  # "> 22 Å" pairs: shortest-path estimates
    init = classical_mds(completed)
    if stress_iterations > 0:  # the completed distances only nudge: weight far_weight
        init = stress_polish(init, completed, np.where(weight >= MIN_TRUSTED_WEIGHT, weight, far_weight),
                             stress_iterations)
    # the MDS trace (of Cβ) already shows the hand of helices: start from it
    flipped = torsions is not None and prefers_mirror(init, torsions)
    return (mirror(init) if flipped else init), flipped


def _starts(init: np.ndarray, mds_flipped: bool, seed: int, num_restarts: int, clean_restarts: int,
            noise: float, extra_starts) -> tuple[list[np.ndarray], np.ndarray]:
    """The traces [L, 3] refinement starts from, and per start whether it is the mirror of the MDS
    solution's hand ([B] bool; False for extra starts, which keep their own hand).

    Odd restarts start from the mirror image. Refinement adapts a trace to its own hand (the
    virtual Cβ is chiral), so a wrong-hand start ends distorted; starting both hands lets the
    correct one be refined from the beginning. The first clean_restarts start without jitter.
    """
    length = len(init)
    starts, flipped = [], []
    for r in range(num_restarts):
        start_r = mirror(init) if r % 2 == 1 else init
        if r >= clean_restarts:
            start_r = start_r + np.random.default_rng(seed + r).normal(0.0, noise, init.shape)
        starts.append(start_r)
        flipped.append((r % 2 == 1) != mds_flipped)
    for e, trace in enumerate(extra_starts):
        trace = np.asarray(trace, np.float64)
        if trace.shape != init.shape or not np.isfinite(trace).all():
            raise ValueError(f"extra start must be a finite [{length}, 3] trace, got shape {trace.shape}")
        trace = trace - trace.mean(axis=0) + init.mean(axis=0)
        if clean_restarts == 0:  # every start seed-dependent: jitter this one too
            trace = trace + np.random.default_rng(seed + num_restarts + e).normal(0.0, noise, init.shape)
        starts.append(trace)
        flipped.append(False)
    return starts, np.array(flipped, dtype=bool)


def _keep_likelier_hands(x: np.ndarray, flipped: np.ndarray, torsions: np.ndarray):
    """Per trace of x [L, B, 3], keep it or its mirror, whichever the predicted Cα torsions like
    more; flipped [B] is updated to match."""
    flipped = flipped.copy()
    for r in range(x.shape[1]):
        if prefers_mirror(x[:, r].astype(np.float64), torsions):
            flipped[r] = not flipped[r]
            x[:, r] = mirror(x[:, r])
    return x, flipped
