"""Stage: predicted distributions -> 3-D backbone (distances -> mds -> refine -> hand -> backbone, run
by reconstruct.py), pLDDT (confidence.py) and the shared vector maths (vectors.py). Pure functions."""
