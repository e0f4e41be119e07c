"""Stage: structure metrics (TM-score, GDT, lDDT), model-vs-reference comparison, network metrics and
the benchmark."""
