"""Colourisation by projection (core/diffusion/colourisation.py), with the exact denoiser of a tiny colour dataset."""

import pytest
import torch

from core.diffusion import IdealDenoiser, make_schedule
from core.diffusion.colourisation import LUMA, colour_accuracy, colourise, lift_grey, project_grey, to_grey

PALETTE = [[0.8, -0.6, -0.6], [-0.6, 0.9, -0.5], [-0.8, -0.8, 0.9]]  # luma −0.18, 0.29, −0.61


@pytest.fixture(scope="module")
def schedule():
    return make_schedule("linear", 1000)


def flat(colour, pattern):
    """A 3×8×8 image: ``colour`` where ``pattern`` is set, black (−1) elsewhere."""
    c = torch.tensor(colour, dtype=torch.float32).reshape(3, 1, 1)
    return torch.where(pattern[None], c, torch.tensor(-1.0))


@pytest.fixture(scope="module")
def data():
    yy, xx = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    square = (xx >= 2) & (xx < 6) & (yy >= 2) & (yy < 6)
    bar = yy < 3
    # Three colours with clearly different luma: a grey picture tells them apart.
    return torch.stack([flat(PALETTE[0], square), flat(PALETTE[1], bar), flat(PALETTE[2], square)])


def test_the_projection_meets_the_grey_image_and_is_the_closest_such_image():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, 3, 5, 5, generator=g), torch.randn(4, 1, 5, 5, generator=g)
    p = project_grey(x, y)
    torch.testing.assert_close(to_grey(p), y)
    torch.testing.assert_close(project_grey(p, y), p)  # a projection: twice is once
    torch.testing.assert_close(to_grey(lift_grey(y)), y)
    # Any other image with the same grey is farther from x (the step x → p is along w, orthogonal to A's null space).
    other = p + torch.tensor([0.587, -0.299, 0.0]).reshape(1, 3, 1, 1) * torch.randn(4, 1, 5, 5, generator=g)
    torch.testing.assert_close(to_grey(other), y)
    assert ((x - p).pow(2).sum() < (x - other).pow(2).sum()).item()
    assert sum(LUMA) == pytest.approx(1.0)  # grey of a grey image is itself: [−1, 1] stays [−1, 1]


def test_colourisation_recovers_each_colour_image_from_its_grey_picture(data, schedule):
    ideal = IdealDenoiser(data, schedule)
    grey = to_grey(data)
    out = colourise(ideal, grey, schedule, 20, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(to_grey(out), grey, atol=1e-5, rtol=0)  # the measurement is met exactly
    assert (out - data).abs().max() < 0.05  # and the colours are the data's
    palette = torch.tensor(PALETTE)
    assert colour_accuracy(out, data, palette) == 1.0
    patterns = (data > -1).any(dim=1)  # (3, 8, 8): where each image's shape is
    swapped = torch.stack([flat(PALETTE[(k + 1) % 3], patterns[k]) for k in range(3)])  # same shapes, wrong colours
    assert colour_accuracy(swapped, data, palette) == 0.0


def test_colours_of_equal_grey_cannot_be_told_apart(schedule):
    """Red and a blue of the same luma: both are exact answers, and the sampler returns one of them."""
    yy, xx = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    square = (xx >= 2) & (xx < 6) & (yy >= 2) & (yy < 6)
    red = torch.tensor([-0.3, -1.0, -1.0])  # a dark red; blue weighs so little in luma that only a dark
    blue = torch.tensor([-1.0, -1.0, 0.0])  # red has a blue of the same grey
    blue[2] = float(to_grey(red.reshape(1, 3, 1, 1)).squeeze() - LUMA[0] * blue[0] - LUMA[1] * blue[1]) / LUMA[2]
    assert -1 <= blue[2] <= 1
    data = torch.stack([flat(red.tolist(), square), flat(blue.tolist(), square)])
    torch.testing.assert_close(to_grey(data[:1]), to_grey(data[1:]))
    grey = to_grey(data[:1]).expand(16, -1, -1, -1)
    out = colourise(IdealDenoiser(data, make_schedule("linear", 1000)), grey, schedule, 20,
                    generator=torch.Generator().manual_seed(2))  # fmt: skip
    distance = torch.stack([(out - d).flatten(1).norm(dim=1) for d in data])  # (2, 16)
    assert (distance.min(dim=0).values < 0.1).all()  # each result is one of the two images
    assert (distance.argmin(dim=0) == 0).any() and (distance.argmin(dim=0) == 1).any()  # and both occur


def test_colourisation_refuses_colour_input_in_words(data, schedule):
    with pytest.raises(ValueError, match="grey image"):
        colourise(IdealDenoiser(data, schedule), data, schedule, 5)
