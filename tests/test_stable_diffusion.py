"""Stable Diffusion from a folder (the optional [sd] extra), offline, with a tiny random pipeline.

The test builds a randomly initialised Stable Diffusion pipeline of a few thousand parameters,
saves it to a folder in diffusers' layout, and loads it back through ``core.models.stable_diffusion``.
The project's DDIM with classifier-free guidance around ``SDDenoiser`` must reproduce diffusers' own
pipeline from the same latents (an independent oracle); broken folders and a missing extra must be
explained in words.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

from core.diffusion import ClassifierFreeGuidance  # noqa: E402
from core.diffusion.samplers import sample_ddim  # noqa: E402
from core.models import stable_diffusion as sd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _tokenizer(folder: Path):
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in letters:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    torch.manual_seed(0)
    base = tmp_path_factory.mktemp("sd")
    unet = diffusers.UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=8,
    )
    encoder = transformers.CLIPTextModel(
        transformers.CLIPTextConfig(
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=60,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    scheduler = diffusers.DDIMScheduler(
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=1,
        timestep_spacing="trailing",
    )
    pipeline = diffusers.StableDiffusionPipeline(
        vae=vae,
        text_encoder=encoder.eval(),
        tokenizer=_tokenizer(base / "tok"),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    folder = base / "tiny-sd"
    pipeline.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_the_app_samplers_with_guidance_reproduce_the_diffusers_pipeline(tiny_folder):
    pipeline = sd.load_sd_pipeline(tiny_folder)
    schedule = sd.schedule_of(pipeline)
    assert schedule.num_timesteps == 1000
    prompts = sd.encode_prompts(pipeline, ["a cat"])
    model = sd.SDDenoiser(pipeline, prompts)
    assert model.prediction_type == "eps" and model.num_classes == 1
    x_T = torch.randn((1, *sd.latent_shape(pipeline, 16, 16)), generator=torch.Generator().manual_seed(1))
    ours = sample_ddim(
        ClassifierFreeGuidance(model, 3.0),
        x_T,
        schedule,
        4,
        cond={"class_labels": torch.tensor([0])},
        spacing="trailing",
    )
    theirs = pipeline("a cat", num_inference_steps=4, guidance_scale=3.0, latents=x_T.clone(), output_type="latent")
    torch.testing.assert_close(ours.float(), theirs.images.float(), rtol=1e-3, atol=1e-4)
    images = sd.decode_latents(pipeline, ours)
    assert images.shape == (1, 3, 16, 16) and float(images.abs().max()) <= 1


def test_a_malformed_folder_is_explained(tiny_folder, tmp_path):
    with pytest.raises(sd.StableDiffusionError, match="no model_index.json"):
        sd.check_sd_folder(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text((tiny_folder / "model_index.json").read_text())
    with pytest.raises(sd.StableDiffusionError, match="unet/config.json is missing"):
        sd.load_sd_pipeline(broken)
    (broken / "model_index.json").write_text("{not json")
    with pytest.raises(sd.StableDiffusionError, match="could not be read as JSON"):
        sd.check_sd_folder(broken)


def test_without_the_extra_loading_says_how_to_install_it(tiny_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers now raises ImportError
    with pytest.raises(sd.StableDiffusionError, match=r"diffusion-lab\[sd\]"):
        sd.load_sd_pipeline(tiny_folder)


def test_the_core_and_the_app_never_import_diffusers():
    code = (
        "import sys, core, core.models, core.cli, core.training, desktop_app.app\n"
        "import core.models.stable_diffusion\n"
        "bad = sorted(m for m in ('diffusers', 'transformers') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
