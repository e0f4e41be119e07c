"""--help explains every option of every command, and printed tables keep their columns."""
from __future__ import annotations

import argparse

from foldlite.evaluation.benchmark import format_summary
from foldlite.cli import build_parser


def _undocumented(parser: argparse.ArgumentParser, prefix: tuple = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _undocumented(sub, prefix + (name,))
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)) and not action.help:
            yield " ".join(prefix + (action.option_strings[-1] if action.option_strings else action.dest,))


def test_every_option_of_every_command_has_help_text():
    assert list(_undocumented(build_parser())) == []


def test_benchmark_table_columns_line_up_for_every_method():
    row = {"chains": 50, "mean_tm": 0.5, "median_tm": 0.5, "fraction_tm_above_0.5": 0.5, "mean_gdt_ts": 0.4,
           "mean_lddt_ca": 0.5, "mean_lr_contact_precision": 0.2, "mean_q3": 0.7, "seconds_per_residue": 0.01}
    methods = ("foldlite", "foldlite+templates", "ideal_helix", "nearest_template")
    summary = {m: dict(row) for m in methods}
    for method in ("foldlite+templates", "nearest_template"):
        summary[method].update(fraction_with_template=0.9, mean_template_identity=0.3)
    lines = format_summary(summary).splitlines()[: len(methods) + 1]
    header, rows = lines[0], lines[1:]
    assert all(len(line) == len(header) for line in rows)
    # every column ends where its header ends
    ends = [i + 1 for i in range(len(header)) if header[i] != " " and (i + 1 == len(header) or header[i + 1] == " ")]
    for line in rows:
        assert all(line[end - 1] != " " for end in ends[1:]), line
