"""Data-parallel training with torch.distributed, as ``torchrun --nproc_per_node N -m vaekit train ...`` runs it.

torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) with WORLD_SIZE > 1 turns it on:
``process_group`` joins the group (gloo for CPU tensors, nccl for CUDA ones). Every rank holds the whole data set
and the same model, draws the same epoch permutation and data noise, and takes its contiguous slice of each global
batch (``shard``); the gradients of the per-rank losses, each scaled by its share of the batch, are summed across
ranks (``sum_gradients``): one step is the single-process step on the same global batch, to float tolerance, for
losses that are means over the batch's rows. Rank 0 alone writes (the lock, the bundle, metrics, trackers, output);
what ends training (time limit, early stopping, non-finite losses) is decided from values all ranks share.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist


def env_rank() -> int:
    """This process's rank as torchrun's environment gives it (0 when not launched by torchrun with N > 1)."""
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


@contextlib.contextmanager
def process_group() -> Iterator[None]:
    """Join torchrun's process group for the block when WORLD_SIZE > 1 (and no group is set up yet), then leave it."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        yield
        return
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    try:
        yield
        dist.barrier()  # rank 0 writes the run last: leaving the group while it still does aborted rank 1 (gloo)
    finally:
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """The CUDA device of this rank (LOCAL_RANK) when training on CUDA in a group; else ``device``."""
    if device.type != "cuda" or not active():
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def batch_problem(n: int, batch_size: int) -> str | None:
    """Why ``n`` rows in batches of ``batch_size`` cannot be split over the ranks (each needs a row), or None."""
    if not active():
        return None
    world, last = dist.get_world_size(), n % batch_size
    if min(batch_size, n) < world or 0 < last < world:
        return f"every batch must have at least one row per process ({world}): change --batch-size"
    return None


def shard(rows: int) -> slice | None:
    """This rank's contiguous slice of a global batch of ``rows`` rows; None when training alone."""
    if not active():
        return None
    world, r = dist.get_world_size(), dist.get_rank()
    base, extra = divmod(rows, world)
    start = r * base + min(r, extra)
    return slice(start, start + base + (r < extra))


def sum_gradients(model: torch.nn.Module, loss: torch.Tensor) -> float:
    """Sum every parameter's gradient and ``loss`` (a scalar) over the ranks, in one all-reduce; returns the loss."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads] + [loss.reshape(1).to(grads[0].dtype)])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
    return flat[-1].item()


def sum_values(*values: Any, like: torch.Tensor) -> list[float]:
    """Sum tensors and numbers over the ranks (in float64, on ``like``'s device); returns them as one flat list."""
    parts = [torch.as_tensor(v, dtype=torch.float64, device=like.device).reshape(-1) for v in values]
    flat = torch.cat(parts)
    dist.all_reduce(flat)
    return flat.tolist()


def agree(flag: bool, device: torch.device) -> bool:
    """Rank 0's ``flag`` on every rank (``flag`` itself when training alone)."""
    if not active():
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def from_rank0(obj: Any) -> Any:
    """Rank 0's ``obj`` (picklable) on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0)
    return box[0]


def broadcast_module(model: torch.nn.Module) -> None:
    """Give every rank rank 0's weights and buffers."""
    if not active():
        return
    for t in model.state_dict().values():
        c = t.contiguous()
        dist.broadcast(c, 0)
        if c.data_ptr() != t.data_ptr():
            t.copy_(c)
