"""The chain-set format (pdb_chains.npz) and training examples cut from it.

Per-residue arrays stay int16/uint8 in memory; floats are made per crop only
(the full set as float32 would take about 1 GB).
"""
from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..geometry.backbone import backbone_torsions, ca_virtual_torsions, ideal_cb
from ..geometry.vectors import pairwise_distances
from ..constants import angle_to_bin, distance_to_class, dssp_to_ss3
from ..tokenizer import encode_canonical

SPLITS = {"train": 0, "valid": 1, "test": 2}
DATA_ENV = "FOLDLITE_DATA"
IGNORE_INDEX = -100  # targets with this value do not contribute to a loss


def default_chainset_path() -> Path:
    """$FOLDLITE_DATA, else ../shared/data/pdb_chains.npz next to the checkout, else the bundled sample."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "pdb_chains.npz"
    if shared.exists():
        return shared
    return sample_chainset_path()


def sample_chainset_path() -> Path:
    """The small sample (valid/test chains only) shipped in data/ for tests and examples."""
    return Path(__file__).resolve().parents[2] / "data" / "sample_chains.npz"


@dataclass
class Chain:
    """One chain as float arrays (made on demand from the compact set)."""

    name: str
    sequence: str
    backbone: np.ndarray  # [L, 4, 3] Å, atoms N, CA, C, O
    dssp: np.ndarray  # [L] uint8 ASCII DSSP codes
    split: int

    @property
    def cb(self) -> np.ndarray:
        """Ideal (virtual for Gly) Cβ [L, 3] Å."""
        n, ca, c = self.backbone[:, 0], self.backbone[:, 1], self.backbone[:, 2]
        return ideal_cb(n, ca, c)


class ChainSetError(ValueError):
    """A chain-set file that cannot be used (damaged, not a chain set); the message names the file."""


class ChainSet:
    """Read-only view of a chain-set .npz (see ../shared/data/README.md for the format)."""

    REQUIRED = ("name", "length", "seq", "dssp", "xyz", "center", "cluster", "split")

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_chainset_path()
        if not self.path.exists():
            raise FileNotFoundError(
                f"chain set not found: {self.path} (pass a path or set ${DATA_ENV})")
        if not self.path.is_file():
            raise ChainSetError(f"{self.path}: not a file; a chain set is one .npz file")
        with open(self.path, "rb") as handle:
            if handle.read(4) != b"PK\x03\x04":  # numpy would try it as a pickle and say so
                raise ChainSetError(f"{self.path}: not a chain set (.npz written by `foldlite data build`)")
        try:
            with np.load(self.path, allow_pickle=False) as data:
                missing = [k for k in self.REQUIRED if k not in data.files]
                if missing:
                    raise ChainSetError(f"{self.path}: not a chain set, missing arrays {missing}")
                self.names = data["name"].astype(str)
                self.lengths = data["length"].astype(np.int64)
                self.seq = data["seq"]  # uint8 [R]
                self.dssp = data["dssp"]  # uint8 [R]
                self.xyz = data["xyz"]  # int16 [R, 4, 3], 0.01 Å
                self.center = data["center"]  # float32 [C, 3]
                self.cluster = data["cluster"]
                self.split = data["split"]
        except ChainSetError:
            raise
        # a damaged file fails in many ways: bad zip directory, bad CRC, broken deflate stream, short read
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
            raise ChainSetError(f"{self.path}: damaged chain set, cannot read it ({error})") from None
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])

    def __len__(self) -> int:
        return len(self.names)

    def indices(self, split: str | None = None, max_length: int | None = None,
                min_length: int = 1) -> np.ndarray:
        """Chain indices of one split (or all), optionally filtered by length."""
        keep = self.lengths >= min_length
        if split is not None:
            if split not in SPLITS:
                raise ValueError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
            keep &= self.split == SPLITS[split]
        if max_length is not None:
            keep &= self.lengths <= max_length
        return np.flatnonzero(keep)

    def sequence(self, index: int) -> str:
        start, length = self.offsets[index], self.lengths[index]
        return self.seq[start:start + length].tobytes().decode("ascii")

    def chain(self, index: int, start: int = 0, length: int | None = None) -> Chain:
        """Chain `index`, optionally only residues [start, start + length)."""
        full = int(self.lengths[index])
        length = full - start if length is None else min(length, full - start)
        lo = int(self.offsets[index]) + start
        hi = lo + length
        backbone = self.xyz[lo:hi].astype(np.float32) / 100.0 + self.center[index]
        return Chain(
            name=str(self.names[index]),
            sequence=self.seq[lo:hi].tobytes().decode("ascii"),
            backbone=backbone,
            dssp=self.dssp[lo:hi],
            split=int(self.split[index]),
        )


@dataclass
class Example:
    """Model inputs and targets for one (cropped) chain, all numpy.

    tokens [L] int64, distogram [L, L] int64 class (IGNORE_INDEX on the diagonal),
    ss3 [L] int64, phi/psi/ca_torsion [L] int64 bins (IGNORE_INDEX where undefined),
    cb [L, 3] float32 Å; templates: foldlite.templates.features.TemplateFeatures for these L residues,
    or None.
    """

    name: str
    tokens: np.ndarray
    distogram: np.ndarray
    ss3: np.ndarray
    phi: np.ndarray
    psi: np.ndarray
    ca_torsion: np.ndarray
    cb: np.ndarray
    templates: object = None


def _torsion_target(angles: np.ndarray) -> np.ndarray:
    bins = angle_to_bin(np.nan_to_num(angles))
    bins[np.isnan(angles)] = IGNORE_INDEX
    return bins


def make_example(chain: Chain) -> Example:
    """Targets for one chain: Cβ distogram classes, SS3, φ/ψ and Cα virtual torsion bins."""
    n, ca, c = chain.backbone[:, 0], chain.backbone[:, 1], chain.backbone[:, 2]
    cb = ideal_cb(n, ca, c).astype(np.float32)  # [L, 3]
    dist = pairwise_distances(cb, dtype=np.float32)  # [L, L] Å
    distogram = distance_to_class(dist)
    np.fill_diagonal(distogram, IGNORE_INDEX)
    phi, psi = backbone_torsions(n, ca, c)
    return Example(
        name=chain.name,
        tokens=encode_canonical(chain.sequence),
        distogram=distogram,
        ss3=dssp_to_ss3(chain.dssp),
        phi=_torsion_target(phi),
        psi=_torsion_target(psi),
        ca_torsion=_torsion_target(ca_virtual_torsions(ca)),
        cb=cb,
    )
