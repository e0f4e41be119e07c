"""Training in several processes (torchrun + DistributedDataParallel over gloo on CPU)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import torch

from foldlite.training import distributed
from foldlite.model.checkpoint import read_checkpoint

WORKER = Path(__file__).parent / "distributed_worker.py"


def run_torchrun(out, data, steps, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(WORKER), str(out), str(data), str(steps), *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_two_processes_train_identical_weights_and_resume(tmp_path, tiny_trainset):
    out = tmp_path / "ddp"
    first = run_torchrun(out, tiny_trainset, 4)
    assert first.returncode == 0, first.stderr[-3000:]
    # rank 0 checks the digests of both ranks' parameters at the end and prints the shared one
    assert "weights identical on all 2 processes" in first.stdout
    state = read_checkpoint(out / "last.pt")
    assert state["step"] == 4
    assert state["provenance"]["segments"][-1]["processes"] == 2
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [2, 4]  # one writer: no rank logs twice
    assert all(float(r["crops_per_s"]) > 0 and r["valid_lr_precision"] != "" for r in rows)

    # the processes scored half the valid chains each; their summed totals give the numbers one
    # process gets on all of them (the step-4 row was logged with the weights saved at step 4)
    from foldlite.data.chains import ChainSet
    from foldlite.evaluation.network import network_metrics
    from foldlite.model.checkpoint import model_from_checkpoint
    from foldlite.training.run import validation_indices
    from foldlite.config import TrainConfig

    chains = ChainSet(tiny_trainset)
    indices = validation_indices(chains, TrainConfig(**state["train_config"]))
    assert len(indices) == 2
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers: bf16 sums split over other thread counts round differently
    try:
        alone = network_metrics(model_from_checkpoint(state), chains, indices)
    finally:
        torch.set_num_threads(threads)
    # CE is a mean over thousands of pairs (the CSV keeps 4 decimals). Q3 and precision count argmaxes
    # and top-L/5 ranks of an almost untrained model, where a near-tie may still fall the other way on
    # another CPU's bf16 kernels: they may differ by one residue, or one contact in one chain.
    residues = sum(len(chains.chain(int(i)).sequence) for i in indices)
    one_contact = max(1 / max(1, len(chains.chain(int(i)).sequence) // 5) for i in indices)
    tolerance = {"valid_distogram_ce": 2e-4, "valid_q3": 1 / residues + 1e-4, "valid_lr_precision": one_contact + 1e-4}
    for key, value in alone.items():
        assert abs(float(rows[-1][key]) - value) <= tolerance[key], (key, rows[-1][key], value)

    second = run_torchrun(out, tiny_trainset, 6, "resume")
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = read_checkpoint(out / "last.pt")
    assert resumed["step"] == 6
    assert not torch.equal(state["state_dict"]["trunk.embed.weight"], resumed["state_dict"]["trunk.embed.weight"])
    assert [int(r["step"]) for r in csv.DictReader(open(out / "metrics.csv"))] == [2, 4, 6]


def test_ranks_draw_different_crops_and_rank_zero_keeps_the_single_process_seed():
    assert distributed.rank_seed(7, 100, 0) == 107
    seeds = {distributed.rank_seed(7, 100, rank) for rank in range(8)}
    assert len(seeds) == 8


def test_parameter_digest_sees_a_one_bit_change():
    model = torch.nn.Linear(4, 3)
    before = distributed.parameter_digest(model)
    with torch.no_grad():
        model.weight[0, 0] = torch.nextafter(model.weight[0, 0], torch.tensor(1e9))
    assert distributed.parameter_digest(model) != before


def test_single_process_is_untouched(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ranks = distributed.join()
    assert ranks.is_main and not ranks.distributed
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model, ranks) is model
    assert distributed.all_agree(True, ranks) is True
