"""Fit the attention-only contact probe and report it on held-out chains.

A logistic regression over the trunk's symmetrised, APC-corrected attention maps (one feature per
layer·head, foldlite.model.attention_probe), L2-regularised, contacts = Cβ–Cβ < 8 Å:
  train: pairs with |i-j| >= 6 sampled from TRAIN chains;
  valid: the L2 strength is chosen by long-range top-L/5 precision on VALID chains (and the best
         single head, for comparison);
  test:  the chosen probe's long-range top-L/5 precision on TEST chains next to the pair stack's
         (the distogram's P(contact), single sequence, no templates: as `foldlite model-metrics`),
         and each head's own precision; the probe's weights show which heads carry the signal.

    OMP_NUM_THREADS=1 python tools/fit_attention_probe.py --threads 1 \
        -o foldlite/weights/attention_probe.npz --report results/attention_probe.txt
"""
from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foldlite.api import load_model  # noqa: E402
from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.evaluation.attention import (LONG_RANGE, PROBE_MIN_SEPARATION, fit_probe,  # noqa: E402
                                           head_precisions, network_maps, sample_pairs)
from foldlite.evaluation.benchmark import select_chains  # noqa: E402
from foldlite.evaluation.metrics import contact_precision  # noqa: E402
from foldlite.io.safe_io import atomic_write_text  # noqa: E402
from foldlite.model.attention_probe import symmetrized_apc  # noqa: E402
from foldlite.model.precision import cpu_bf16_is_fast  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="chain set (default: $FOLDLITE_DATA or ../shared/data)")
    p.add_argument("--weights", default=None, help="weights the probe is for (default: the shipped ones)")
    p.add_argument("--train-chains", type=int, default=400)
    p.add_argument("--valid-chains", type=int, default=100)
    p.add_argument("--test-chains", type=int, default=250)
    p.add_argument("--train-lengths", default="30-400", help="MIN-MAX residues of train chains")
    p.add_argument("--eval-lengths", default="30-600", help="MIN-MAX residues of valid/test chains "
                   "(30-600 with 250 test chains: the chains of the shipped model-metrics numbers)")
    p.add_argument("--pairs-per-chain", type=int, default=3000, help="sampled training pairs per chain")
    p.add_argument("--l2", default="0.00001,0.001,0.1", help="L2 strengths to choose from on valid")
    p.add_argument("--min-sep", default="6,12,24",
                   help="fit on pairs with |i-j| at least this (candidates, chosen on valid)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("-o", "--out", required=True, help="probe file to write (.npz)")
    p.add_argument("--report", default=None, help="also write the report here")
    return p.parse_args()


def lengths(text: str) -> tuple[int, int]:
    low, high = (int(v) for v in text.split("-"))
    return low, high


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    except OSError:
        return ""


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    chainset = ChainSet(args.data)
    model = load_model(args.weights, "cpu", runtime="torch")
    network, heads = model.network, model.network.config.trunk.num_heads
    log = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        log.append(line)

    # ---- train: sample pairs
    train = select_chains(chainset, "train", args.train_chains, *lengths(args.train_lengths))
    rng = np.random.default_rng(0)
    xs, ys, seps = [], [], []
    for index in train:
        chain = chainset.chain(int(index))
        attention, _ = network_maps(network, chain.sequence, trunk_only=True)
        x, y, sep = sample_pairs(symmetrized_apc(attention), chain.cb, rng, args.pairs_per_chain)
        xs.append(x)
        ys.append(y)
        seps.append(sep)
    x, y, sep = np.concatenate(xs), np.concatenate(ys), np.concatenate(seps)
    del xs, ys, seps
    say(f"train: {len(train)} chains ({args.train_lengths} residues), {len(x)} pairs with |i-j| >= "
        f"{PROBE_MIN_SEPARATION}, {y.mean():.3f} of them contacts; {time.time() - started:.0f} s")
    # candidates: which pairs the regression is fitted on (all from |i-j| >= 6, or only the longer
    # ranges it is scored on) x L2 strength; valid chooses
    l2s = [float(v) for v in args.l2.split(",")]
    min_seps = [int(v) for v in args.min_sep.split(",")]
    probes = {}
    for min_sep in min_seps:
        keep = sep >= min_sep
        for l2 in l2s:
            probes[(min_sep, l2)] = fit_probe(x[keep], y[keep], l2, heads)
    del x, y, sep

    # ---- valid: choose the L2 strength (and the best single head, as a baseline)
    valid = select_chains(chainset, "valid", args.valid_chains, *lengths(args.eval_lengths))
    valid_probe = {key: [] for key in probes}
    valid_heads = []
    for index in valid:
        chain = chainset.chain(int(index))
        attention, _ = network_maps(network, chain.sequence, trunk_only=True)
        valid_heads.append(head_precisions(symmetrized_apc(attention), chain.cb))
        for key, probe in probes.items():
            valid_probe[key].append(contact_precision(probe.predict(attention), chain.cb, min_sep=LONG_RANGE))
    scores = {key: float(np.nanmean(v)) for key, v in valid_probe.items()}
    best_sep, best_l2 = max(probes, key=lambda key: (scores[key], key[1]))  # ties: the stronger L2
    valid_head_mean = np.nanmean(np.array(valid_heads), axis=0)  # [C]
    best_head = int(np.argmax(valid_head_mean))
    say(f"valid: {len(valid)} chains ({args.eval_lengths}); probe LR top-L/5 precision by (fitted on |i-j| >=, L2):")
    for key, score in scores.items():
        say(f"  {key[0]:>3}, {key[1]:<8g} {score:.4f}" + ("  <- chosen" if key == (best_sep, best_l2) else ""))
    say(f"valid: best single head L{best_head // heads + 1}H{best_head % heads + 1} "
        f"{valid_head_mean[best_head]:.4f}; {time.time() - started:.0f} s")
    probe = probes[(best_sep, best_l2)]

    # ---- test: the chosen probe beside the pair stack and each head
    test = select_chains(chainset, "test", args.test_chains, *lengths(args.eval_lengths))
    rows = []
    for index in test:
        chain = chainset.chain(int(index))
        attention, contacts = network_maps(network, chain.sequence)
        heads_p = head_precisions(symmetrized_apc(attention), chain.cb)
        i, j = np.triu_indices(len(chain.cb), k=LONG_RANGE)  # a random ranking's expected precision
        chance = float(np.mean(np.linalg.norm(chain.cb[i] - chain.cb[j], axis=-1) < 8.0)) if len(i) else np.nan
        rows.append((contact_precision(probe.predict(attention), chain.cb, min_sep=LONG_RANGE),
                     contact_precision(contacts, chain.cb, min_sep=LONG_RANGE), heads_p, chance))
    probe_p = np.array([r[0] for r in rows])
    stack_p = np.array([r[1] for r in rows])
    test_heads = np.nanmean(np.array([r[2] for r in rows]), axis=0)  # [C]
    say(f"test: {len(test)} chains ({args.eval_lengths}), long-range (|i-j| >= {LONG_RANGE}) top-L/5 "
        f"precision, Cβ < 8 Å, mean over chains (chains with no candidate pair left out):")
    say(f"  attention probe ({probe.num_features} weights + bias, fitted on |i-j| >= {best_sep}, L2 {best_l2:g}): "
        f"{np.nanmean(probe_p):.4f}")
    say(f"  pair stack (distogram P(contact), single sequence): {np.nanmean(stack_p):.4f}")
    say(f"  chance (the fraction of long-range pairs in contact): {np.nanmean([r[3] for r in rows]):.4f}")
    say(f"  best single head on valid, L{best_head // heads + 1}H{best_head % heads + 1}: "
        f"{test_heads[best_head]:.4f}")
    ok = ~np.isnan(probe_p) & ~np.isnan(stack_p)
    say(f"  probe better than the pair stack on {int(np.sum(probe_p[ok] > stack_p[ok]))} chains, "
        f"worse on {int(np.sum(probe_p[ok] < stack_p[ok]))}, equal on {int(np.sum(probe_p[ok] == stack_p[ok]))}")
    layers = probe.num_features // heads
    say("")
    say("probe weights (standardised features: per-unit-of-spread effect on the logit), rows = layers:")
    say("        " + "".join(f"{'H' + str(h + 1):>8}" for h in range(heads)))
    for layer in range(layers):
        say(f"  L{layer + 1:<4} " + "".join(f"{w:8.3f}" for w in probe.weights[layer * heads:(layer + 1) * heads]))
    say("each head's own test precision (its APC map ranked alone), rows = layers:")
    say("        " + "".join(f"{'H' + str(h + 1):>8}" for h in range(heads)))
    for layer in range(layers):
        say(f"  L{layer + 1:<4} " + "".join(f"{p:8.3f}" for p in test_heads[layer * heads:(layer + 1) * heads]))
    order = np.argsort(-np.abs(probe.weights))[:5]
    say("largest |weights|: " + ", ".join(f"L{c // heads + 1}H{c % heads + 1} {probe.weights[c]:+.3f}"
                                          for c in order))
    command = "OMP_NUM_THREADS=1 python tools/fit_attention_probe.py " + " ".join(sys.argv[1:])
    say("")
    say(f"command: {command}")
    say(f"weights: {model.path.name} sha256 {model.sha256}; bf16 autocast {'on' if cpu_bf16_is_fast() else 'off'}; "
        f"threads {args.threads}; {time.time() - started:.0f} s; commit {git_commit()}")

    probe.weights_sha256 = model.sha256
    probe.provenance = {
        "command": command, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": str(chainset.path), "train_chains": [str(chainset.names[i]) for i in train],
        "train_lengths": args.train_lengths, "pairs_per_chain": args.pairs_per_chain,
        "min_separation": best_sep, "contact": "Cb-Cb < 8 A", "l2": best_l2,
        "valid_chains": len(valid),
        "valid_lr_precision": {f"min_sep {k[0]}, l2 {k[1]:g}": round(v, 4) for k, v in scores.items()},
        "test": {"chains": len(test), "lengths": args.eval_lengths,
                 "lr_top_l5_precision_probe": round(float(np.nanmean(probe_p)), 4),
                 "lr_top_l5_precision_pair_stack": round(float(np.nanmean(stack_p)), 4)},
        "weights_file": model.path.name, "weights_sha256": model.sha256}
    probe.save(args.out)
    say(f"wrote {args.out}")
    if args.report:
        atomic_write_text(args.report, "\n".join(log) + "\n")


if __name__ == "__main__":
    main()
