"""Training examples: random crops of the train split, with templates from each chain's own cluster.

`CropSampler` draws one 30 % cluster at a time, then a chain and a crop of it (foldlite.data.chains
makes the targets); `TemplatePicker` gives the crop other chains of its cluster, aligned like
search hits, as templates.
"""
from __future__ import annotations

import numpy as np

from ..constants import COPY_IDENTITY
from ..data.chains import ChainSet, Example, make_example
from ..templates.alignment import evalue, local_alignment
from ..templates.features import TemplateFeatures, one_template, stack


class CropSampler:
    """Random contiguous crops from one split, sampling clusters uniformly (then a chain within).

    Sampling by cluster keeps large families of near-identical chains from dominating training.
    With template_drop set, crops also get templates from their own cluster
    (TemplatePicker below), dropped with that probability.
    """

    def __init__(self, chainset: ChainSet, split: str = "train", seed: int = 0, min_length: int = 16,
                 template_drop: float | None = None, max_templates: int = 2):
        self.chainset = chainset
        self.rng = np.random.default_rng(seed)
        indices = chainset.indices(split, min_length=min_length)
        clusters = chainset.cluster[indices]
        order = np.argsort(clusters, kind="stable")
        sorted_clusters = clusters[order]
        boundaries = np.flatnonzero(np.diff(sorted_clusters)) + 1
        self.groups = np.split(indices[order], boundaries)
        # templates come from the same split only (for train: never from valid or test)
        self.templates = None
        if template_drop is not None:
            self.templates = TemplatePicker(chainset, self.groups, self.rng, drop=template_drop,
                                            max_templates=max_templates)

    def sample(self, crop_length: int) -> Example:
        group = self.groups[self.rng.integers(len(self.groups))]
        index = int(group[self.rng.integers(len(group))])
        length = int(self.chainset.lengths[index])
        start = int(self.rng.integers(0, max(1, length - crop_length + 1)))
        example = make_example(self.chainset.chain(index, start, crop_length))
        if self.templates is not None:
            features = self.templates.pick(index)
            if features is not None:
                example.templates = features.crop(start, len(example.tokens))
        return example

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


class TemplatePicker:
    """Training templates: other chains of the same 30 % train cluster, aligned like a search hit.

    A full library search per training crop would cost ~0.5 s; a chain's real homologues in the
    train split are, by construction of the clusters, almost all in its own cluster, so aligning a
    few random cluster mates (Smith–Waterman, the search's scoring) gives the same kind of hit for
    ~5 ms. Hits must pass E-value <= 1e-3 against the library's size (stricter than inference's
    0.1, which was tuned later) and coverage >= 0.3; and like any honest template, the chain itself and
    near-identical copies (identity >= COPY_IDENTITY) are never used. With probability `drop` a crop gets no
    templates at all, so the network keeps learning the single-sequence mode.
    """

    def __init__(self, chainset, clusters: list[np.ndarray], rng: np.random.Generator, drop: float = 0.2,
                 max_templates: int = 2, max_identity: float = COPY_IDENTITY, min_coverage: float = 0.3,
                 max_evalue: float = 1e-3, tries: int = 4):
        """clusters: chain indices grouped by 30 % cluster (CropSampler.groups); templates come only
        from these chains, so only from the sampler's split."""
        self.chainset = chainset
        self.rng = rng
        self.drop = drop
        self.max_templates = max_templates
        self.max_identity = max_identity
        self.min_coverage = min_coverage
        self.max_evalue = max_evalue
        self.tries = tries
        self.library_residues = int(sum(chainset.lengths[members].sum() for members in clusters))
        self.mates: dict[int, np.ndarray] = {}
        for members in clusters:
            if len(members) > 1:
                for member in members:
                    self.mates[int(member)] = members[members != member]

    def _align(self, query: str, index: int):
        target = self.chainset.sequence(index)
        # the search's alignment (foldlite.templates.search), so training templates look like its hits
        score, query_idx, target_idx, identity = local_alignment(query, target)
        if evalue(score, len(query), self.library_residues) > self.max_evalue or len(query_idx) == 0:
            return None
        if identity >= self.max_identity or len(query_idx) / len(query) < self.min_coverage:
            return None
        return one_template(query, target, self.chainset.chain(index).cb, query_idx, target_idx, identity)

    def pick(self, index: int) -> TemplateFeatures | None:
        """Features for the whole chain `index` (crop them with .crop), or None."""
        mates = self.mates.get(int(index))
        if mates is None or self.rng.random() < self.drop:
            return None
        wanted = int(self.rng.integers(1, self.max_templates + 1))
        query = self.chainset.sequence(int(index))
        built = []
        for mate in self.rng.permutation(mates)[:self.tries]:
            template = self._align(query, int(mate))
            if template is not None:
                built.append(template)
                if len(built) == wanted:
                    break
        return stack(built)
