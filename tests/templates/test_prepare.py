"""foldlite/templates/prepare.py: which templates become refinement starts."""
from __future__ import annotations

import dataclasses

import numpy as np

from foldlite.templates import prepare
from foldlite.templates.prepare import TemplateOptions, describe, prepare_templates
from foldlite.templates.restraints import template_ca, template_weight


def _prepared(chainset, library, name):
    index = int(np.flatnonzero(chainset.names == name)[0])
    return prepare_templates(chainset.sequence(index), library, TemplateOptions(exclude_names=(name,)))


def test_the_first_trusted_hits_become_starts_best_first(chainset, library):
    found = _prepared(chainset, library, "1P2F_A")  # four trusted hits in the sample library
    trusted = [hit for hit in found.hits if template_weight(hit.identity) > 0]
    assert len(trusted) > prepare.TEMPLATE_STARTS == 2
    starts = found.starts()
    assert len(starts) == prepare.TEMPLATE_STARTS
    for start, hit in zip(starts, trusted):
        np.testing.assert_array_equal(start, template_ca(hit, library, found.length))


def test_untrusted_hits_are_never_starts_and_options_can_turn_starts_off(chainset, library):
    found = _prepared(chainset, library, "1P2F_A")
    floor = [dataclasses.replace(hit, identity=0.0) for hit in found.hits]  # below every identity floor
    assert all(template_weight(hit.identity) == 0 for hit in floor)

    def with_hits(hits):
        return dataclasses.replace(found, hits=hits, used=[describe(hit) for hit in hits])

    assert with_hits(floor).starts() == [] and not with_hits(floor).trusted
    mixed = with_hits([floor[0], *found.hits[1:]])  # the best hit untrusted
    np.testing.assert_array_equal(mixed.starts()[0], template_ca(found.hits[1], library, found.length))
    off = dataclasses.replace(found, options=dataclasses.replace(found.options, start=False))
    assert off.starts() == []
