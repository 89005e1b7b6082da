"""Training a denoiser: one generator that the CLI, the tests and the desktop app all drive.

``train(config)`` yields typed events (step, loss, loss per timestep bucket, preview samples,
checkpoint saved, finished), so the caller decides how to show progress. Pausing, stopping and
"save now" are flags on a ``TrainingControl`` that the loop checks between steps (cooperative:
nothing is ever interrupted in the middle of an optimizer step).

The objective is DDPM's simplified loss (Ho et al. 2020, eq. 14) for ε-, x_0- or v-prediction,
optionally weighted by min-SNR-γ (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR
Weighting"), with AdamW, linear warm-up, optional cosine decay, gradient clipping, and an
exponential moving average of the weights (the EMA weights are what gets sampled and saved).
Class-conditional models see their label replaced by "no class" with probability
``label_dropout``, so the same network supports classifier-free guidance (Ho & Salimans 2022).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from core.data import ImageDataset
from core.diffusion.forward_process import q_sample
from core.diffusion.guidance import ClassifierFreeGuidance
from core.diffusion.prediction import training_target
from core.diffusion.samplers import sample_ddim
from core.io.checkpoints import load_checkpoint, save_checkpoint
from core.models.registry import build_denoiser, count_parameters
from core.runtime.device import autocast_context, describe_device, resolve_precision, select_device, set_threads
from core.training.config import NUM_TIMESTEP_BUCKETS, TrainConfig, build_schedule, load_training_data, model_config_for
from core.training.control import TrainingControl
from core.training.distributed import DistributedContext
from core.training.events import (
    CheckpointSaved,
    Finished,
    Paused,
    Preview,
    Resumed,
    Started,
    StepEvent,
    TimestepLosses,
    TrainEvent,
    TrainingDiverged,
    TrainingError,
)
from core.training.history import LossHistory
from core.training.objective import learning_rate_at, loss_weights, update_ema


@torch.no_grad()
def preview_samples(
    model, schedule, config: TrainConfig, noise: torch.Tensor, labels: torch.Tensor | None, decode=None
) -> np.ndarray:
    """DDIM samples from fixed noise, so successive previews show the model improving.

    ``decode`` (latent diffusion) turns sampled latents into images; latents are not clipped."""
    sampler_model = model
    cond = None
    if labels is not None:
        sampler_model = ClassifierFreeGuidance(model, config.preview_guidance)
        cond = {"class_labels": labels}
    x = sample_ddim(
        sampler_model,
        noise,
        schedule,
        min(config.preview_steps, schedule.num_timesteps),
        cond=cond,
        clip_x0="clip" if noise.ndim == 4 and decode is None else None,
    )
    if decode is not None:
        x = decode(x).clamp(-1, 1)
    return x.float().cpu().numpy()


def _metadata(
    config: TrainConfig, data, device, step: int, elapsed: float, loss: float | None, num_classes: int
) -> dict:
    """What the saved model is. ``class_names`` only for a class-conditional model: an unconditional
    model trained on labelled data knows no classes, so nothing that describes it may name any."""
    shape = tuple(data.images.shape[1:]) if isinstance(data, ImageDataset) else (2,)
    return {
        "dataset": config.dataset,
        "dataset_name": getattr(data, "name", config.dataset),
        "class_names": list(data.class_names or [])[:num_classes],
        "image_shape": list(shape),
        "prediction_type": config.prediction_type,
        "step": step,
        "wall_time_s": round(elapsed, 2),
        "device": str(device),
        "train_config": config.to_dict(),
        "recipe": config.recipe,
        "last_loss": loss,
    }


def _generator_state(g: torch.Generator) -> torch.Tensor:
    return g.get_state().clone()


# --- the loop -------------------------------------------------------------------------------------


def train(
    config: TrainConfig,
    control: TrainingControl | None = None,
    *,
    resume_from: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    distributed: DistributedContext | None = None,
    data=None,
    extra_metadata: dict | None = None,
    preview_decoder=None,
) -> Iterator[TrainEvent]:
    """Train a denoiser, yielding events. See the module docstring.

    ``resume_from`` continues a run saved with its training state: same weights, optimizer
    moments, EMA, step, data order and random-number state, so an interrupted run ends exactly as
    an uninterrupted one would (on the CPU). ``checkpoint_dir`` is where autosaves go when
    ``config.checkpoint_path`` is not set. ``distributed`` makes this process one of several
    training together (``core.training.distributed``): ``config.batch_size`` is then the global
    batch, and only rank 0 writes checkpoints and draws previews. ``data`` is a dataset already in
    memory used instead of ``config.dataset`` (latent diffusion passes the encoded latents,
    ``core.training.latent``); ``extra_metadata`` is merged into every checkpoint's metadata;
    ``preview_decoder`` turns previewed latents into images.
    """
    control = control or TrainingControl()
    extras = dict(extra_metadata or {})
    resumed = None
    if resume_from is not None:
        resumed = load_checkpoint(resume_from, with_training_state=True)
        if not resumed.training_state:
            raise TrainingError(
                f"{Path(resume_from).name} holds only sampling weights, not a training state to resume."
            )
        if not isinstance(resumed.metadata.get("train_config"), dict):
            raise TrainingError(
                f"{Path(resume_from).name} does not record the settings it was trained with, so it cannot be resumed."
            )
        saved = TrainConfig.from_dict(resumed.metadata["train_config"])
        # The run's identity comes from the checkpoint; only the length and bookkeeping may change.
        keep = {"steps", "checkpoint_every", "checkpoint_path", "preview_every", "log_every", "threads", "device"}
        config = dataclasses.replace(saved, **{k: getattr(config, k) for k in keep})

    set_threads(config.threads)
    world = distributed or DistributedContext()
    device = world.device_for(select_device(config.device))
    precision = resolve_precision(device, config.precision)
    data = load_training_data(config) if data is None else data
    schedule = build_schedule(config)
    model_cfg = model_config_for(config, data)

    torch.manual_seed(config.seed)
    model = build_denoiser(model_cfg).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed + 1)  # timesteps, noise and label dropout (CPU)
    start_step, elapsed_before = 0, 0.0
    history = LossHistory()  # every logged step of the run, resumed parts included
    if resumed is not None:
        state = resumed.training_state
        model.load_state_dict(state["online"])
        ema.load_state_dict(resumed.model.state_dict())
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_step = int(state["step"])
        elapsed_before = float(state.get("elapsed_s", 0.0))
        try:  # checkpoints saved before the history was stored have none
            history = LossHistory.from_state(state.get("loss_history"))
        except ValueError as error:
            raise TrainingError(f"{Path(resume_from).name}: {error}.") from error
    num_classes = int(model_cfg.get("num_classes", 0))
    sampler = world.sampler(data, config.batch_size, seed=config.seed, start_step=start_step)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    net = world.wrap(model)  # DistributedDataParallel (gradients averaged in backward), or model alone

    # Fixed preview noise and labels, drawn from their own generator so previews never disturb training.
    preview_gen = torch.Generator().manual_seed(config.seed + 2)
    if isinstance(data, ImageDataset):
        preview_noise = torch.randn((config.preview_count, *data.images.shape[1:]), generator=preview_gen)
    else:
        preview_noise = torch.randn((config.preview_count * 64, 2), generator=preview_gen)
    preview_labels = (torch.arange(preview_noise.shape[0]) % num_classes) if num_classes else None

    ckpt_path = config.checkpoint_path
    if ckpt_path is None and checkpoint_dir is not None:
        ckpt_path = str(Path(checkpoint_dir) / "autosave.safetensors")

    yield Started(
        config,
        count_parameters(model),
        describe_device(device),
        getattr(data, "name", config.dataset),
        len(data),
        list(data.class_names or []),
        tuple(sampler.x.shape[1:]),
        start_step,
        LossHistory(list(history.steps), list(history.losses), list(history.grad_norms)),
    )

    t0 = time.perf_counter()
    last_log_time, last_log_step = t0, start_step
    bucket_edges = np.linspace(0, schedule.num_timesteps, NUM_TIMESTEP_BUCKETS + 1).astype(int).tolist()
    bucket_sum = torch.zeros(NUM_TIMESTEP_BUCKETS, dtype=torch.float64)
    bucket_count = torch.zeros(NUM_TIMESTEP_BUCKETS, dtype=torch.float64)
    loss_value = None
    step = start_step

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t0

    def save(path: str, reason: str) -> CheckpointSaved:
        training_state = {
            "online": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": _generator_state(generator),
            "torch_rng": torch.get_rng_state(),
            "step": step,
            "elapsed_s": elapsed(),
            "loss_history": history.to_state(),
        }
        world.on_main(  # rank 0 writes (atomically); the others wait for it
            save_checkpoint,
            path,
            ema,
            schedule=schedule,
            metadata={**_metadata(config, data, device, step, elapsed(), loss_value, num_classes), **extras},
            training_state=training_state,
        )
        return CheckpointSaved(step, str(path), reason)

    model.train()
    while step < config.steps:
        if config.time_budget_s and world.any(elapsed() >= config.time_budget_s):  # all stop at the same step
            break
        if control.paused and not control.stopped:
            yield Paused(step)
            while control.paused and not control.stopped:
                control.wait_while_paused(0.1)
            yield Resumed(step)
        for path in control.take_save_requests():
            yield save(path, "requested")
        if world.agree_to_stop(control):
            break

        x0, labels = sampler.next_batch()
        x0 = x0.to(device)
        n = config.batch_size  # every process draws for the global batch and keeps its own share
        t = world.shard(torch.randint(0, schedule.num_timesteps, (n,), generator=generator))
        noise = world.shard(torch.randn((n, *x0.shape[1:]), generator=generator))
        if num_classes:
            drop = world.shard(torch.rand(n, generator=generator)) < config.label_dropout
            labels = torch.where(drop, torch.full_like(labels, num_classes), labels).to(device)
        else:
            labels = None
        t_dev, noise = t.to(device), noise.to(device)
        x_t = q_sample(schedule, x0, t_dev, noise)
        target = training_target(config.prediction_type, x0, noise, t_dev, schedule)

        lr = learning_rate_at(config, step, elapsed())
        for group in optimizer.param_groups:
            group["lr"] = lr
        with autocast_context(device, precision):
            output = net(x_t, t_dev, class_labels=labels)
        per_example = F.mse_loss(output.float(), target, reduction="none").reshape(x0.shape[0], -1).mean(dim=1)
        weights = loss_weights(config, schedule, t_dev)
        loss = per_example.mean() if weights is None else (per_example * weights).mean()
        batch_loss = world.mean(loss.detach())  # the whole global batch's loss (loss itself when alone)
        if not bool(torch.isfinite(batch_loss)):
            raise TrainingDiverged(
                f"The loss became {float(batch_loss)} at step {step + 1}, so training stopped. "
                "This usually means the learning rate is too high: try a smaller one (for example half), "
                "keep gradient clipping on, or use fp32 precision. The last saved checkpoint was not touched."
            )
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        step += 1
        update_ema(ema, model, min(config.ema_decay, (1 + step) / (10 + step)))

        loss_value = float(batch_loss)
        with torch.no_grad():
            buckets = (t * NUM_TIMESTEP_BUCKETS // schedule.num_timesteps).clamp(max=NUM_TIMESTEP_BUCKETS - 1)
            bucket_sum.index_add_(0, buckets, per_example.detach().double().cpu())
            bucket_count.index_add_(0, buckets, torch.ones_like(buckets, dtype=torch.float64))

        if step % config.log_every == 0 or step == config.steps:
            now = time.perf_counter()
            rate = (step - last_log_step) * config.batch_size / max(now - last_log_time, 1e-9)
            last_log_time, last_log_step = now, step
            history.append(step, loss_value, grad_norm)
            yield StepEvent(step, config.steps, loss_value, grad_norm, lr, rate, elapsed())
        if step % 50 == 0 or step == config.steps:
            world.sum_(bucket_sum, bucket_count)
            means = (bucket_sum / bucket_count).tolist()
            yield TimestepLosses(step, bucket_edges, means)
            bucket_sum.zero_()
            bucket_count.zero_()
        if world.is_main and config.preview_every and (step % config.preview_every == 0 or step == config.steps):
            yield Preview(
                step,
                preview_samples(
                    ema,
                    schedule,
                    config,
                    preview_noise.to(device),
                    None if preview_labels is None else preview_labels.to(device),
                    preview_decoder,
                ),
                None if preview_labels is None else preview_labels.numpy(),
            )
        if ckpt_path and config.checkpoint_every and step % config.checkpoint_every == 0 and step < config.steps:
            yield save(ckpt_path, "autosave")

    for path in control.take_save_requests():
        yield save(path, "requested")
    out_of_time = bool(config.time_budget_s) and elapsed() >= config.time_budget_s
    reason = "completed" if (step >= config.steps or out_of_time) and not control.stopped else "stopped"
    final_path = None
    if ckpt_path and step > start_step:
        final_path = ckpt_path
        yield save(ckpt_path, "final")
    ema_cpu = copy.deepcopy(ema).cpu().eval()
    yield Finished(
        step,
        reason,
        elapsed(),
        ema_cpu,
        schedule,
        {**_metadata(config, data, device, step, elapsed(), loss_value, num_classes), **extras},
        final_path,
    )


def measure_step_time(config: TrainConfig, steps: int = 3) -> float:
    """Seconds per training step of ``config`` on this machine (after one warm-up step)."""
    probe = dataclasses.replace(
        config, steps=steps + 1, preview_every=0, checkpoint_every=0, checkpoint_path=None, log_every=1, warmup_steps=0
    )
    times = []
    for event in train(probe):
        if isinstance(event, StepEvent):
            times.append(time.perf_counter())
    return (times[-1] - times[0]) / max(1, len(times) - 1)
