"""What a training run is: ``TrainConfig`` (one commented dataclass) and what it builds.

``build_schedule``, ``load_training_data`` and ``model_config_for`` turn a config into the
schedule, the data and the network settings of the run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from core.data import ImageDataset, get_dataset
from core.diffusion.prediction import PREDICTION_TYPES
from core.diffusion.schedules import SCHEDULE_KINDS, NoiseSchedule, make_schedule

LOSS_WEIGHTINGS = ("none", "min_snr")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
NUM_TIMESTEP_BUCKETS = 10


@dataclass
class TrainConfig:
    """Every setting of a training run. Defaults train a 2-D toy in seconds and work on a CPU."""

    dataset: str = "toy:swiss_roll"  # a core.data.get_dataset spec: fashion_mnist, shapes, toy:<name>, folder:<path>…
    dataset_options: dict = field(default_factory=dict)  # extra keyword arguments for the dataset loader
    model: str = "auto"  # "auto" (U-Net "small" for images, MLP for points), a U-Net preset, or "mlp"
    model_options: dict = field(default_factory=dict)  # overrides of the model config (e.g. base_channels)
    schedule: str = "cosine"  # noise schedule kind (core.diffusion.schedules.SCHEDULE_KINDS)
    num_timesteps: int = 1000  # T
    beta_start: float | None = None  # β range for linear / quadratic / sigmoid schedules (None: 1e-4)
    beta_end: float | None = None  # (None: 0.02)
    prediction_type: str = "v"  # what the network learns to output: "eps", "x0" or "v" (v stays stable where ᾱ_t ≈ 0)
    loss_weighting: str = "none"  # "none" (DDPM's L_simple) or "min_snr" (γ = 5)
    class_conditional: bool = True  # condition on the dataset's labels when it has them
    label_dropout: float = 0.1  # probability of training with "no class" (enables guidance)
    learning_rate: float = 1e-3  # peak AdamW learning rate
    warmup_steps: int = 100  # linear warm-up from 0 to the peak learning rate
    lr_decay: str = "cosine"  # "cosine" (to 10% at the last step) or "constant"
    weight_decay: float = 0.0  # AdamW weight decay
    batch_size: int = 128  # examples per step
    steps: int = 2000  # optimizer steps in total (a resumed run continues up to this number)
    time_budget_s: float | None = None  # stop after this much training time; the learning rate decays by time too
    ema_decay: float = 0.999  # EMA decay; warmed up as min(decay, (1 + step)/(10 + step))
    grad_clip: float = 1.0  # clip the global gradient norm to this (0 disables)
    precision: str = "auto"  # "auto", "fp32", "bf16" (autocast) or "fp16" (CUDA with a grad scaler)
    device: str = "auto"  # "auto" (CUDA, then Apple MPS, then CPU), "cpu", "cuda" or "mps"
    threads: int | None = None  # CPU threads for torch (None: leave torch's default)
    seed: int = 0  # makes a CPU run bit-for-bit reproducible
    log_every: int = 1  # yield a StepEvent every this many steps
    preview_every: int = 250  # sample a preview from the EMA weights every this many steps (0: never)
    preview_count: int = 16  # images (or 2-D points ×64) in a preview
    preview_steps: int = 20  # DDIM steps of a preview
    preview_guidance: float = 2.0  # guidance scale of previews of conditional models
    checkpoint_every: int = 0  # autosave every this many steps when a checkpoint path is set (0: only at the end)
    checkpoint_path: str | None = None  # where autosaves and the final checkpoint go
    recipe: str = ""  # free text stored in the checkpoint: how this run was launched

    def __post_init__(self):
        if self.schedule not in SCHEDULE_KINDS:
            raise ValueError(f"Unknown schedule '{self.schedule}'. Choose one of: {', '.join(SCHEDULE_KINDS)}.")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"The objective must be one of {', '.join(PREDICTION_TYPES)}, not '{self.prediction_type}'."
            )
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"Loss weighting must be one of {', '.join(LOSS_WEIGHTINGS)}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"Precision must be one of {', '.join(PRECISIONS)}.")
        if self.lr_decay not in ("cosine", "constant"):
            raise ValueError("The learning-rate decay must be 'cosine' or 'constant'.")
        for name in ("batch_size", "steps", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1.")
        if self.time_budget_s is not None and float(self.time_budget_s) <= 0:
            raise ValueError("The time budget must be a positive number of seconds.")
        if not 0 < float(self.learning_rate) < 1:
            raise ValueError(
                f"The learning rate should be a small positive number such as 1e-3, not {self.learning_rate}."
            )
        if not 0 <= float(self.ema_decay) < 1:
            raise ValueError("The EMA decay must lie in [0, 1), for example 0.999.")
        if not 0 <= float(self.label_dropout) < 1:
            raise ValueError("Label dropout is a probability in [0, 1).")
        if self.warmup_steps < 0 or self.preview_every < 0 or self.checkpoint_every < 0 or self.grad_clip < 0:
            raise ValueError("Warm-up, preview, checkpoint intervals and gradient clipping cannot be negative.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Unknown training settings: {', '.join(sorted(unknown))}.")
        return cls(**d)


def build_schedule(config: TrainConfig) -> NoiseSchedule:
    return make_schedule(config.schedule, config.num_timesteps, config.beta_start, config.beta_end)


def load_training_data(config: TrainConfig):
    return get_dataset(config.dataset, **config.dataset_options)


def model_config_for(config: TrainConfig, data) -> dict:
    """The denoiser config for this dataset: U-Net for images, MLP for 2-D points."""
    is_image = isinstance(data, ImageDataset)
    num_classes = len(data.class_names) if (config.class_conditional and data.labels is not None) else 0
    name = config.model
    if name == "auto":
        name = "small" if is_image else "mlp"
    if is_image:
        if name == "mlp":
            raise ValueError("The MLP denoiser is for 2-D points; pick a U-Net preset (tiny, small, base) for images.")
        from core.models.unet import preset_config

        cfg = preset_config(
            name,
            in_channels=data.channels,
            image_size=data.image_size,
            num_classes=num_classes,
            prediction_type=config.prediction_type,
            **config.model_options,
        )
        return {"arch": "unet", **cfg.to_dict()}
    if name != "mlp":
        raise ValueError(f"'{name}' is an image network; 2-D point data trains with the 'mlp' model.")
    from core.models.mlp import MLPConfig

    cfg = MLPConfig(num_classes=num_classes, prediction_type=config.prediction_type, **config.model_options)
    return {"arch": "mlp", **cfg.to_dict()}
