"""The command line: info, sample to .npz/.png (checked against the samplers called directly), train,
Ctrl-C, and one clear line with exit status 2 for every bad input."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.cli import main, parse_classes
from core.data import to_uint8
from core.diffusion import ClassifierFreeGuidance, make_schedule, sample_ddim
from core.io import load_denoiser, read_metadata, save_checkpoint
from core.models import build_denoiser

REPO = Path(__file__).resolve().parent.parent
TINY_UNET = {
    "arch": "unet",
    "in_channels": 1,
    "image_size": 8,
    "base_channels": 8,
    "channel_mult": [1, 2],
    "num_res_blocks": 1,
    "attention_resolutions": [],
    "num_groups": 4,
    "attention_head_channels": 8,
}


def _perturbed(model):
    with torch.no_grad():  # the U-Net starts with zeroed output layers; give it a non-trivial function
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def image_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = _perturbed(build_denoiser({**TINY_UNET, "num_classes": 3}))
    return save_checkpoint(
        tmp_path_factory.mktemp("ck") / "unet.safetensors",
        model,
        schedule=make_schedule("cosine", 50),
        metadata={"dataset": "test", "class_names": ["tee", "bag", "boot"], "step": 12, "image_shape": [1, 8, 8]},
    )


@pytest.fixture(scope="module")
def points_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    model = build_denoiser({"arch": "mlp", "hidden_dim": 16, "num_blocks": 1, "time_embed_dim": 8})
    return save_checkpoint(
        tmp_path_factory.mktemp("ck") / "mlp.safetensors",
        model,
        schedule=make_schedule("linear", 100),
        metadata={"dataset": "toy:swiss_roll"},
    )


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- info ----------------------------------------------------------------------------------------


def test_info_prints_parameters_schedule_and_classes(capsys, image_ckpt):
    code, out, err = run(capsys, "info", image_ckpt)
    assert code == 0, err
    n_params = sum(p.numel() for p in load_denoiser(image_ckpt).model.parameters())
    assert f"{n_params:,} parameters" in out
    assert "cosine (T=50)" in out
    assert "3: tee, bag, boot" in out
    assert "grayscale images 8×8" in out
    assert "12 steps" in out
    assert "no (sampling weights only)" in out


def test_info_json_is_the_stored_metadata(capsys, points_ckpt):
    code, out, _ = run(capsys, "info", points_ckpt, "--json")
    assert code == 0
    assert json.loads(out) == read_metadata(points_ckpt)


# --- sample --------------------------------------------------------------------------------------


def test_sample_writes_npz_equal_to_calling_the_sampler_directly(capsys, tmp_path, image_ckpt):
    npz, png = tmp_path / "s.npz", tmp_path / "grid.png"
    code, _, err = run(
        capsys,
        "sample",
        image_ckpt,
        "-n",
        7,
        "--steps",
        4,
        "--seed",
        3,
        "--class",
        "bag,0",
        "--guidance",
        1.5,
        "-o",
        npz,
        "-o",
        png,
        "--scale",
        3,
        "--device",
        "cpu",
    )
    assert code == 0, err
    data = np.load(npz)
    assert data["images"].dtype == np.uint8 and data["images"].shape == (7, 8, 8)
    assert data["labels"].tolist() == [1, 0, 1, 0, 1, 0, 1]

    # The same samples, drawn without the CLI: noise from seed 3, sampler noise from seed 4, CFG 1.5.
    ck = load_denoiser(image_ckpt)
    x_T = torch.randn((7, 1, 8, 8), generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([1, 0, 1, 0, 1, 0, 1])
    x = sample_ddim(
        ClassifierFreeGuidance(ck.model, 1.5),
        x_T,
        ck.schedule,
        4,
        cond={"class_labels": labels},
        clip_x0="clip",
        generator=torch.Generator().manual_seed(4),
    )
    np.testing.assert_array_equal(data["images"], to_uint8(x))
    assert data["images"].std() > 0  # not a blank batch

    grid = np.asarray(Image.open(png))
    # two classes per row → 4 rows × 2 columns of 8-pixel images with 2-pixel gaps, enlarged 3×
    assert grid.shape == (3 * (4 * 10 + 2), 3 * (2 * 10 + 2))
    np.testing.assert_array_equal(grid[3 * 2 : 3 * 10 : 3, 3 * 2 : 3 * 10 : 3], data["images"][0])


def test_sample_is_reproducible_and_seed_dependent(capsys, tmp_path, image_ckpt):
    paths = [tmp_path / f"{i}.npz" for i in range(3)]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        assert run(capsys, "sample", image_ckpt, "-n", 2, "--steps", 3, "--seed", seed, "-o", path)[0] == 0
    a, b, c = (np.load(p)["images"] for p in paths)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_points_writes_npz_and_scatter_png(capsys, tmp_path, points_ckpt):
    npz, png = tmp_path / "p.npz", tmp_path / "p.png"
    code, _, err = run(
        capsys, "sample", points_ckpt, "-n", 50, "--sampler", "euler", "--steps", 5, "-o", npz, "-o", png
    )
    assert code == 0, err
    data = np.load(npz)
    assert data["points"].shape == (50, 2) and data["points"].dtype == np.float32
    assert "labels" not in data
    assert np.isfinite(data["points"]).all()
    picture = np.asarray(Image.open(png))
    assert picture.shape == (512, 512, 3)
    assert (picture != 255).any(axis=-1).sum() > 50  # points were drawn


def test_parse_classes_accepts_names_numbers_all_and_none():
    names = ["T-shirt", "Bag", "Boot"]
    assert parse_classes(None, names, 3) == [0, 1, 2]
    assert parse_classes("bag, 2", names, 3) == [1, 2]
    assert parse_classes("none", names, 3) is None
    assert parse_classes(None, [], 0) is None
    with pytest.raises(ValueError, match="Unknown class 'shoe'"):
        parse_classes("shoe", names, 3)
    with pytest.raises(ValueError, match="without classes"):
        parse_classes("1", [], 0)


# --- errors: one line on stderr, exit status 2 ---------------------------------------------------


@pytest.mark.parametrize(
    "case", ["garbage", "missing", "folder", "bad class", "guidance without classes", "bad output", "eta for euler"]
)
def test_bad_input_prints_one_clear_line_and_exits_2(capsys, tmp_path, image_ckpt, points_ckpt, case):
    garbage = tmp_path / "broken.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    argv, words = {
        "garbage": (["info", garbage], "broken.safetensors"),
        "missing": (["sample", tmp_path / "nope.safetensors"], "does not exist"),
        "folder": (["info", tmp_path], "folder"),
        "bad class": (["sample", image_ckpt, "--class", "sock", "-o", tmp_path / "x.npz"], "Unknown class 'sock'"),
        "guidance without classes": (
            ["sample", points_ckpt, "--guidance", "3", "-o", tmp_path / "x.npz"],
            "class-conditional",
        ),
        "bad output": (["sample", points_ckpt, "-o", tmp_path / "x.jpg"], ".png"),
        "eta for euler": (
            ["sample", points_ckpt, "--sampler", "euler", "--eta", "0.5", "-o", tmp_path / "x.npz"],
            "ddim",
        ),
    }[case]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert words in err
    assert "Traceback" not in err and out == ""


# --- train ---------------------------------------------------------------------------------------

TRAIN_ARGS = [
    "--steps",
    "6",
    "--batch",
    "16",
    "-T",
    "50",
    "--seed",
    "1",
    "--threads",
    "1",
    "--device",
    "cpu",
    "--dataset-option",
    "n=256",
    "--model-option",
    "hidden_dim=16",
    "--model-option",
    "num_blocks=1",
    "--model-option",
    "time_embed_dim=8",
    "--checkpoint-every",
    "3",
]


def test_train_saves_a_checkpoint_that_sample_and_info_accept(capsys, tmp_path):
    out = tmp_path / "moons.safetensors"
    code, stdout, err = run(capsys, "train", "toy:two_moons", *TRAIN_ARGS, "--out", out)
    assert code == 0, err
    assert "Finished at step 6" in stdout and str(out) in stdout
    assert "step 6/6" in err and "Saved a checkpoint at step 3" in err
    meta = read_metadata(out)
    assert meta["step"] == 6 and meta["schedule"]["num_timesteps"] == 50
    assert meta["recipe"].startswith("diffusion-lab train toy:two_moons --steps 6")
    assert load_denoiser(out).num_classes == 2  # two moons are labelled: conditional by default

    code, _, err = run(capsys, "sample", out, "-n", 8, "--steps", 3, "-o", tmp_path / "m.npz")
    assert code == 0, err
    assert np.load(tmp_path / "m.npz")["labels"].tolist() == [0, 1] * 4

    # Resuming continues the same run up to the new total.
    code, stdout, err = run(capsys, "train", "--resume", out, "--steps", "8", "--threads", "1")
    assert code == 0, err
    assert "resuming at step 6" in err and "Finished at step 8" in stdout
    assert read_metadata(out)["step"] == 8


def test_train_with_an_unknown_dataset_exits_2(capsys, tmp_path):
    code, out, err = run(capsys, "train", "toy:no_such_toy", "--steps", "2", "--out", tmp_path / "x.safetensors")
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs SIGINT")
def test_ctrl_c_stops_training_after_the_step_and_saves(capsys, tmp_path, monkeypatch):
    import core.training

    real_train = core.training.train

    def train_and_press_ctrl_c(*args, **kwargs):
        for event in real_train(*args, **kwargs):
            yield event
            if isinstance(event, core.training.StepEvent) and event.step == 2:
                os.kill(os.getpid(), signal.SIGINT)  # delivered to the CLI's handler in this (main) thread

    monkeypatch.setattr(core.training, "train", train_and_press_ctrl_c)
    out = tmp_path / "stopped.safetensors"
    args = list(TRAIN_ARGS)
    args[args.index("--steps") + 1] = "1000"
    before = signal.getsignal(signal.SIGINT)
    code, stdout, err = run(capsys, "train", "toy:two_moons", *args, "--out", out)
    assert code == 0, err
    assert "Stopping after this step" in err
    assert "Stopped at step" in stdout
    step = read_metadata(out)["step"]
    assert 2 <= step <= 3
    assert load_denoiser(out).resumable
    assert signal.getsignal(signal.SIGINT) is before  # the CLI puts the previous handler back
