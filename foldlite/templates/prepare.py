"""Templates for one query, in the order fold() uses them.

    found = prepare_templates(sequence, library, TemplateOptions())   # search + network inputs
    net = run_network(model, sequence, templates=found.features)
    distogram, torsion = found.restrain(net.distogram, net.ca_torsion)  # restraints mixed in
    reconstruct(distogram, torsion, extra_starts=found.starts())

Whether a template is trusted at all is decided once, here (`trusted`): restraints and the template
start are used only when some hit is above the identity floor of `restraints.template_weight`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .features import TemplateFeatures, features_from_hits
from .library import Library
from .restraints import combine, template_ca, template_restraints, template_weight
from . import search as _search
from .search import DEFAULT_MAX_EVALUE, Hit, find_templates

# Template restraints are also mixed into the distogram before the geometry by default: on the valid
# split (40 chains, step-2000 weights) chains with a >= 30 % template reached mean TM 0.517 with the
# network's template features alone and 0.826 with restraints and the template start added.
RESTRAIN_GEOMETRY = True
# Refinement starts from the traces of the first two trusted hits (not only the first), the geometry
# keeping the likeliest result: TM +0.002 (SE 0.001) on 100 valid chains and +0.004 (SE 0.004) on
# 40 more (6 shared), ~0.06 s more at 300 residues; four starts were no better than two and 0.17 s
# slower (results/templates/template_starts_valid_session14.txt). Chosen by energy instead (session
# 11), several starts had not helped.
TEMPLATE_STARTS = 2


@dataclass(frozen=True)
class TemplateOptions:
    """How fold() uses templates.

    max_evalue: the search's E-value cut-off (DEFAULT_MAX_EVALUE, tuned on valid);
    exclude_names (chain names) and max_identity (e.g. COPY_IDENTITY) keep the query itself and its
    copies out, for benchmarking; restrain_geometry: mix the templates' distance distributions into
    the distogram the geometry uses; start: also refine from the best templates' Cα traces;
    search_method: "profile" or "sw" (foldlite.templates.search.search_library), by default
    search.DEFAULT_SEARCH as it is when the options are made; max_templates: hits kept (all of them
    restrain the geometry; the network reads the first features.MAX_TEMPLATES).
    """

    max_evalue: float = DEFAULT_MAX_EVALUE
    exclude_names: tuple[str, ...] = ()
    max_identity: float | None = None
    restrain_geometry: bool = RESTRAIN_GEOMETRY
    start: bool = True
    search_method: str = field(default_factory=lambda: _search.DEFAULT_SEARCH)
    max_templates: int = field(default_factory=lambda: _search.DEFAULT_MAX_TEMPLATES)


def describe(hit: Hit) -> dict:
    """JSON-ready summary of a template (ranges 1-based, inclusive, like `foldlite search`)."""
    return {"name": hit.name, "identity": round(hit.identity, 4), "coverage": round(hit.coverage, 4),
            "evalue": float(f"{hit.evalue:.3g}"), "aligned_residues": hit.aligned_length,
            "query_range": [hit.query_start + 1, hit.query_end],
            "template_range": [hit.target_start + 1, hit.target_end],
            "weight": round(template_weight(hit.identity), 4)}


@dataclass
class PreparedTemplates:
    """The templates found for one query of `length` residues (no library: none found).

    features: the network's template input, or None; used: describe() of each hit, best first;
    trusted_hits: the hits above the identity floor (weight > 0); trusted: there is one.
    """

    length: int
    options: TemplateOptions = field(default_factory=TemplateOptions)
    library: Library | None = None
    hits: list[Hit] = field(default_factory=list)
    features: TemplateFeatures | None = None
    used: list[dict] = field(default_factory=list)

    @property
    def trusted_hits(self) -> list[Hit]:
        return [hit for hit, described in zip(self.hits, self.used) if described["weight"] > 0]

    @property
    def trusted(self) -> bool:
        return bool(self.trusted_hits)

    @property
    def restrains(self) -> bool:
        """Whether restrain() mixes template restraints in (else it returns the network's own)."""
        return self.options.restrain_geometry and self.trusted

    def restrain(self, distogram: np.ndarray, torsion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network's distogram [L, L, 65] and Cα torsions [L, 36], with the templates' restraints
        mixed in when options.restrain_geometry and a template is trusted (else returned as given)."""
        if not self.restrains:
            return distogram, torsion
        # built only now, after the network: its [L, L, 65] distogram is not held during the forward pass
        restraints = template_restraints(self.hits, self.library, self.length)
        return combine(distogram, torsion, restraints)

    def starts(self) -> list[np.ndarray]:
        """Extra refinement starts when options.start: the Cα traces [L, 3] of the first TEMPLATE_STARTS
        trusted hits, best first."""
        if not self.options.start:
            return []
        return [template_ca(hit, self.library, self.length) for hit in self.trusted_hits[:TEMPLATE_STARTS]]


def prepare_templates(sequence: str, library: Library | None,
                      options: TemplateOptions = TemplateOptions()) -> PreparedTemplates:
    """Search the library for `sequence` (a canonical sequence) and build the network's inputs."""
    if library is None:
        return PreparedTemplates(len(sequence), options)
    hits = find_templates(sequence, library, exclude_names=options.exclude_names,
                          max_identity=options.max_identity, max_evalue=options.max_evalue,
                          method=options.search_method, max_templates=options.max_templates)
    return PreparedTemplates(len(sequence), options, library, hits,
                             features=features_from_hits(hits, library, sequence),
                             used=[describe(hit) for hit in hits])
