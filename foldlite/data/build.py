"""Build a training-format chain set (.npz) from a folder of PDB/mmCIF files.

The output has exactly the keys, dtypes and units of /work/shared/data/pdb_chains.npz (see its
README): one entry per protein chain, backbone N, CA, C, O as int16 in 0.01 Å relative to the
chain center (mean CA, rounded to 0.01 Å), and an 8-state secondary-structure string.

Secondary structure comes from foldlite.data.dssp (no DSSP program is available).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.pdb import STRUCTURE_SUFFIXES, StructureFileError, read_chains
from ..io.safe_io import atomic_write_bytes
from ..progress import track
from ..constants import CHAIN_BREAK_CA_CA
from ..tokenizer import STANDARD_RESIDUES
from .dssp import assign_secondary_structure

__all__ = ["BuildReport", "ChainsetBuildError", "build_chainset"]

XYZ_LIMIT = 327.0  # Å from the center; int16 in 0.01 Å holds ±327.67


class ChainsetBuildError(ValueError):
    """The input folder is unusable or yields no chain; ``report`` says what was skipped."""

    def __init__(self, message: str, report: "BuildReport | None" = None):
        super().__init__(message)
        self.report = report


@dataclass
class BuildReport:
    output_path: str
    files_seen: int = 0
    files_used: int = 0
    chains: int = 0
    residues: int = 0
    chain_breaks: int = 0
    filled_oxygens: int = 0  # carbonyl O missing in the file, stored at an ideal position
    kept: list[str] = field(default_factory=list)  # chain names written
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or file:chain, reason)

    def format_report(self) -> str:
        lines = [f"wrote {self.chains} chains ({self.residues} residues, "
                 f"{self.chain_breaks} chain breaks with CA-CA > {CHAIN_BREAK_CA_CA} Å) "
                 f"from {self.files_used} of {self.files_seen} files to {self.output_path}"]
        if self.filled_oxygens:
            lines.append(f"{self.filled_oxygens} missing carbonyl O atoms were placed ideally")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}:")
            lines += [f"  {what}: {why}" for what, why in self.skipped]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- building

def _structure_files(input_dir: Path) -> list[Path]:
    return sorted(p for p in input_dir.iterdir() if p.is_file() or p.is_symlink())


def _is_structure_name(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(STRUCTURE_SUFFIXES)


def build_chainset(input_dir: str | os.PathLike, output_path: str | os.PathLike,
                   min_length: int = 20, show_progress: bool = False) -> BuildReport:
    """Read every PDB/mmCIF file in ``input_dir`` and write the protein chains as a chain set.

    Each protein chain of the first model becomes one entry named ``<file stem>_<chain id>``;
    cluster is a running index (one per chain) and split is 0 (train) for all. Files and
    chains that cannot be used are listed in the report with the reason. The .npz is written
    atomically; raises ChainsetBuildError when no chain is usable (nothing is written).
    show_progress: a bar (or lines) on stderr (foldlite.progress).
    """
    input_dir = Path(input_dir)
    report = BuildReport(output_path=str(output_path))
    if not input_dir.is_dir():
        raise ChainsetBuildError(f"{input_dir}: not a directory")

    names, seqs, dssps, xyzs, centers, starts = [], [], [], [], [], []
    for path in track(_structure_files(input_dir), desc="data build", unit="file", enabled=show_progress):
        report.files_seen += 1
        if not _is_structure_name(path):
            report.skipped.append((path.name, "not a structure file (expected "
                                   f"{', '.join(STRUCTURE_SUFFIXES)}, optionally .gz)"))
            continue
        try:
            chains = read_chains(path)
        except StructureFileError as exc:
            # The exception message starts with the path; the report already names the file.
            report.skipped.append((path.name, str(exc).removeprefix(f"{path}: ")))
            continue
        if not chains:
            report.skipped.append((path.name, "no protein chain"))
            continue
        used_file = False
        for chain in chains:
            label = f"{path.name} chain {chain.chain_id}"
            reason = _unusable(chain, min_length)
            if reason is None:
                backbone = chain.coords[:, :4]
                center = np.round(chain.ca.mean(axis=0), 2)
                relative = backbone - center
                if np.abs(relative).max() > XYZ_LIMIT:
                    reason = (f"coordinates extend {np.abs(relative).max():.0f} Å from the chain "
                              f"center; the int16 format holds at most {XYZ_LIMIT:.0f} Å")
            if reason is not None:
                report.skipped.append((label, reason))
                continue
            names.append(f"{chain.name}_{chain.chain_id}")
            seqs.append(np.frombuffer(chain.sequence.encode("ascii"), dtype=np.uint8))
            dssp = assign_secondary_structure(*(backbone[:, k] for k in range(4)), chain.sequence)
            dssps.append(np.frombuffer(dssp.encode("ascii"), dtype=np.uint8))
            xyzs.append(np.rint(relative * 100).astype(np.int16))
            centers.append(center)
            starts.append(int(chain.residue_numbers[0]))
            ca_steps = np.linalg.norm(np.diff(chain.ca, axis=0), axis=-1)
            report.chain_breaks += int(np.sum(ca_steps > CHAIN_BREAK_CA_CA))
            report.filled_oxygens += int(np.sum(~chain.atom_mask[:, 3]))
            report.chains += 1
            report.residues += len(chain)
            report.kept.append(names[-1])
            used_file = True
        report.files_used += used_file

    if not names:
        first = f"; first: {report.skipped[0][0]}: {report.skipped[0][1]}" if report.skipped else ""
        raise ChainsetBuildError(f"{input_dir}: no usable protein chains in "
                                 f"{report.files_seen} files{first}", report)
    arrays = {
        "name": np.array(names, dtype=str),
        "length": np.array([len(s) for s in seqs], dtype=np.int32),
        "seq": np.concatenate(seqs).astype(np.uint8),
        "dssp": np.concatenate(dssps).astype(np.uint8),
        "xyz": np.concatenate(xyzs).astype(np.int16),
        "center": np.array(centers, dtype=np.float32),
        "cluster": np.arange(len(names), dtype=np.int32),
        "split": np.zeros(len(names), dtype=np.int8),
        "pdb_start_resnum": np.array(starts, dtype=np.int32),
    }
    buffer = io.BytesIO()  # np.savez would append ".npz" to a path; write the exact name
    np.savez_compressed(buffer, **arrays)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)  # the CLI checked -o before the work
    atomic_write_bytes(output_path, buffer.getvalue())
    return report


def _unusable(chain, min_length: int) -> str | None:
    """Why a chain cannot go into the training format, or None."""
    if len(chain) < min_length:
        return f"too short ({len(chain)} residues < {min_length})"
    unknown = sum(letter not in STANDARD_RESIDUES for letter in chain.sequence)
    if unknown:
        return (f"{unknown} unknown residue(s) (UNK); the format allows only the 20 standard "
                "amino acids")
    return None
