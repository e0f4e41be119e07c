"""Training across processes and machines: torchrun starts the processes, torch.distributed joins them.

    torchrun --nproc_per_node 2 -m foldlite train --out runs/ddp ...          # one machine
    torchrun --nnodes 4 --nproc_per_node 8 --rdzv-backend c10d \
        --rdzv-endpoint HOST:29500 -m foldlite train --out /shared/runs/ddp ...   # a cluster

Each process (rank) trains on its own crops with DistributedDataParallel, which averages gradients so
every rank holds the same weights; rank 0 alone evaluates and writes logs and checkpoints. gloo is the
backend on CPU, nccl on CUDA. Without torchrun's environment (WORLD_SIZE unset or 1) everything here
is a no-op and training runs in one process as before.
"""
from __future__ import annotations

import gc
import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def join(device: torch.device | str = "cpu") -> Ranks:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, MASTER_ADDR...)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Ranks()
    if not dist.is_initialized():
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend)
    return Ranks(rank=dist.get_rank(), world_size=dist.get_world_size())


def leave(ranks: Ranks) -> None:
    if ranks.distributed and dist.is_initialized():
        # Free what still holds gloo work (a DDP model left in a reference cycle) while the interpreter
        # is whole: freed during its shutdown instead, gloo's threads can abort the process ("terminate
        # called without an active exception": rank 1 aborted so at the end of the test runs in 2 of 3
        # full test suites, never when the test ran alone; pytorch/pytorch#179291 describes the mechanism)
        gc.collect()
        dist.destroy_process_group()


def rank_seed(seed: int, step: int, rank: int) -> int:
    """Crop-sampler seed of one rank: ranks draw different crops; rank 0 of a single process keeps the
    seed + step rule of one-process training."""
    return seed + step + 1_000_003 * rank


def wrap(model: nn.Module, ranks: Ranks) -> nn.Module:
    """The module to call for training: DistributedDataParallel across ranks, else the model itself.
    find_unused_parameters: the template embedding gets no gradient on steps whose crops have no
    templates, so DDP must not wait for it."""
    if not ranks.distributed:
        return model
    return nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)


def all_agree(flag: bool, ranks: Ranks) -> bool:
    """Rank 0's decision, sent to every rank (e.g. "stop now": wall-clock deadlines differ per rank,
    and a rank that stops alone would leave the others waiting in an all-reduce forever)."""
    if not ranks.distributed:
        return flag
    value = torch.tensor([1 if flag else 0])
    dist.broadcast(value, src=0)
    return bool(value.item())


def sum_over_ranks(values: dict[str, float], ranks: Ranks) -> dict[str, float]:
    """Element-wise sum of a dict of numbers over ranks (same keys on every rank)."""
    if not ranks.distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist()))


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        dist.barrier()


def parameter_digest(model: nn.Module) -> str:
    """sha256 of every parameter's bytes, in state-dict order."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_ranks_agree(model: nn.Module, ranks: Ranks) -> list[str]:
    """The parameter digest of every rank (rank order); raises when the ranks' weights differ."""
    digest = parameter_digest(model)
    if not ranks.distributed:
        return [digest]
    digests: list[str] = [""] * ranks.world_size
    dist.all_gather_object(digests, digest)
    if len(set(digests)) != 1:
        raise RuntimeError(f"training ranks hold different weights: {digests}")
    return digests
