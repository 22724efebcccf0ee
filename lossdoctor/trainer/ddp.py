"""nanoGPT's DistributedDataParallel setup, for a trainer started by torchrun.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE in each process it starts; as nanoGPT's
train.py, a process with RANK set is one rank of a DDP run:

* `init_process_group(backend)`: the config's `backend` (nccl by default) on CUDA; gloo on
  CPU, where nccl has no kernels;
* the device is `cuda:LOCAL_RANK` on CUDA (one GPU per process); on CPU it stays as given;
* the seed is `seed + RANK`, so that the ranks draw different batches (DDP broadcasts rank
  0's initial weights, so the model starts from `seed` as without DDP);
* `gradient_accumulation_steps //= WORLD_SIZE`: the same tokens per optimizer step, shared
  among the ranks (refused when not divisible);
* the model is wrapped in `DistributedDataParallel`, and the gradients are all-reduced only
  in the backward of the last micro-step (`require_backward_grad_sync`);
* only rank 0 logs and writes checkpoints.

Without RANK in the environment, `setup` returns None and changes nothing.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import nanogpt
from ..errors import UsageError

if TYPE_CHECKING:
    import torch

__all__ = ["Rank", "from_env", "is_master", "setup", "wrap", "sync_gradients", "teardown"]


@dataclass(frozen=True)
class Rank:
    """This process's place in a DDP run."""

    rank: int  # RANK: 0 .. world_size-1 over all nodes
    local_rank: int  # LOCAL_RANK: the index of this process on its node (its GPU on CUDA)
    world_size: int  # WORLD_SIZE: processes in the run
    device_type: str  # 'cuda' or 'cpu', as nanogpt.device_type
    config: Mapping[str, Any]  # the config's values before the per-rank changes (kept in checkpoints)

    @property
    def master(self) -> bool:
        """Rank 0: the one process that logs and saves."""
        return self.rank == 0


def from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int, int] | None:
    """(RANK, LOCAL_RANK, WORLD_SIZE) as torchrun sets them, or None when RANK is unset (not a
    DDP run; nanoGPT's test is `int(os.environ.get('RANK', -1)) != -1`)."""
    env = os.environ if environ is None else environ
    if int(env.get("RANK", -1)) == -1:
        return None
    try:
        return int(env["RANK"]), int(env["LOCAL_RANK"]), int(env["WORLD_SIZE"])
    except (KeyError, ValueError):
        raise UsageError("RANK is set but LOCAL_RANK or WORLD_SIZE is missing or not an integer: "
                         "start a DDP run with torchrun, which sets all three") from None


def is_master(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process logs and writes: not a DDP run, or its rank 0."""
    env = from_env(environ)
    return env is None or env[0] == 0


def setup(c: dict[str, Any]) -> Rank | None:
    """Join the DDP run that torchrun started, changing the config values `c` in place for
    this rank (device, gradient_accumulation_steps, seed); None, and `c` unchanged, when this
    process is not one of torchrun's. Safe to call again in the same process."""
    env = from_env()
    if env is None:
        return None
    rank, local_rank, world = env
    gas = int(c["gradient_accumulation_steps"])
    if gas % world:
        raise UsageError(f"gradient_accumulation_steps={gas} is not a multiple of the DDP world size "
                         f"{world} (WORLD_SIZE): each rank takes gradient_accumulation_steps / WORLD_SIZE "
                         "micro-steps, as nanoGPT; give a multiple, or fewer processes")
    import torch
    import torch.distributed as dist
    original = dict(c)
    device_type = nanogpt.device_type(c["device"])
    if device_type == "cuda":
        c["device"] = f"cuda:{local_rank}"
        torch.cuda.set_device(c["device"])
    if not dist.is_initialized():
        dist.init_process_group(backend=c["backend"] if device_type == "cuda" else "gloo")
        atexit.register(teardown)  # a caller that never calls teardown still leaves cleanly
    c["gradient_accumulation_steps"] = gas // world
    c["seed"] = int(c["seed"]) + rank
    return Rank(rank, local_rank, world, device_type, original)


def wrap(model: torch.nn.Module, rank: Rank) -> torch.nn.Module:
    """The model in DistributedDataParallel: rank 0's weights broadcast to every rank, the
    gradients averaged over the ranks in each synchronised backward."""
    from torch.nn.parallel import DistributedDataParallel
    return DistributedDataParallel(model, device_ids=[rank.local_rank] if rank.device_type == "cuda" else None)


def sync_gradients(model: torch.nn.Module, on: bool) -> None:
    """Whether the next backward all-reduces the gradients; off for all but the last
    micro-step, so that a step communicates once (nanoGPT sets the flag rather than using
    the no_sync context manager)."""
    from torch.nn.parallel import DistributedDataParallel
    if isinstance(model, DistributedDataParallel):
        model.require_backward_grad_sync = on


def teardown() -> None:
    """Leave the DDP run (destroy_process_group) if this process joined one; else nothing."""
    import sys
    if "torch.distributed" not in sys.modules:  # never joined: leave torch unimported (seconds)
        return
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
