"""torchrun support: read the launcher's environment, set up and tear down the process group."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """The rank layout torchrun put in the environment (a single process when it is absent)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def pick_device(preference: str = "auto", info: DistInfo | None = None) -> torch.device:
    """'auto' means this rank's CUDA device when there is one, else the CPU."""
    info = info or dist_info()
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(preference)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", info.local_rank % max(1, torch.cuda.device_count()))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


@contextmanager
def process_group(info: DistInfo, device: torch.device, timeout_s: float = 600):
    """The torchrun job's process group for the duration of the block (nothing in a single process): NCCL on CUDA,
    gloo on the CPU; a rank that fails ends the job after `timeout_s` rather than hanging it."""
    owned = info.enabled and not dist.is_initialized()
    if owned:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(seconds=timeout_s))
    try:
        yield
        if owned:  # leave together: a rank that tears gloo down while another still uses it can abort at exit
            dist.barrier()
    finally:
        if owned:
            dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks in place (a no-op in a single process)."""
    if dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t
