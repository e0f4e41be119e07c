"""`foldlite benchmark`: fold held-out chains, score them against experiment, beside simple baselines.

Every chain is folded from its sequence alone and scored against its experimental Cα/Cβ. Baselines on
the same chains: an ideal α-helix (what a model that knows nothing about tertiary structure gives) and,
when a structure library is given, the nearest template (the best sequence-search hit's Cα copied onto
the query; see nearest_template).
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from ..data.chains import ChainSet, make_example
from ..constants import COPY_IDENTITY, SS3_ALPHABET
from ..templates.library import Library, load_library
from ..geometry.backbone import ideal_helix_ca
from .metrics import contact_precision, lddt_ca, tm_score

CSV_FIELDS = ["name", "length", "method", "tm_score", "gdt_ts", "lddt_ca", "rmsd", "lr_contact_precision",
              "q3", "mean_plddt", "plddt_lddt_pearson", "seconds",
              # nearest_template rows only: the hit used ("none" when it fell back to the ideal helix)
              "template", "template_identity", "template_coverage", "template_evalue"]
TEMPLATE_MAX_IDENTITY = COPY_IDENTITY  # hits at least this identical to the query are copies of it, not templates


def select_chains(chainset: ChainSet, split: str, limit: int | None, min_length: int, max_length: int,
                  seed: int = 0) -> np.ndarray:
    """A seeded random subset of a split within a length range, sorted by index (reproducible)."""
    return seeded_subset(chainset.indices(split, max_length=max_length, min_length=min_length), limit, seed)


def seeded_subset(indices: np.ndarray, limit: int | None, seed: int = 0) -> np.ndarray:
    """`limit` of `indices` drawn with `seed`, sorted; all of them when limit is None or not smaller."""
    if limit is not None and limit < len(indices):
        indices = np.sort(np.random.default_rng(seed).choice(indices, size=limit, replace=False))
    return indices


def nearest_template(sequence: str, library, exclude_names=(), max_identity: float | None = TEMPLATE_MAX_IDENTITY,
                     method: str | None = None):
    """(Cα [L, 3] Å, Hit or None): the best library hit's trace mapped onto the query
    (foldlite.templates.restraints.template_ca), or the ideal helix and None when the search finds nothing.

    exclude_names: library chains to skip (the query itself); max_identity: skip hits this identical or
    more (other copies of the query); method: the search, "profile" or "sw" (default: fold()'s,
    foldlite.templates.search.DEFAULT_SEARCH).
    """
    from ..templates.search import search_library
    from ..templates.restraints import template_ca

    hits = search_library(sequence, library, method, max_hits=1, exclude_names=exclude_names,
                          max_identity=max_identity)
    if not hits:
        return ideal_helix_ca(len(sequence)), None
    return template_ca(hits[0], library, len(sequence)), hits[0]


def _template_row(chain, library) -> dict:
    tick = time.perf_counter()
    ca, hit = nearest_template(chain.sequence, library, exclude_names={chain.name})
    seconds = time.perf_counter() - tick
    true_ca = chain.backbone[:, 1]
    tm = tm_score(ca, true_ca)
    return {"name": chain.name, "length": len(chain.sequence), "method": "nearest_template",
            "tm_score": tm.tm_score, "gdt_ts": tm.gdt_ts, "lddt_ca": lddt_ca(ca, true_ca), "rmsd": tm.rmsd,
            "lr_contact_precision": float("nan"), "q3": float("nan"), "mean_plddt": float("nan"),
            "plddt_lddt_pearson": float("nan"), "seconds": seconds,
            "template": hit.name if hit else "none",
            "template_identity": hit.identity if hit else float("nan"),
            "template_coverage": hit.coverage if hit else float("nan"),
            "template_evalue": hit.evalue if hit else float("nan")}


def _templated_fold_row(chain, model, library, seed: int) -> dict:
    """foldlite with template restraints from `library`, excluding the chain and >= 95 % copies of it."""
    from ..api import fold

    tick = time.perf_counter()
    prediction = fold(chain.sequence, model=model, seed=seed, keep_attention=False, record_id=chain.name,
                      templates=library, exclude_templates=(chain.name,), max_template_identity=TEMPLATE_MAX_IDENTITY)
    seconds = time.perf_counter() - tick
    true_ca = chain.backbone[:, 1]
    tm = tm_score(prediction.structure.ca, true_ca)
    lddt, per_residue = lddt_ca(prediction.structure.ca, true_ca, per_residue=True)
    best = prediction.templates[0] if prediction.templates else None
    return {"name": chain.name, "length": len(chain.sequence), "method": "foldlite+templates",
            "tm_score": tm.tm_score, "gdt_ts": tm.gdt_ts, "lddt_ca": lddt, "rmsd": tm.rmsd,
            "lr_contact_precision": float("nan"), "q3": float("nan"), "mean_plddt": prediction.mean_plddt,
            "plddt_lddt_pearson": _pearson(prediction.plddt, per_residue), "seconds": seconds,
            "template": best["name"] if best else "none",
            "template_identity": best["identity"] if best else float("nan"),
            "template_coverage": best["coverage"] if best else float("nan"),
            "template_evalue": best["evalue"] if best else float("nan")}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.std(a[keep]) == 0 or np.std(b[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


def run_benchmark(model, chainset: ChainSet, indices: np.ndarray, out_csv: Path, seed: int = 0,
                  log=print, library=None) -> dict:
    """Fold and score each chain; write one CSV row per (chain, method); return the summary.

    library: a foldlite.templates.library.Library or a path to one to add the
    nearest_template baseline; None skips it. The benchmarked chain itself and its >= 95 % identical
    copies are never used as its template.
    """
    from ..api import fold

    if library is not None:
        from ..templates.search import kmer_index

        library = library if isinstance(library, Library) else load_library(library)
        kmer_index(library)  # built once here, so no chain's template time includes it

    rows = []
    all_plddt, all_lddt = [], []
    for count, index in enumerate(indices, start=1):
        chain = chainset.chain(int(index))
        example = make_example(chain)
        true_ca = chain.backbone[:, 1]
        tick = time.perf_counter()
        # single-sequence mode: what the network and geometry do on their own
        prediction = fold(chain.sequence, model=model, seed=seed, keep_attention=False, record_id=chain.name,
                          templates=None)
        seconds = time.perf_counter() - tick
        tm = tm_score(prediction.structure.ca, true_ca)
        lddt, per_residue = lddt_ca(prediction.structure.ca, true_ca, per_residue=True)
        ss_true = "".join(SS3_ALPHABET[i] for i in example.ss3)
        q3 = float(np.mean([a == b for a, b in zip(prediction.secondary_structure, ss_true)]))
        all_plddt.append(prediction.plddt)
        all_lddt.append(per_residue)
        rows.append({"name": chain.name, "length": len(chain.sequence), "method": "foldlite",
                     "tm_score": tm.tm_score, "gdt_ts": tm.gdt_ts, "lddt_ca": lddt, "rmsd": tm.rmsd,
                     "lr_contact_precision": contact_precision(prediction.contacts, example.cb), "q3": q3,
                     "mean_plddt": prediction.mean_plddt,
                     "plddt_lddt_pearson": _pearson(prediction.plddt, per_residue), "seconds": seconds})
        helix = ideal_helix_ca(len(chain.sequence))
        helix_tm = tm_score(helix, true_ca)
        rows.append({"name": chain.name, "length": len(chain.sequence), "method": "ideal_helix",
                     "tm_score": helix_tm.tm_score, "gdt_ts": helix_tm.gdt_ts, "lddt_ca": lddt_ca(helix, true_ca),
                     "rmsd": helix_tm.rmsd, "lr_contact_precision": float("nan"), "q3": float("nan"),
                     "mean_plddt": float("nan"), "plddt_lddt_pearson": float("nan"), "seconds": 0.0})
        template_note = ""
        if library is not None:
            rows.append(_template_row(chain, library))
            template_note = f" copy TM={rows[-1]['tm_score']:.3f} ({rows[-1]['template']})"
            rows.append(_templated_fold_row(chain, model, library, seed))
            template_note += f" foldlite+templates TM={rows[-1]['tm_score']:.3f}"
        log(f"[{count}/{len(indices)}] {chain.name} L={len(chain.sequence)} TM={tm.tm_score:.3f} "
            f"lDDT={lddt:.3f} pLDDT={prediction.mean_plddt:.1f} ({seconds:.1f} s){template_note}")
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(k, v) for k, v in row.items()})
    summary = summarise(rows)
    summary["plddt_lddt_pearson_all_residues"] = _pearson(np.concatenate(all_plddt), np.concatenate(all_lddt))
    if library is not None:  # which structures the templates could come from
        summary["library"] = f"{library.path or 'in memory'}: {len(library)} chains from {library.source}"
    return summary


def _csv_value(key: str, value):
    if not isinstance(value, float):
        return value
    return f"{value:.3g}" if key == "template_evalue" else round(value, 4)  # E-values span 1e-100..10


def summarise(rows: list[dict]) -> dict:
    """Per method: mean/median TM, fraction TM > 0.5, mean lDDT, contact precision, Q3, s/residue."""
    summary = {}
    for method in sorted({r["method"] for r in rows}):
        chosen = [r for r in rows if r["method"] == method]
        tm = np.array([r["tm_score"] for r in chosen])
        summary[method] = {
            "chains": len(chosen),
            "mean_tm": float(tm.mean()), "median_tm": float(np.median(tm)),
            "fraction_tm_above_0.5": float((tm > 0.5).mean()),
            "mean_gdt_ts": float(np.mean([r["gdt_ts"] for r in chosen])),
            "mean_lddt_ca": float(np.mean([r["lddt_ca"] for r in chosen])),
            "mean_lr_contact_precision": float(np.nanmean([r["lr_contact_precision"] for r in chosen]))
            if method == "foldlite" else float("nan"),
            "mean_q3": float(np.nanmean([r["q3"] for r in chosen])) if method == "foldlite" else float("nan"),
            "seconds_per_residue": float(sum(r["seconds"] for r in chosen) / sum(r["length"] for r in chosen)),
        }
        if method in ("nearest_template", "foldlite+templates"):
            found = [r for r in chosen if r["template"] != "none"]
            summary[method]["fraction_with_template"] = len(found) / len(chosen)
            summary[method]["mean_template_identity"] = (float(np.mean([r["template_identity"] for r in found]))
                                                         if found else float("nan"))
    return summary


def format_summary(summary: dict) -> str:
    methods = [m for m, s in summary.items() if isinstance(s, dict) and "mean_tm" in s]
    # the method column is as wide as its longest name ("foldlite+templates"), so every row lines up
    width = max([len("method")] + [len(m) for m in methods])
    header = f"{'method':<{width}} {'chains':>6} {'meanTM':>7} {'medTM':>6} {'TM>0.5':>7} {'GDT_TS':>7} " \
             f"{'lDDT':>6} {'P@L/5':>6} {'Q3':>6} {'s/res':>7}"
    lines = [header]
    for method in methods:
        s = summary[method]
        lines.append(f"{method:<{width}} {s['chains']:>6} {s['mean_tm']:7.3f} {s['median_tm']:6.3f} "
                     f"{s['fraction_tm_above_0.5']:7.2f} {s['mean_gdt_ts']:7.3f} {s['mean_lddt_ca']:6.3f} "
                     f"{s['mean_lr_contact_precision']:6.3f} {s['mean_q3']:6.3f} {s['seconds_per_residue']:7.4f}")
    template = summary.get("nearest_template")
    if isinstance(template, dict):
        lines.append(f"nearest_template: a template found for {template['fraction_with_template']:.0%} of chains "
                     f"(mean identity {template['mean_template_identity']:.2f}); the others use the ideal helix")
    if "library" in summary:
        lines.append(f"template library: {summary['library']} (each chain's own entry and >= "
                     f"{TEMPLATE_MAX_IDENTITY:.0%} identical copies excluded)")
    if "plddt_lddt_pearson_all_residues" in summary:
        lines.append(f"pLDDT vs true lDDT-Cα, Pearson r over all residues: "
                     f"{summary['plddt_lddt_pearson_all_residues']:.3f}")
    return "\n".join(lines)
