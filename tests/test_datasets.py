"""Offline datasets: Fashion-MNIST, IDX files, coloured shapes, image folders, 2-D toys, minibatches."""

from __future__ import annotations

import gzip
import math
import struct
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from core import data
from core.data import (
    DATASET_CHOICES,
    SHAPE_COLORS,
    SHAPE_NAMES,
    TOY_DATASETS,
    DatasetError,
    MinibatchSampler,
    PointCloudError,
    get_dataset,
    iterate_minibatches,
    load_fashion_mnist,
    load_idx,
    load_image_folder,
    make_shapes,
    make_toy_2d,
    points_from_drawing,
    points_from_word,
    words,
)
from core.runtime import resources


def to_unit(pixels: np.ndarray) -> torch.Tensor:
    """The expected [−1, 1] value of uint8 pixels (independent of the library's helper)."""
    return torch.from_numpy(pixels.astype(np.float64) / 127.5 - 1.0).float()


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float32 rounding of the pixel scaling."""
    return a.shape == b.shape and torch.allclose(a, b, rtol=0.0, atol=1e-6)


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    """Write an IDX file by hand: 00 00 <type> <ndim>, big-endian uint32 sizes, data."""
    type_code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    payload = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST


@pytest.fixture(scope="module")
def fmnist_train():
    return load_fashion_mnist("train")


def test_fashion_mnist_train_counts_range_padding_and_balance(fmnist_train):
    ds = fmnist_train
    assert ds.images.shape == (60000, 1, 32, 32) and ds.images.dtype == torch.float32
    assert len(ds) == 60000 and ds.channels == 1 and ds.image_size == 32 and ds.num_classes == 10
    assert ds.images.min().item() == -1.0 and ds.images.max().item() == 1.0
    # The 2-pixel border added around the 28×28 images is background (−1) everywhere.
    for edge in (ds.images[:, :, :2], ds.images[:, :, 30:], ds.images[:, :, :, :2], ds.images[:, :, :, 30:]):
        assert (edge == -1.0).all()
    assert (ds.images[:, 0, 2:30, 2:30] > 0).any(dim=(1, 2)).all()  # every garment has bright pixels
    assert ds.labels.dtype == torch.int64
    assert torch.bincount(ds.labels, minlength=10).tolist() == [6000] * 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


def test_fashion_mnist_pixels_match_the_raw_file(fmnist_train):
    # Independent decoding of the shipped file: 16-byte header, then 28×28 bytes per image.
    path = resources.resource_path("fashion_mnist", "train-images-idx3-ubyte.gz")
    with gzip.open(path) as stream:
        raw = np.frombuffer(stream.read(16 + 3 * 784)[16:], dtype=np.uint8).reshape(3, 28, 28)
    assert close(fmnist_train.images[:3, 0, 2:30, 2:30], to_unit(raw))
    with gzip.open(resources.resource_path("fashion_mnist", "train-labels-idx1-ubyte.gz")) as stream:
        labels = stream.read(13)
    assert fmnist_train.labels[:5].tolist() == list(labels[8:13])


def test_fashion_mnist_test_split_limit_and_other_padding(fmnist_train):
    test = load_fashion_mnist("test")
    assert test.images.shape == (10000, 1, 32, 32)
    assert torch.bincount(test.labels, minlength=10).tolist() == [1000] * 10
    unpadded = load_fashion_mnist("train", pad_to=28, limit=5)
    assert unpadded.images.shape == (5, 1, 28, 28)
    assert torch.equal(unpadded.images, fmnist_train.images[:5, :, 2:30, 2:30])
    odd = load_fashion_mnist("train", pad_to=31, limit=2)  # 3 extra rows: 1 above, 2 below
    assert torch.equal(odd.images[:, :, 1:29, 1:29], unpadded.images[:2])
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("validation")
    with pytest.raises(ValueError, match="pad_to"):
        load_fashion_mnist(pad_to=20, limit=1)


def test_fashion_mnist_lesson_options_pick_classes_and_average_blocks(fmnist_train):
    from core.data.fashion_mnist import to_classifier_size

    lesson = load_fashion_mnist(classes=["Sneaker", "T-shirt/top"], downsample=2, pad_to=16, limit=50)
    assert lesson.images.shape == (50, 1, 16, 16) and lesson.class_names == ["Sneaker", "T-shirt/top"]
    # The first 50 sneakers and T-shirts of the file, relabelled in the order given (Sneaker → 0).
    original = torch.nonzero((fmnist_train.labels == 7) | (fmnist_train.labels == 0)).flatten()[:50]
    assert lesson.labels.tolist() == (fmnist_train.labels[original] == 0).long().tolist()
    # Each pixel is the rounded mean of a 2×2 block of the raw uint8 image; the 1-pixel border is −1.
    raw = np.rint((fmnist_train.images[original[0], 0, 2:30, 2:30].numpy() + 1) * 127.5)
    block = np.rint(raw.reshape(14, 2, 14, 2).mean(axis=(1, 3)))
    assert close(lesson.images[0, 0, 1:15, 1:15], to_unit(block.astype(np.uint8)))
    assert (lesson.images[:, :, 0] == -1).all() and (lesson.images[:, :, :, 15] == -1).all()
    # Brought back to the classifier's 32×32 layout: the border stays background, the garment is there.
    full = to_classifier_size(lesson.images[:4], downsample=2)
    assert full.shape == (4, 1, 32, 32) and (full[:, :, :2] == -1).all() and (full[:, :, :, 30:] == -1).all()
    assert (full[:, 0, 2:30, 2:30].mean() - lesson.images[:4, 0, 1:15, 1:15].mean()).abs() < 0.05
    with pytest.raises(ValueError, match="classes"):
        load_fashion_mnist(classes=["Sock"], limit=1)
    with pytest.raises(ValueError, match="downsample"):
        load_fashion_mnist(downsample=3, limit=1)


# ---------------------------------------------------------------------------------------------
# IDX files


def test_idx_round_trip_raw_and_gzip_with_labels(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)
    for compress in (False, True):
        write_idx(tmp_path / "imgs.idx", images, compress)
        write_idx(tmp_path / "lbls.idx", labels, compress)
        ds = load_idx(tmp_path / "imgs.idx", tmp_path / "lbls.idx")
        assert close(ds.images[:, 0], to_unit(images))
        assert ds.labels.tolist() == labels.tolist() and ds.class_names == [str(k) for k in range(10)]
    padded = load_idx(tmp_path / "imgs.idx", pad_to=32)
    assert padded.images.shape == (7, 1, 32, 32) and padded.labels is None
    assert close(padded.images[:, 0, 2:30, 2:30], to_unit(images)) and (padded.images[:, :, 0] == -1).all()


def test_idx_rgb_images_are_channels_first(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    write_idx(tmp_path / "rgb.idx", images)
    ds = load_idx(tmp_path / "rgb.idx")
    assert ds.images.shape == (2, 3, 8, 8)
    assert close(ds.images, to_unit(images.transpose(0, 3, 1, 2)))


def test_damaged_idx_files_raise_dataset_error_naming_the_file(tmp_path):
    images = np.random.default_rng(2).integers(0, 256, (4, 28, 28), dtype=np.uint8)  # random: gzip cannot shrink it
    write_idx(tmp_path / "good.idx", images)
    payload = (tmp_path / "good.idx").read_bytes()

    (tmp_path / "short.idx").write_bytes(payload[:-100])
    with pytest.raises(DatasetError, match=r"short\.idx.*truncated"):
        load_idx(tmp_path / "short.idx")

    (tmp_path / "garbage.idx").write_bytes(b"this is not an idx file at all")
    with pytest.raises(DatasetError, match=r"garbage\.idx.*not an IDX"):
        load_idx(tmp_path / "garbage.idx")

    (tmp_path / "cut.gz").write_bytes(gzip.compress(payload)[:2000])
    with pytest.raises(DatasetError, match=r"cut\.gz"):
        load_idx(tmp_path / "cut.gz")

    (tmp_path / "long.idx").write_bytes(payload + b"\x00")
    with pytest.raises(DatasetError, match=r"long\.idx.*extra bytes"):
        load_idx(tmp_path / "long.idx")

    write_idx(tmp_path / "labels.idx", np.arange(3, dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"labels\.idx.*3 labels.*4 images"):
        load_idx(tmp_path / "good.idx", tmp_path / "labels.idx")

    with pytest.raises(DatasetError, match="no such file"):
        load_idx(tmp_path / "missing.idx")


def test_get_dataset_idx_finds_the_sibling_labels_file(tmp_path):
    images = np.full((3, 28, 28), 255, dtype=np.uint8)
    write_idx(tmp_path / "my-images-idx3-ubyte.gz", images, compress=True)
    write_idx(tmp_path / "my-labels-idx1-ubyte.gz", np.array([2, 0, 1], dtype=np.uint8), compress=True)
    ds = get_dataset(f"idx:{tmp_path / 'my-images-idx3-ubyte.gz'}", pad_to=32)
    assert ds.labels.tolist() == [2, 0, 1] and ds.images.shape == (3, 1, 32, 32)


# ---------------------------------------------------------------------------------------------
# Coloured shapes


def test_shapes_are_deterministic_for_a_seed():
    a, b, c = make_shapes(64, seed=3), make_shapes(64, seed=3), make_shapes(64, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    assert a.images.shape == (64, 3, 32, 32) and a.images.min() == -1.0 and a.images.max() <= 1.0
    assert a.class_names == SHAPE_NAMES and a.color_names == list(SHAPE_COLORS)


def test_shape_pixels_have_the_labelled_colour_and_shape():
    ds = make_shapes(300, seed=0)
    palette = torch.tensor(list(SHAPE_COLORS.values()), dtype=torch.float32) / 127.5 - 1.0
    coverage = (ds.images + 1.0).amax(dim=1) / (ds.images + 1.0).amax(dim=(1, 2, 3))[:, None, None]
    for k in range(len(ds)):
        image, shape = ds.images[k], SHAPE_NAMES[ds.labels[k]]
        inside = coverage[k] > 0.9999
        assert inside.sum() >= 9  # the smallest shapes still cover several whole pixels
        # Pixels wholly inside the shape are exactly the labelled colour; the rest blend to black.
        assert torch.allclose(image[:, inside].T, palette[ds.color_labels[k]].expand(int(inside.sum()), 3), atol=2e-3)
        # The fill ratio of the shape's bounding box tells the shapes apart.
        rows, cols = torch.nonzero(coverage[k] > 0.5, as_tuple=True)
        box = coverage[k][rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        fill = box.sum().item() / box.numel()
        centroid_row = (box.sum(1) * torch.arange(box.shape[0])).sum().item() / box.sum().item()
        if shape == "circle":
            assert 0.7 < fill < 0.87, fill  # π/4 ≈ 0.785
        elif shape == "square":
            assert fill > 0.9, fill
        else:
            assert fill < 0.66, fill  # triangle, diamond ≈ 1/2, cross ≈ 0.51
        if shape == "triangle":  # apex up: the mass sits in the lower part of the box
            assert centroid_row > 0.55 * (box.shape[0] - 1), centroid_row


def test_shapes_label_modes():
    ds = make_shapes(50, seed=1, label_by="shape_and_color")
    shape_only = make_shapes(50, seed=1)
    assert torch.equal(ds.labels, shape_only.labels * len(SHAPE_COLORS) + ds.color_labels)
    assert ds.class_names[ds.labels[0]] == f"{ds.color_names[ds.color_labels[0]]} {SHAPE_NAMES[shape_only.labels[0]]}"
    assert torch.equal(make_shapes(50, seed=1, label_by="color").labels, ds.color_labels)
    with pytest.raises(ValueError, match="label_by"):
        make_shapes(5, label_by="size")


# ---------------------------------------------------------------------------------------------
# Image folders


def three_stripes(width: int, height: int) -> Image.Image:
    """Red | green | blue vertical thirds: a centre crop of a wide image is all green."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 3] = (255, 0, 0)
    pixels[:, width // 3 : 2 * width // 3] = (0, 255, 0)
    pixels[:, 2 * width // 3 :] = (0, 0, 255)
    return Image.fromarray(pixels)


@pytest.fixture
def class_folder(tmp_path):
    root = tmp_path / "pets"
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    three_stripes(96, 32).save(root / "cats" / "wide.png")
    three_stripes(300, 100).save(root / "cats" / "wide.jpg", quality=95)
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(root / "cats" / "transparent.png")  # → white
    Image.new("L", (50, 70), 0).save(root / "dogs" / "black.bmp")
    Image.new("P", (20, 20), 0).save(root / "dogs" / "frame.gif")
    Image.new("RGB", (64, 64), (0, 0, 255)).save(root / "dogs" / "blue.webp", lossless=True)
    Image.new("RGB", (33, 33), (0, 255, 0)).save(root / "dogs" / "green.tiff")
    (root / "dogs" / "notes.txt").write_text("not a picture")
    (root / "dogs" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "dogs" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    return root


def test_image_folder_classes_crop_and_conversion(class_folder):
    ds = load_image_folder(class_folder, size=16, channels=3)
    assert ds.class_names == ["cats", "dogs"]
    assert ds.images.shape == (7, 3, 16, 16) and ds.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    by_name = dict(
        zip(["transparent", "wide_jpg", "wide_png", "black", "blue", "frame", "green"], ds.images, strict=True)
    )
    green = torch.tensor([-1.0, 1.0, -1.0])[:, None, None]
    assert torch.equal(by_name["wide_png"], green.expand(3, 16, 16))  # centre third survives the crop
    assert torch.allclose(by_name["wide_jpg"][:, 4:12, 4:12], green.expand(3, 8, 8), atol=0.1)
    assert (by_name["transparent"] == 1.0).all() and (by_name["black"] == -1.0).all()
    assert torch.equal(by_name["blue"], torch.tensor([-1.0, -1.0, 1.0])[:, None, None].expand(3, 16, 16))
    skipped = dict((name.rsplit("/", 1)[-1], why) for name, why in ds.skipped)
    assert set(skipped) == {"notes.txt", "corrupt.png", ".DS_Store"}
    assert "not an image file type" in skipped["notes.txt"]

    gray = load_image_folder(class_folder, size=8, channels=1, max_images=3)
    assert gray.images.shape == (3, 1, 8, 8) and set(gray.labels.tolist()) == {0, 1}


def test_image_folder_strict_mode_names_the_corrupt_file(class_folder):
    with pytest.raises(DatasetError, match=r"corrupt\.png"):
        load_image_folder(class_folder, strict=True)


def test_flat_folder_is_one_class_and_empty_folder_fails(tmp_path):
    flat = tmp_path / "mine"
    flat.mkdir()
    for k in range(3):
        Image.new("L", (10 + k, 12), 255).save(flat / f"{k}.png")
    ds = load_image_folder(flat, size=8)
    assert ds.class_names == ["mine"] and ds.labels.tolist() == [0, 0, 0] and (ds.images == 1.0).all()

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("hello")
    with pytest.raises(DatasetError, match="no images found in"):
        load_image_folder(empty)
    with pytest.raises(DatasetError, match="no such folder"):
        load_image_folder(tmp_path / "nowhere")

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
    with pytest.raises(DatasetError, match=r"no readable images.*bad\.jpg"):
        load_image_folder(broken)


def test_large_jpeg_loads_via_draft(tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    Image.new("L", (10000, 10000), 200).save(big / "huge.jpg", quality=50)
    ds = load_image_folder(big, size=32, channels=3)
    assert ds.images.shape == (1, 3, 32, 32)
    assert torch.allclose(ds.images, torch.full_like(ds.images, 200 / 127.5 - 1.0), atol=0.02)


def png_header_only(path, width: int, height: int) -> None:
    """A PNG whose header claims width × height but holds no pixels: cheap to make, a "bomb" to open."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        import zlib

        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [12000, 30000])  # over our 120-MP limit; over Pillow's own hard limit
def test_decompression_bombs_are_refused_with_a_clear_message(tmp_path, side):
    png_header_only(tmp_path / "bomb.png", side, side)
    with pytest.raises(DatasetError, match=r"bomb\.png.*decompression bomb"):
        load_image_folder(tmp_path, strict=True)
    with pytest.raises(DatasetError, match="no readable images"):
        load_image_folder(tmp_path)


# ---------------------------------------------------------------------------------------------
# 2-D toys, words and drawings


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toys_are_finite_standardised_and_deterministic(name):
    ds = make_toy_2d(name, 20000, seed=0)
    points = ds.points
    assert points.shape == (20000, 2) and points.dtype == torch.float32 and torch.isfinite(points).all()
    assert points.mean(0).abs().max() < 0.05
    rms = (points - points.mean(0)).pow(2).sum(1).mean().div(2).sqrt()
    assert abs(rms.item() - 1.0) < 0.05
    assert points.abs().max() < 3.0
    assert torch.equal(make_toy_2d(name, 100, seed=7).points, make_toy_2d(name, 100, seed=7).points)
    assert not torch.equal(make_toy_2d(name, 100, seed=7).points, make_toy_2d(name, 100, seed=8).points)


def test_toy_labels_match_their_component():
    ds = make_toy_2d("eight_gaussians", 4000, seed=0)
    assert ds.num_classes == 8 and ds.labels.min() == 0 and ds.labels.max() == 7
    angle = torch.atan2(ds.points[:, 1], ds.points[:, 0])
    nearest = torch.remainder(torch.round(angle / (math.pi / 4)), 8).long()
    assert (nearest == ds.labels).float().mean() > 0.999
    moons = make_toy_2d("two_moons", 4000, seed=0)
    # The upper moon lies above the lower one on average; both are half the data.
    assert moons.points[moons.labels == 0, 1].mean() > moons.points[moons.labels == 1, 1].mean() + 0.5
    assert abs(moons.labels.float().mean().item() - 0.5) < 0.05
    assert make_toy_2d("swiss_roll", 10).labels is None
    with pytest.raises(ValueError, match="Unknown toy"):
        make_toy_2d("banana", 10)
    with pytest.raises(ValueError, match="positive"):
        make_toy_2d("rings", 0)


def test_word_points_lie_on_the_rendered_ink():
    ink = words.render_word("Hi!")
    pixels = words._sample_ink_pixels(ink, 2000, np.random.default_rng(5))
    assert ink[pixels[:, 1].astype(int), pixels[:, 0].astype(int)].all()
    ds = points_from_word("Hi!", 2000, seed=5)
    # The standardisation is fixed by the ink alone: undo it and every point is back on its pixel.
    rows, cols = np.nonzero(ink)
    mean = np.array([cols.mean() + 0.5, -(rows.mean() + 0.5)])
    spread = np.sqrt((cols.var() + rows.var() + 2 / 12) / 2)
    back = ds.points.numpy().astype(np.float64) * spread + mean
    assert np.allclose(back, pixels * np.array([1.0, -1.0]), atol=1e-4)
    assert ds.points.mean(0).abs().max() < 0.05 and abs(ds.points.std().item() - 1.0) < 0.05
    for bad in ("", "   ", "two\nlines", "x" * 40):
        with pytest.raises(PointCloudError):
            points_from_word(bad, 10)


def test_drawing_points_follow_the_strokes():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], dtype=float)
    ds = points_from_drawing(square, 3000, seed=0, jitter=0.0)
    p = ds.points.numpy()
    half = np.abs(p).max()  # standardised square outline: every point on the boundary |x| or |y| = half
    assert np.allclose(np.maximum(np.abs(p[:, 0]), np.abs(p[:, 1])), half, atol=1e-4)
    # Uniform in arc length: each of the four sides gets about a quarter.
    sides = np.stack([p[:, 1] < -half + 1e-4, p[:, 0] > half - 1e-4, p[:, 1] > half - 1e-4, p[:, 0] < -half + 1e-4])
    assert np.all(np.abs(sides.mean(1) - 0.25) < 0.04)
    two_strokes = points_from_drawing([np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 5.0], [1.0, 5.0]])], 500)
    assert abs((two_strokes.points[:, 1] > 0).float().mean().item() - 0.5) < 0.1
    assert torch.equal(points_from_drawing(square, 50, seed=2).points, points_from_drawing(square, 50, seed=2).points)
    with pytest.raises(PointCloudError, match="no points"):
        points_from_drawing(np.zeros((0, 2)), 10)
    with pytest.raises(PointCloudError, match="single dot"):
        points_from_drawing(np.ones((4, 2)), 10)


# ---------------------------------------------------------------------------------------------
# Minibatches


def indexed_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose every pixel holds the example index, so a batch tells which examples it holds."""
    index = torch.arange(n, dtype=torch.float32)
    return index[:, None, None, None].expand(n, 1, 2, 3).clone(), torch.arange(n) % 5


def test_minibatch_sampler_is_reproducible_and_covers_each_epoch():
    x, labels = indexed_data(10)
    batches = [MinibatchSampler((x, labels), 5, seed=1).next_batch() for _ in range(2)]
    assert torch.equal(batches[0][0], batches[1][0])
    sampler = MinibatchSampler((x, labels), 4, seed=1)
    drawn = [sampler.next_batch() for _ in range(5)]  # 20 examples = 2 epochs, one batch spans both
    ids = torch.cat([b[0][:, 0, 0, 0] for b in drawn]).long()
    assert sorted(ids[:10].tolist()) == list(range(10)) and sorted(ids[10:].tolist()) == list(range(10))
    assert not torch.equal(ids[:10], ids[10:])  # a fresh order each epoch
    assert all(torch.equal(b[1], b[0][:, 0, 0, 0].long() % 5) for b in drawn)  # labels travel with images
    resumed = MinibatchSampler((x, labels), 4, seed=1, start_step=3)
    assert torch.equal(resumed.next_batch()[0], drawn[3][0]) and resumed.step == 4
    other = MinibatchSampler((x, labels), 4, seed=2)
    assert not torch.equal(torch.cat([other.next_batch()[0] for _ in range(3)]), torch.cat([d[0] for d in drawn[:3]]))


def test_minibatch_hflip_and_generator_entry_point():
    x = torch.arange(24, dtype=torch.float32).reshape(4, 1, 2, 3)
    plain = MinibatchSampler(x, 4, seed=0).next_batch()[0]
    flipped = MinibatchSampler(x, 4, seed=0, hflip=True).next_batch()[0]
    same = (flipped == plain).all(dim=(1, 2, 3))
    mirrored = (flipped == plain.flip(-1)).all(dim=(1, 2, 3))
    assert (same | mirrored).all() and mirrored.any()  # same order; some mirrored, none otherwise changed
    with pytest.raises(ValueError, match="hflip"):
        MinibatchSampler(make_toy_2d("rings", 10), 4, hflip=True)

    ds = make_toy_2d("two_moons", 100)
    a = next(iterate_minibatches(ds, 16, torch.Generator().manual_seed(3)))
    b = next(iterate_minibatches(ds, 16, torch.Generator().manual_seed(3)))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].shape == (16, 2)


# ---------------------------------------------------------------------------------------------
# Registry and resources


def test_get_dataset_specs_and_menu_choices():
    for choice in DATASET_CHOICES:
        kwargs = {"limit": 10} if choice.spec == "fashion_mnist" else {"n": 10}
        ds = get_dataset(choice.spec, **kwargs)
        assert len(ds) == 10 and choice.label
        assert isinstance(ds, data.PointDataset if choice.kind == "points" else data.ImageDataset)
    assert get_dataset("word:hello", n=20).points.shape == (20, 2)
    with pytest.raises(ValueError, match="Unknown dataset"):
        get_dataset("cifar10")


def test_resources_dir_in_a_frozen_app(monkeypatch, tmp_path):
    monkeypatch.delenv(resources.RESOURCES_ENV_VAR, raising=False)
    assert (resources.resources_dir() / "fashion_mnist" / "LICENSE").is_file()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resource_path("fashion_mnist", "x.gz") == tmp_path / "resources" / "fashion_mnist" / "x.gz"
    monkeypatch.setenv(resources.RESOURCES_ENV_VAR, str(tmp_path / "elsewhere"))
    assert resources.resources_dir() == tmp_path / "elsewhere"


# ---------------------------------------------------------------------------------------------
# Drawings saved as JSON files (the ``drawing:<path>`` spec a training run stores)


def test_a_saved_drawing_loads_back_exactly_and_trains_from_its_spec(tmp_path):
    import json  # (this section was appended to the file; its imports stay with it)

    strokes = [np.array([[0.1, -0.2], [0.5, 0.5], [1.0 / 3.0, 0.9]]), np.array([[-0.7, -0.7], [-0.1, 0.2]])]
    path = data.save_drawing(tmp_path / "sub" / "star.json", strokes + [np.zeros((0, 2))])
    assert path.is_file() and not list(path.parent.glob(".*.tmp"))  # folder created, no temporary left
    document = json.loads(path.read_text())
    assert document["format"] == "diffusion-lab-drawing" and document["version"] == 1
    loaded = data.load_drawing(path)
    assert len(loaded) == 2  # the empty stroke was dropped
    assert all(np.array_equal(a, b) and a.dtype == np.float64 for a, b in zip(loaded, strokes, strict=True))

    ds = get_dataset(f"drawing:{path}", n=300, seed=4)
    assert ds.points.shape == (300, 2) and ds.name == "drawing:star.json"
    # Same points as building the dataset from the strokes in memory: the file adds nothing, loses nothing.
    assert torch.equal(ds.points, points_from_drawing(strokes, 300, seed=4).points)
    assert torch.equal(get_dataset("drawing", xy=strokes, n=50).points, points_from_drawing(strokes, 50).points)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "cannot be read"),
        (b'{"format": "something-else", "strokes": []}', "not a drawing file"),
        (b'{"format": "diffusion-lab-drawing", "version": 99, "strokes": [[[0, 0], [1, 1]]]}', "version 99"),
        (b'{"format": "diffusion-lab-drawing", "version": 1}', 'no "strokes" list'),
        (b'{"format": "diffusion-lab-drawing", "version": 1, "strokes": [[[0, 0, 1]]]}', "stroke 1"),
        (b'{"format": "diffusion-lab-drawing", "version": 1, "strokes": [[[0, 0]], [["a", {}]]]}', "stroke 2"),
        (b'{"format": "diffusion-lab-drawing", "version": 1, "strokes": [[[0, NaN]]]}', "not finite"),
        (b'{"format": "diffusion-lab-drawing", "version": 1, "strokes": [[], []]}', "empty"),
        (b"", "not valid JSON"),
    ],
)
def test_a_bad_drawing_file_names_itself_and_the_problem(tmp_path, content, reason):
    path = tmp_path / "bad-drawing.json"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=reason) as error:
        data.load_drawing(path)
    assert str(path) in str(error.value)
    with pytest.raises(ValueError, match="bad-drawing.json"):
        get_dataset(f"drawing:{path}", n=10)


def test_a_missing_or_unusable_drawing_is_a_clear_value_error(tmp_path):
    with pytest.raises(DatasetError, match="no such drawing file") as error:
        get_dataset(f"drawing:{tmp_path / 'gone.json'}")
    assert "gone.json" in str(error.value)
    with pytest.raises(PointCloudError, match="no points"):
        data.save_drawing(tmp_path / "empty.json", [])
    dot = data.save_drawing(tmp_path / "dot.json", [np.array([[0.2, 0.2]])])
    with pytest.raises(PointCloudError, match="single dot"):
        get_dataset(f"drawing:{dot}", n=10)
    with pytest.raises(ValueError, match=r"drawing:<file.json>"):
        get_dataset("drawings:x")
