"""How hard are the templates the network trains on? Identity of the training templates to their query.

    python tools/training_template_identity.py [--chains 150] [--seed 0] [--data PATH] [--split train]

Draws --chains train chains that have cluster mates and builds their training templates exactly as
`foldlite train` does (foldlite.training.sampler.TemplatePicker: same-cluster mates, Smith-Waterman,
E-value and coverage filters, >= 95 % copies excluded; 1-4 templates per crop, as in the template
runs, which trained with --train-templates 4), then prints the percentiles of the templates' sequence
identity over aligned residues and the fraction below a few cut-offs. Answers whether "harder training templates" (issue 16) would be a change: if training
templates are already mostly 30-50 % identical, the network already trains on the hits it meets in
the >= 30 % group of the benchmarks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.training.sampler import CropSampler  # noqa: E402

IDENTITY_COLUMN = 2  # foldlite.templates.features.one_template: residue features (aligned, same letter, identity)


def training_identities(chains: ChainSet, count: int, seed: int = 0,
                        split: str = "train") -> tuple[np.ndarray, int, int]:
    """(identity of each training template built for `count` sampled chains of `split` with cluster mates,
    chains of the split with mates, chains of the split)."""
    sampler = CropSampler(chains, split, seed=seed, template_drop=0.0, max_templates=4)
    picker = sampler.templates
    with_mates = np.array(sorted(picker.mates), dtype=np.int64)
    identities = []
    for index in np.random.default_rng(seed).choice(with_mates, min(count, len(with_mates)), replace=False):
        features = picker.pick(int(index))  # what a training crop of this chain gets, or None
        if features is not None:
            for residue in features.residue:  # [L, 3] per template: aligned, same letter, identity
                identities.append(float(residue[residue[:, 0] > 0, IDENTITY_COLUMN].max()))
    return np.array(identities), len(with_mates), sum(len(group) for group in sampler.groups)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=150, help="train chains with cluster mates to sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="chain set (default: $FOLDLITE_DATA or the shared one)")
    parser.add_argument("--split", default="train", help="the split whose chains and mates are used (train: "
                        "what `foldlite train` sees; others only to try the tool, e.g. on the sample data)")
    args = parser.parse_args(argv)

    chains = ChainSet(args.data) if args.data else ChainSet()
    identities, with_mates, train = training_identities(chains, args.chains, args.seed, args.split)
    print(f"chain set: {chains.path}; {args.split} chains with cluster mates: {with_mates} of {train}")
    print(f"{min(args.chains, with_mates)} chains sampled (seed {args.seed}), {len(identities)} training templates built")
    if len(identities) == 0:
        return 1
    percentiles = np.percentile(identities, [10, 25, 50, 75, 90])
    print("identity percentiles 10/25/50/75/90: " + " ".join(f"{p:.3f}" for p in percentiles))
    for cut in (0.3, 0.5, 0.6, 0.7, 0.95):
        print(f"  below {cut:.2f}: {np.mean(identities < cut):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
