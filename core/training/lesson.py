"""The lesson preset: a Fashion-MNIST run that shows recognisable garments within a few CPU-minutes.

The full Fashion-MNIST default (10 classes, 32×32, a 1.2M-parameter U-Net) needs about an hour of a
2-core CPU before its samples look like clothes; one minute of it gives noise blobs. A lesson needs
the picture to change while the class watches, so this preset makes every step cheaper and every
step count:

- four classes whose shapes differ most (T-shirt/top, trouser, sneaker, bag): the network need not
  spend its first minutes telling a pullover from a coat from a shirt;
- images averaged down to 14×14 and padded to 16×16 (``load_fashion_mnist(downsample=2)``): a
  quarter of the pixels, so about a quarter of the time per step;
- the "tiny" U-Net on two levels (16 → 8, attention at 8×8; 0.19M parameters) and batches of 32;
- v-prediction on the cosine schedule with min-SNR-γ weighting (Salimans & Ho 2022; Hang et al.
  2023), as the shipped model, at a higher rate (3e-3, 50 warm-up steps) that a short run can afford;
- an EMA of 0.995 (about the last 200 steps) with the loop's warm-up min(decay, (1 + n)/(10 + n)),
  so previews drawn from the EMA weights follow the model from the first hundred steps on.

``scripts/train_lesson_gallery.py`` trains it and ships checkpoints at increasing steps
(``resources/models/gallery``); ``benchmarks/bench_lesson_preset.py`` measures their quality.
"""

from __future__ import annotations

from core.training.config import TrainConfig

LESSON_CLASSES = ["T-shirt/top", "Trouser", "Sneaker", "Bag"]
LESSON_DOWNSAMPLE = 2

LESSON_PRESET = dict(
    dataset="fashion_mnist",
    dataset_options={"classes": list(LESSON_CLASSES), "downsample": LESSON_DOWNSAMPLE, "pad_to": 16},
    model="tiny",
    model_options={"channel_mult": [1, 2], "attention_resolutions": [8]},
    schedule="cosine",
    num_timesteps=1000,
    prediction_type="v",
    loss_weighting="min_snr",
    class_conditional=True,
    label_dropout=0.1,
    learning_rate=3e-3,
    warmup_steps=50,
    lr_decay="cosine",
    batch_size=32,
    steps=500,
    ema_decay=0.995,
    grad_clip=1.0,
    preview_every=50,
    preview_count=16,
    preview_steps=20,
    preview_guidance=2.0,
)
LESSON_GALLERY_STEPS = (50, 150, 300, 500)


def lesson_config(**overrides) -> TrainConfig:
    """The lesson preset as a ``TrainConfig``; ``overrides`` replace any of its settings."""
    settings = {**LESSON_PRESET, **overrides}
    settings["dataset_options"] = dict(settings["dataset_options"])
    settings["model_options"] = dict(settings["model_options"])
    return TrainConfig(**settings)
