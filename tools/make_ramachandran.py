"""Make foldlite/weights/ramachandran.npz: the (φ, ψ) reference behind Ramachandran outliers.

    python tools/make_ramachandran.py [CHAINS.npz] [-o foldlite/weights/ramachandran.npz]

From the train split of the chain set (default $FOLDLITE_DATA or ../shared/data/pdb_chains.npz):
every residue with both φ and ψ (no chain end, no chain break: Cα-Cα <= 4.2 Å on both sides) is
counted in a 72 x 72 histogram of 5° bins per class (general, Gly, Pro, pre-Pro), smoothed with a
periodic Gaussian (σ = 1 bin) and normalised to a density. The outlier threshold of a class is the
density below which the lowest-density OUTLIER_FRACTION of its train residues lie (0.05 %,
MolProbity's general-case outlier contour).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from foldlite.geometry.backbone import backbone_torsions  # noqa: E402
from foldlite.data.chains import SPLITS, ChainSet  # noqa: E402
from foldlite.evaluation.stereochemistry import RAMA_CLASSES, ramachandran_classes  # noqa: E402

BINS = 72  # 5° bins over [-180, 180)
OUTLIER_FRACTION = 0.0005
SMOOTH_SIGMA = 1.0  # bins


def _smooth(histogram: np.ndarray) -> np.ndarray:
    """Periodic Gaussian smoothing of a [B, B] histogram (FFT convolution)."""
    offsets = np.minimum(np.arange(BINS), BINS - np.arange(BINS))  # periodic bin distance
    kernel_1d = np.exp(-0.5 * (offsets / SMOOTH_SIGMA) ** 2)
    kernel = np.outer(kernel_1d, kernel_1d)
    kernel /= kernel.sum()
    return np.real(np.fft.ifft2(np.fft.fft2(histogram) * np.fft.fft2(kernel)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", nargs="?", default=None)
    parser.add_argument("-o", "--output", default="foldlite/weights/ramachandran.npz")
    args = parser.parse_args()
    chains = ChainSet(args.source)
    phis, psis, classes = [], [], []
    for index in np.flatnonzero(chains.split == SPLITS["train"]):
        chain = chains.chain(int(index))
        n, ca, c = (chain.backbone[:, k] for k in range(3))
        phi, psi = (np.degrees(a) for a in backbone_torsions(n, ca, c))
        gap = np.linalg.norm(ca[1:] - ca[:-1], axis=-1) > 4.2  # [L - 1] chain breaks
        broken = np.zeros(len(ca), bool)
        broken[1:] |= gap
        broken[:-1] |= gap
        keep = np.isfinite(phi) & np.isfinite(psi) & ~broken
        phis.append(phi[keep])
        psis.append(psi[keep])
        classes.append(ramachandran_classes(chain.sequence)[keep])
    phi, psi, cls = np.concatenate(phis), np.concatenate(psis), np.concatenate(classes)
    to_bin = lambda a: np.clip(((a + 180.0) / 360.0 * BINS).astype(np.int64), 0, BINS - 1)  # noqa: E731
    density = np.zeros((len(RAMA_CLASSES), BINS, BINS))
    threshold = np.zeros(len(RAMA_CLASSES))
    for k, name in enumerate(RAMA_CLASSES):
        chosen = cls == k
        histogram = np.zeros((BINS, BINS))
        np.add.at(histogram, (to_bin(phi[chosen]), to_bin(psi[chosen])), 1.0)
        density[k] = _smooth(histogram) / chosen.sum()
        values = density[k][to_bin(phi[chosen]), to_bin(psi[chosen])]
        threshold[k] = np.quantile(values, OUTLIER_FRACTION)
        print(f"{name}: {chosen.sum()} residues, outlier density < {threshold[k]:.3g}")
    np.savez_compressed(args.output, density=density.astype(np.float32), threshold=threshold.astype(np.float32),
                        classes=np.array(RAMA_CLASSES), bin_degrees=np.float32(360.0 / BINS),
                        outlier_fraction=np.float32(OUTLIER_FRACTION),
                        source=np.array(f"{chains.path} (train split)"))
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
