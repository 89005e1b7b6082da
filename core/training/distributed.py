"""Training on several devices at once: PyTorch DistributedDataParallel, one process per device.

Data parallelism (the scheme of Goyal et al. 2017, "Accurate, Large Minibatch SGD"): every process
holds a full copy of the network, computes the loss on its own share of the global batch, and
``DistributedDataParallel`` averages the gradients across processes during the backward pass, so
after each optimizer step all copies hold the same weights. With equal shares, the mean of the
per-process mean losses is the loss of the whole batch, so the run follows the same trajectory as
one process with the same global batch (up to the order of floating-point sums).

What this module adds to the one training loop of ``core.training.loop``:

* ``DistributedMinibatchSampler``: the project's own minibatches (``core.data.MinibatchSampler``,
  no DataLoader workers) cut into equal shares, one per process. The global batch's order depends
  only on ``(seed, step)``, never on the number of processes, which is what lets a run saved on
  4 GPUs resume on 1 (or the other way round) with the same data order.
* ``DistributedContext``: who this process is (rank, world size) and the few collective operations
  the loop needs: wrap the network in DDP, keep a share of a tensor drawn for the whole batch,
  average the loss for reporting, agree on stopping, and run checkpoint writes on rank 0 only.
  Alone (world size 1, the desktop app and plain ``diffusion-lab train``) every method is the
  identity, so a single-process run is bit for bit what it was before.

Launch: ``torchrun --nproc_per_node=4 -m core train ...`` sets RANK, WORLD_SIZE, LOCAL_RANK and
the rendezvous address; ``start_from_environment`` reads them and joins the process group (NCCL
between CUDA GPUs, Gloo on the CPU).
"""

from __future__ import annotations

import datetime
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as torch_dist
from torch import nn

from core.data import MinibatchSampler
from core.training.events import TrainingError

T = TypeVar("T")


