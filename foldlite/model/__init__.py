"""Stage: the network (network.py), its weights (checkpoint.py), input batches (batch.py) and CPU
settings (precision.py, allocator.py)."""
