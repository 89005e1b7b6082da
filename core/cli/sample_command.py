"""``diffusion-lab sample``: samples from a checkpoint into a PNG grid (or a scatter plot) and/or .npz."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from core.cli.progress import ProgressLine


def add_parser(sub) -> None:
    """The ``sample`` sub-command and its options."""
    from core.diffusion.samplers import SAMPLERS
    from core.runtime.device import DEVICE_CHOICES

    s = sub.add_parser("sample", help="draw samples from a checkpoint into a PNG grid and/or .npz")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("--sampler", choices=list(SAMPLERS), default="ddim")
    s.add_argument("--steps", type=int, default=None, help="sampling steps (default depends on the sampler)")
    s.add_argument("--eta", type=float, default=None, help="DDIM's η: 0 deterministic … 1 DDPM-like")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument(
        "--class",
        dest="class_",
        default=None,
        metavar="CLASS",
        help="class names or numbers separated by commas, 'all' (default) or 'none'",
    )
    s.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default 2)")
    s.add_argument(
        "-o",
        "--out",
        action="append",
        default=None,
        metavar="FILE",
        help="output .png (grid or scatter plot) or .npz (arrays); repeatable (default samples.png)",
    )
    s.add_argument("--nrow", type=int, default=None, help="images per grid row")
    s.add_argument("--scale", type=int, default=2, help="enlarge grid pixels this many times (default 2)")
    s.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    s.add_argument("--threads", type=int, default=None)
    s.set_defaults(func=cmd_sample)


def parse_classes(spec: str | None, class_names: list[str] | None, num_classes: int) -> list[int] | None:
    """Class indices for a ``--class`` value: names or numbers separated by commas, "all" or "none".

    Returns None for unconditional sampling. "all" (the default for class-conditional models)
    cycles through every class.
    """
    if num_classes == 0:
        if spec not in (None, "none"):
            raise ValueError("This model was trained without classes, so --class cannot be used with it.")
        return None
    if spec == "none":
        return None
    if spec is None or spec == "all":
        return list(range(num_classes))
    names = [n.lower() for n in (class_names or [])]
    out = []
    for item in (s.strip() for s in spec.split(",")):
        if item.isdigit() and int(item) < num_classes:
            out.append(int(item))
        elif item.lower() in names:
            out.append(names.index(item.lower()))
        else:
            known = ", ".join(class_names or []) or f"0 … {num_classes - 1}"
            raise ValueError(f"Unknown class {item!r}. This model knows: {known}.")
    return out


def draw_samples(
    checkpoint,
    n: int,
    *,
    sampler: str = "ddim",
    steps: int | None = None,
    seed: int = 0,
    classes: list[int] | None = None,
    guidance: float | None = None,
    eta: float | None = None,
    device: torch.device | str = "cpu",
    callback=None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sample ``n`` images (or 2-D points) from a loaded checkpoint; returns (samples on the CPU, labels).

    ``classes`` cycles over the given class indices; ``guidance`` is the classifier-free guidance
    scale (None: 2 for class-conditional models). The noise comes from a CPU generator seeded with
    ``seed``, so the same seed gives the same samples on any device up to float rounding.
    """
    from core.diffusion.guidance import ClassifierFreeGuidance
    from core.diffusion.samplers import DEFAULT_STEPS, get_sampler

    if n < 1:
        raise ValueError(f"The number of samples must be at least 1, not {n}.")
    sample_fn = get_sampler(sampler)
    steps = DEFAULT_STEPS[sampler] if steps is None else steps
    steps = min(steps, checkpoint.schedule.num_timesteps)
    options = {}
    if eta is not None:
        if sampler != "ddim":
            raise ValueError("--eta only applies to the ddim sampler.")
        options["eta"] = eta
    model = checkpoint.model.to(device)
    shape = checkpoint.data_shape
    generator = torch.Generator().manual_seed(seed)
    x_T = torch.randn((n, *shape), generator=generator).to(device)
    labels = None
    cond = None
    if classes is not None:
        labels = torch.tensor([classes[i % len(classes)] for i in range(n)], dtype=torch.long)
        scale = 2.0 if guidance is None else guidance
        model = ClassifierFreeGuidance(model, scale)
        cond = {"class_labels": labels.to(device)}
    elif guidance is not None and checkpoint.num_classes:
        raise ValueError("Guidance steers towards a class; choose classes with --class, not 'none'.")
    elif guidance is not None:
        ClassifierFreeGuidance(model, guidance)  # raises the clear "needs a class-conditional model" error
    noise_generator = torch.Generator(device=x_T.device).manual_seed(seed + 1)
    x = sample_fn(
        model,
        x_T,
        checkpoint.schedule,
        steps,
        generator=noise_generator,
        callback=callback,
        cond=cond,
        clip_x0="clip" if len(shape) == 3 else None,
        **options,
    )
    return x.detach().float().cpu(), labels


def cmd_sample(args: argparse.Namespace) -> int:
    from core.data.images import make_grid, save_png, save_samples_npz, scatter_image
    from core.io.checkpoints import load_denoiser
    from core.runtime.device import select_device, set_threads

    outputs = [Path(p) for p in (args.out or ["samples.png"])]
    for p in outputs:
        if p.suffix.lower() not in (".png", ".npz"):
            raise ValueError(f"Output files must end in .png (a picture) or .npz (arrays), not {p.name!r}.")
    set_threads(args.threads)
    device = select_device(args.device)
    ck = load_denoiser(args.checkpoint)
    classes = parse_classes(args.class_, ck.class_names, ck.num_classes)
    progress = ProgressLine(args.progress_stream)

    def on_step(s):
        progress.update(
            f"sampling {progress.bar((s.index + 1) / s.num_steps)} step {s.index + 1}/{s.num_steps}",
            final=s.index + 1 == s.num_steps,
        )

    samples, labels = draw_samples(
        ck,
        args.n,
        sampler=args.sampler,
        steps=args.steps,
        seed=args.seed,
        classes=classes,
        guidance=args.guidance,
        eta=args.eta,
        device=device,
        callback=on_step,
    )
    progress.finish()
    points = samples.ndim == 2
    for path in outputs:
        if path.suffix.lower() == ".npz":
            if points:
                save_samples_npz(path, points=samples, labels=labels)
            else:
                save_samples_npz(path, images=samples, labels=labels)
        elif points:
            save_png(path, scatter_image(samples, labels))
        else:
            nrow = args.nrow or (len(classes) if classes and 1 < len(classes) <= args.n else None)
            save_png(path, make_grid(samples, nrow=nrow), scale=args.scale)
        print(f"Wrote {path}")
    return 0
