"""Training on several processes (DistributedDataParallel over Gloo on the CPU), against one process.

Two processes sharing a global batch must follow the loss trajectory of one process with the same
batch (the gradients are averaged, the data order and noise are those of the global batch), only
rank 0 may write a checkpoint, and a run saved by N processes resumes on M.
"""

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from core.data import MinibatchSampler, make_toy_2d
from core.io import load_checkpoint, load_denoiser
from core.training import Finished, StepEvent, TrainConfig, train
from core.training.distributed import DistributedContext, DistributedMinibatchSampler

WORLD_SIZE = 2
SLOW = pytest.mark.slow  # one group of 2 processes, started once (~30 s on 2 busy cores)
TOLERANCE = dict(rtol=1e-4, atol=1e-6)  # float sums in another order; a wrong shard is off by ~1e-2


def _config(**overrides) -> TrainConfig:
    base = dict(
        dataset="toy:eight_gaussians",  # labelled, so the label dropout is drawn and shared too
        model_options={"hidden_dim": 64, "num_blocks": 2},
        batch_size=32,
        steps=16,
        learning_rate=2e-3,
        warmup_steps=5,
        lr_decay="constant",  # a 10-step run is then the start of a 16-step run
        preview_every=0,
        threads=1,
        device="cpu",
        seed=3,
    )
    base.update(overrides)
    return TrainConfig(**base)


def _losses(events) -> list[float]:
    return [e.loss for e in events if isinstance(e, StepEvent)]


# --- the sampler and the context of one process (no processes started) --------------------------


def test_the_shares_of_every_process_make_up_the_global_batch():
    data = make_toy_2d("eight_gaussians", 100, seed=1)
    one = MinibatchSampler(data, 24, seed=7, start_step=3)
    batches = [one.next_batch() for _ in range(6)]  # across the epoch boundary at 100 examples
    for world_size in (1, 2, 4):
        shares = [
            DistributedMinibatchSampler(data, 24, 7, rank=r, world_size=world_size, start_step=3)
            for r in range(world_size)
        ]
        for x, labels in batches:
            parts = [s.next_batch() for s in shares]
            assert all(len(p[0]) == 24 // world_size for p in parts)
            torch.testing.assert_close(torch.cat([p[0] for p in parts]), x, rtol=0, atol=0)
            torch.testing.assert_close(torch.cat([p[1] for p in parts]), labels, rtol=0, atol=0)
        assert shares[-1].step == 3 + len(batches)


def test_a_batch_that_cannot_be_shared_equally_is_refused_in_words():
    data = make_toy_2d("swiss_roll", 50)
    with pytest.raises(ValueError, match="cannot be shared equally by 3 processes.*multiple of 3"):
        DistributedMinibatchSampler(data, 32, rank=0, world_size=3)


def test_alone_the_context_changes_nothing():
    world = DistributedContext()
    x = torch.arange(6.0)
    assert world.is_main and not world.enabled
    assert world.shard(x) is x and world.mean(x) is x
    assert world.any(True) and not world.any(False)
    assert world.on_main(lambda a: a + 1, 1) == 2


# --- two processes over Gloo --------------------------------------------------------------------


def _worker(rank: int, world_size: int, folder: str) -> None:
    """One process of the group: train 0→10, resume a one-process checkpoint 5→10, then the CLI."""
    from core import cli
    from core.training import distributed

    folder = Path(folder)
    world = distributed.start(rank, world_size, init_method=f"file://{folder / 'rendezvous'}", timeout_s=120)
    # Each rank is told its own checkpoint path: only rank 0's may appear on disk.
    run = _config(steps=10, checkpoint_path=str(folder / f"two_rank{rank}.safetensors"), checkpoint_every=5)
    fresh = _losses(train(run, distributed=world))
    resumed = _losses(
        train(_config(steps=10), distributed=world, resume_from=folder / "one_5.safetensors")  # saved by 1 process
    )
    if rank == 0:
        (folder / "losses.json").write_text(json.dumps({"fresh": fresh, "resumed": resumed}))

    # The command line under torchrun's variables, in this already-joined group (it leaves it at the end).
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(
            ["train", "toy:swiss_roll", "--steps", "3", "--batch", "16", "--threads", "1", "--device", "cpu"]
            + ["--model-option", "hidden_dim=32", "--out", str(folder / f"cli_rank{rank}.safetensors")]
        )
    (folder / f"cli_rank{rank}.txt").write_text(json.dumps([status, out.getvalue(), err.getvalue()]))


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Runs the group once for the tests below; returns its folder and the one-process reference."""
    folder = tmp_path_factory.mktemp("ddp")
    reference = list(train(_config()))  # one process, 16 steps
    list(train(_config(steps=5, checkpoint_path=str(folder / "one_5.safetensors"))))
    mp.spawn(_worker, args=(WORLD_SIZE, str(folder)), nprocs=WORLD_SIZE, join=True)
    return folder, reference


@SLOW
def test_two_processes_follow_the_loss_trajectory_of_one(two_processes):
    folder, reference = two_processes
    fresh = json.loads((folder / "losses.json").read_text())["fresh"]
    assert len(fresh) == 10
    torch.testing.assert_close(torch.tensor(fresh), torch.tensor(_losses(reference)[:10]), **TOLERANCE)


@SLOW
def test_only_rank_0_writes_the_checkpoint_and_the_app_can_open_it(two_processes):
    folder, _ = two_processes
    assert not (folder / "two_rank1.safetensors").exists()
    checkpoint = load_denoiser(folder / "two_rank0.safetensors")  # what the app's model library calls
    assert checkpoint.metadata["step"] == 10 and checkpoint.num_classes == 8
    assert not list(folder.glob("*.tmp*"))  # the atomic write left no temporary file behind


@SLOW
def test_a_one_process_checkpoint_resumes_on_two(two_processes):
    folder, reference = two_processes
    resumed = json.loads((folder / "losses.json").read_text())["resumed"]
    torch.testing.assert_close(torch.tensor(resumed), torch.tensor(_losses(reference)[5:10]), **TOLERANCE)


@SLOW
def test_a_two_process_checkpoint_resumes_on_one(two_processes):
    folder, reference = two_processes
    events = list(train(_config(), resume_from=folder / "two_rank0.safetensors"))
    torch.testing.assert_close(torch.tensor(_losses(events)), torch.tensor(_losses(reference)[10:]), **TOLERANCE)
    ema, ema_ref = events[-1].model.state_dict(), reference[-1].model.state_dict()
    assert isinstance(events[-1], Finished)
    for name in ema_ref:
        torch.testing.assert_close(ema[name], ema_ref[name], rtol=1e-3, atol=1e-5)
    assert load_checkpoint(folder / "two_rank0.safetensors", with_training_state=True).training_state["step"] == 10


@SLOW
def test_the_command_line_trains_under_torchrun_and_only_rank_0_speaks(two_processes):
    folder, _ = two_processes
    status0, out0, err0 = json.loads((folder / "cli_rank0.txt").read_text())
    status1, out1, err1 = json.loads((folder / "cli_rank1.txt").read_text())
    assert status0 == status1 == 0, (err0, err1)
    assert "Finished at step 3" in out0 and "2 processes" in err0
    assert out1 == "" and err1 == ""
    assert (folder / "cli_rank0.safetensors").exists() and not (folder / "cli_rank1.safetensors").exists()