class DistributedMinibatchSampler:
    """This process's share of each global minibatch of ``MinibatchSampler``.

    The global batch of ``batch_size`` examples is drawn exactly as one process would draw it
    (same order, same epochs, resumable from ``start_step``) and cut into ``world_size`` equal,
    contiguous shares; process ``rank`` gathers only its own. Like torch's ``DistributedSampler``,
    but over the project's step-indexed batches rather than a DataLoader's epochs.
    """

    def __init__(
        self,
        data,
        batch_size: int,
        seed: int = 0,
        *,
        rank: int = 0,
        world_size: int = 1,
        start_step: int = 0,
        hflip: bool = False,
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"Process {rank} does not exist among {world_size} processes.")
        if isinstance(batch_size, int) and batch_size % world_size:
            raise ValueError(
                f"A batch of {batch_size} examples cannot be shared equally by {world_size} processes. "
                f"The batch size is the whole batch of one step, so choose a multiple of {world_size} "
                f"(for example {max(world_size, batch_size - batch_size % world_size)})."
            )
        self.batches = MinibatchSampler(data, batch_size, seed, hflip=hflip, start_step=start_step)
        self.rank, self.world_size = rank, world_size
        self.local_batch_size = batch_size // world_size

    @property
    def x(self) -> torch.Tensor:
        return self.batches.x

    @property
    def step(self) -> int:
        return self.batches.step

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        index, flip = self.batches.next_indices()
        share = slice(self.rank * self.local_batch_size, (self.rank + 1) * self.local_batch_size)
        return self.batches.take(index[share], flip[share])


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a distributed run; the default is a run of one process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, draws previews and prints."""
        return self.rank == 0

    def device_for(self, device: torch.device) -> torch.device:
        """The device of this process: GPU number ``local_rank`` on a CUDA machine."""
        if not self.enabled:
            return device
        if device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        if device.type != "cpu":
            raise ValueError(
                f"Training with several processes runs on CUDA GPUs or on the CPU, not on '{device.type}'."
            )
        return device

    def sampler(self, data, batch_size: int, *, seed: int, start_step: int) -> DistributedMinibatchSampler:
        return DistributedMinibatchSampler(
            data, batch_size, seed, rank=self.rank, world_size=self.world_size, start_step=start_step
        )

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to call for training: DDP (which averages gradients in backward) or ``model``.

        Save, clip and average ``model`` itself: its parameters are the ones DDP updates."""
        if not self.enabled:
            return model
        device = next(model.parameters()).device
        device_ids = [device.index] if device.type == "cuda" else None
        if device.type == "cpu":
            # The CPU's 1×1 convolutions return weight gradients with other (equivalent) strides for
            # their size-1 dimensions; DDP then copies those few small tensors, and says so once per
            # process. Harmless, and noise in the command line's output.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def shard(self, tensor: torch.Tensor) -> torch.Tensor:
        """This process's share (along dim 0) of a tensor drawn for the whole global batch."""
        if not self.enabled:
            return tensor
        n = tensor.shape[0] // self.world_size
        return tensor[self.rank * n : (self.rank + 1) * n]

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The average of ``value`` over all processes (for the loss: the whole batch's loss)."""
        if not self.enabled:
            return value
        total = value.detach().clone().to(self._comm_device())
        torch_dist.all_reduce(total, op=torch_dist.ReduceOp.SUM)
        return (total / self.world_size).to(value.device)

    def sum_(self, *tensors: torch.Tensor) -> None:
        """Replace each tensor by its sum over all processes (in place)."""
        if not self.enabled:
            return
        for tensor in tensors:
            total = tensor.to(self._comm_device(), copy=True)
            torch_dist.all_reduce(total, op=torch_dist.ReduceOp.SUM)
            tensor.copy_(total)

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is true on at least one (also a barrier)."""
        if not self.enabled:
            return bool(flag)
        value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=self._comm_device())
        torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MAX)
        return bool(value.item())

    def agree_to_stop(self, control) -> bool:
        """Whether to stop now: a stop asked of any process (Ctrl-C reaches them at different
        moments) stops them all after the same step, so none waits forever for the others."""
        if not self.any(control.stopped):
            return False
        control.stop()
        return True

    def on_main(self, fn: Callable[..., T], *args, **kwargs) -> T | None:
        """Run ``fn`` on rank 0 only (a checkpoint write); the others wait for it to finish.

        If it fails on rank 0, rank 0 raises its error and every other process raises a
        ``TrainingError``, so no process is left waiting at the next gradient exchange.
        """
        if not self.enabled:
            return fn(*args, **kwargs)
        result, error = None, None
        if self.is_main:
            try:
                result = fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - re-raised below, after telling the others
                error = e
        failed = self.any(error is not None)
        if error is not None:
            raise error
        if failed:
            raise TrainingError("Process 0 could not save the checkpoint (its own message says why), so all stopped.")
        return result

    def _comm_device(self) -> torch.device:
        """NCCL exchanges CUDA tensors only; Gloo exchanges CPU tensors."""
        if torch_dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def start_from_environment(device: str = "auto", *, timeout_s: float = 1800.0) -> DistributedContext:
    """Join the process group that ``torchrun`` set up (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR…).

    Without those variables (an ordinary run) or with a world of one, returns the context of a
    single process and starts nothing. The backend is NCCL when this run trains on CUDA GPUs, Gloo
    on the CPU (``device`` is the ``--device`` choice: "cpu" forces Gloo even on a GPU machine).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    use_cuda = torch.cuda.is_available() and str(device).split(":")[0] in ("auto", "cuda")
    return start(rank, world_size, local_rank=local_rank, backend="nccl" if use_cuda else "gloo", timeout_s=timeout_s)


def start(
    rank: int,
    world_size: int,
    *,
    local_rank: int | None = None,
    backend: str = "gloo",
    init_method: str = "env://",
    timeout_s: float = 1800.0,
) -> DistributedContext:
    """Join a process group explicitly (tests and benchmarks use ``init_method="file://..."``)."""
    if not torch_dist.is_available():
        raise TrainingError("This PyTorch build has no torch.distributed, so it cannot train on several processes.")
    local_rank = rank if local_rank is None else local_rank
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend,
            init_method=init_method,
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def stop(context: DistributedContext) -> None:
    """Leave the process group (after the last collective operation of the run)."""
    if context.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


__all__ = [
    "DistributedContext",
    "DistributedMinibatchSampler",
    "start",
    "start_from_environment",
    "stop",
]
