"""Stage: known structures of homologues -- library files (library.py, build.py), search (search.py,
alignment.py), network inputs (features.py), restraints and start traces (restraints.py), all for
one query (prepare.py)."""
