"""Memory of a process that loads the shipped library and searches 5 valid chains with it (Linux).

    python benchmarks/bench_library_memory.py file|mapped

file: read from the .npz (load_library, how every process loaded it before session 16); mapped: from
the disk cache (foldlite.templates.mapped, written first if missing). Prints the resident set (RSS) and
the proportional set (PSS: pages shared with other processes count in part) after the searches, and
before the library was loaded (the chain set of $FOLDLITE_DATA, to pick the queries, is already in).
"""
from __future__ import annotations

import sys


def memory_mb() -> tuple[float, float]:
    """(RSS, PSS) of this process in MB, from /proc."""
    def field(path: str, name: str) -> float:
        with open(path) as handle:
            line = next(line for line in handle if line.startswith(name))
        return int(line.split()[1]) / 1024  # kB

    return field("/proc/self/status", "VmRSS:"), field("/proc/self/smaps_rollup", "Pss:")


def main(argv: list[str]) -> int:
    mode = argv[0] if argv else "mapped"
    if mode not in ("file", "mapped"):
        print("usage: bench_library_memory.py file|mapped", file=sys.stderr)
        return 2
    from foldlite.data.chains import ChainSet
    from foldlite.templates import search
    from foldlite.templates.library import default_library_path, load_library
    from foldlite.templates.mapped import mapped_library

    chains = ChainSet()
    before = memory_mb()
    path = default_library_path()
    library = load_library(path) if mode == "file" else mapped_library(path)
    search.warm_up(library)
    for index in chains.indices("valid")[:5]:
        search.find_templates(chains.sequence(int(index)), library)
    rss, pss = memory_mb()
    print(f"{mode}: after loading + 5 searches RSS {rss:.0f} MB, PSS {pss:.0f} MB "
          f"(chain set loaded before: RSS {before[0]:.0f}, PSS {before[1]:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
