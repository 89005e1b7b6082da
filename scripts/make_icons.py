"""Draw Diffusion Lab's icon and write it as PNG (several sizes), ICO (Windows) and ICNS (macOS).

The picture is the app in one glance: dots on a ring, noisy on the left and clean on the right, the
way the forward process turns data into noise and sampling turns it back. Deterministic (seeded), so
re-running the script reproduces the committed files.

    python scripts/make_icons.py            # writes resources/icons/
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
MASTER_SIZE = 1024  # drawn once at this size, then downsampled with a good filter
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]
BACKGROUND = (30, 34, 48, 255)
DOT_COLOURS = ((255, 170, 70), (120, 200, 255))  # warm (noisy) to cool (clean)


def draw_master(size: int = MASTER_SIZE, num_dots: int = 90, seed: int = 7) -> Image.Image:
    """The icon at ``size`` pixels: a rounded square with a ring of dots denoised from left to right."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    margin = size * 0.04
    draw.rounded_rectangle((margin, margin, size - margin, size - margin), radius=size * 0.2, fill=BACKGROUND)
    centre, radius = size / 2, size * 0.3
    for k in range(num_dots):
        angle = 2 * math.pi * k / num_dots
        x0, y0 = centre + radius * math.cos(angle), centre + radius * math.sin(angle)
        noise_level = 1.0 - (x0 - (centre - radius)) / (2 * radius)  # 1 at the left, 0 at the right
        x = x0 + rng.normal() * noise_level * size * 0.09
        y = y0 + rng.normal() * noise_level * size * 0.09
        mix = 1.0 - noise_level
        colour = tuple(int(a + (b - a) * mix) for a, b in zip(*DOT_COLOURS, strict=True)) + (255,)
        dot = size * (0.018 + 0.012 * mix)
        draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=colour)
    return image


def main() -> None:
    ICON_DIR.mkdir(parents=True, exist_ok=True)
    master = draw_master()
    for size in PNG_SIZES:
        master.resize((size, size), Image.Resampling.LANCZOS).save(ICON_DIR / f"diffusion-lab-{size}.png")
    master.resize((256, 256), Image.Resampling.LANCZOS).save(ICON_DIR / "diffusion-lab.ico", sizes=ICO_SIZES)
    master.resize((512, 512), Image.Resampling.LANCZOS).save(ICON_DIR / "diffusion-lab.icns")
    print(f"icons written to {ICON_DIR}")


if __name__ == "__main__":
    main()
