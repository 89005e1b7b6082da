"""Text-to-image: captions from the shapes' parameters, the tokeniser, cross-attention, the model file and its API."""

from __future__ import annotations

import random
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
from test_checkpoints import MUTATIONS  # the corruption fuzz every checkpoint format faces

from core.data.captions import CAPTION_WORDS, caption_attributes, make_captions, size_word, write_caption
from core.data.shapes import SHAPE_COLORS, SHAPE_NAMES, draw_shape_parameters, make_shapes, render_shapes
from core.diffusion.text_to_image import TextToImageResult, TextToImageStep
from core.io import CheckpointError
from core.io.text_to_image_file import load_text_to_image, make_tiny_text_to_image, read_text_to_image_metadata
from core.models.text_unet import CrossAttention, PromptDenoiser, TextUNet, TextUNetConfig
from core.text import START, PromptError, TextEncoder, TextEncoderConfig, Vocabulary

# --- captions -----------------------------------------------------------------------------------


def test_make_shapes_draws_exactly_the_parameters_it_exposes():
    data = make_shapes(64, seed=5, label_by="color")
    params = draw_shape_parameters(64, seed=5)
    assert torch.equal(render_shapes(params), data.images)
    assert np.array_equal(params.color, data.labels.numpy())
    assert np.array_equal(params.kind, make_shapes(64, seed=5).labels.numpy())


def test_full_captions_say_what_each_image_shows():
    params = draw_shape_parameters(300, seed=2)
    images = render_shapes(params)
    captions = make_captions(params, omit=0.0)
    palette = {name: np.array(rgb) * 2 / 255 - 1 for name, rgb in SHAPE_COLORS.items()}
    for i, caption in enumerate(captions):
        words = caption.split()
        shape = next(w for w in words if w in SHAPE_NAMES)
        colour = next(w for w in words if w in SHAPE_COLORS)
        assert shape == SHAPE_NAMES[params.kind[i]]
        # the pixel at the shape's centre has the caption's colour (every shape covers its centre)
        cx, cy = int(params.cx[i]), int(params.cy[i])
        assert np.allclose(images[i, :, cy, cx].numpy(), palette[colour], atol=1e-5)
        # "left" only when the centre is in the left third, "top" only in the top third
        assert ("left" in words) == (params.cx[i] < 32 / 3)
        assert ("bottom" in words) == (params.cy[i] >= 64 / 3)
        assert ("centre" in words) == (32 / 3 <= params.cx[i] < 64 / 3 and 32 / 3 <= params.cy[i] < 64 / 3)
        assert set(words) <= set(CAPTION_WORDS)


def test_size_words_split_the_radius_range_in_thirds():
    assert [size_word(r, 32) for r in (6.5, 8.0, 9.0, 10.0, 12.7)] == ["small", "small", "medium", "medium", "large"]


def test_captions_leave_attributes_out_at_the_asked_rate():
    params = draw_shape_parameters(2000, seed=0)
    captions = make_captions(params, omit=0.3, seed=1)
    has_colour = np.mean([any(w in SHAPE_COLORS for w in c.split()) for c in captions])
    has_shape = np.mean([any(w in SHAPE_NAMES for w in c.split()) for c in captions])
    assert 0.65 < has_colour < 0.75 and 0.65 < has_shape < 0.75
    assert captions == make_captions(params, omit=0.3, seed=1)
    empty = sum(c == "" for c in captions) / len(captions)
    assert 0.3**4 * 0.5 < empty < 0.3**4 * 2  # all four dropped: the empty prompt ("no text")


def test_a_caption_with_nothing_left_is_the_empty_prompt():
    attrs = caption_attributes(draw_shape_parameters(1, seed=0), 0)
    assert write_caption(attrs, shape=False, color=False, size=False, place=False) == ""
    assert write_caption(attrs, size=False, place=False) == f"a {attrs.color} {attrs.shape}"


# --- tokeniser ----------------------------------------------------------------------------------


def test_encoding_pads_and_masks_and_starts_with_the_start_token():
    vocab = Vocabulary(CAPTION_WORDS, max_tokens=6)
    encoded = vocab.encode(["A red circle.", ""], allow_empty=True)
    assert encoded.tokens == [[START, "a", "red", "circle"], [START]]
    assert encoded.mask.tolist() == [[True] * 4 + [False] * 2, [True] + [False] * 5]
    assert encoded.ids[0, :4].tolist() == [1, vocab.index["a"], vocab.index["red"], vocab.index["circle"]]
    assert (encoded.ids[~encoded.mask] == 0).all()


def test_unknown_words_are_named_and_the_vocabulary_listed():
    vocab = Vocabulary(CAPTION_WORDS)
    with pytest.raises(PromptError, match="'purple', 'elephant'") as e:
        vocab.check("a purple elephant at the top")
    assert "magenta" in str(e.value) and "triangle" in str(e.value)
    with pytest.raises(PromptError, match="empty"):
        vocab.check("  ,. ")
    with pytest.raises(PromptError, match="at most"):
        vocab.check("a " * 12)
    with pytest.raises(PromptError, match="pad"):
        vocab.check("a <pad> circle")
    assert isinstance(PromptError("x"), ValueError)


# --- cross-attention ----------------------------------------------------------------------------


def test_attention_maps_are_distributions_over_the_real_tokens_and_recording_changes_nothing():
    torch.manual_seed(0)
    vocab = Vocabulary(CAPTION_WORDS)
    unet = TextUNet(TextUNetConfig(base_channels=16, context_width=16, attention_head_channels=8, num_groups=4))
    for p in unet.parameters():
        torch.nn.init.normal_(p, std=0.1)
    encoder = TextEncoder(TextEncoderConfig(vocab_size=len(vocab), width=16, heads=2))
    prompts = vocab.encode(["a red circle", "a large blue square at the top left"])
    context = encoder.encode(prompts)
    x, t = torch.randn(2, 4, 8, 8), torch.tensor([10, 900])
    plain = unet(x, t, context, prompts.mask)
    with unet.recording_attention():
        recorded = unet(x, t, context, prompts.mask)
        layers = unet.cross_attentions()
        maps = unet.attention_maps()
    assert torch.allclose(plain, recorded, atol=1e-5)
    assert len(layers) == 7 and all(m.last_maps is not None for m in layers.values())
    assert {tuple(m.last_maps.shape[-2:]) for m in layers.values()} == {(8, 8), (4, 4)}
    assert maps.shape == (2, vocab.max_tokens, 8, 8)
    assert torch.allclose(maps.sum(dim=1), torch.ones(2, 8, 8), atol=1e-5)
    assert maps[0, 4:].abs().max() == 0 and maps[0, :4].min() > 0  # padding gets nothing, real tokens something
    assert not any(m.record for m in layers.values())  # recording ends with the block


def test_cross_attention_is_softmax_of_queries_against_token_keys():
    """An independent oracle: one head, identity-like projections, maps = softmax(q·k/√d) over the tokens."""
    torch.manual_seed(1)
    layer = CrossAttention(channels=4, context_width=4, head_channels=4, groups=1)
    layer.record = True
    x, context = torch.randn(1, 4, 2, 2), torch.randn(1, 3, 4)
    mask = torch.tensor([[True, True, False]])
    layer(x, context, mask)
    q = layer.to_q(layer.norm(x)).reshape(4, 4).T  # (positions, d)
    k = layer.to_kv(context)[0, :, :4]  # (tokens, d)
    scores = q @ k.T / 2.0
    scores[:, 2] = float("-inf")
    expected = scores.softmax(dim=-1).T.reshape(3, 2, 2)
    assert torch.allclose(layer.last_maps[0], expected, atol=1e-6)


def test_prompt_denoiser_maps_labels_to_prompts_and_the_last_label_to_no_text():
    torch.manual_seed(2)
    unet = TextUNet(TextUNetConfig(base_channels=8, context_width=8, attention_head_channels=8, num_groups=4))
    for p in unet.parameters():
        torch.nn.init.normal_(p, std=0.1)
    context, mask = torch.randn(3, 5, 8), torch.ones(3, 5, dtype=torch.bool)
    denoiser = PromptDenoiser(unet, context, mask)
    assert denoiser.num_classes == 2 and denoiser.prediction_type == "v"
    x = torch.randn(2, 4, 8, 8)
    out = denoiser(x, torch.tensor([5, 5]), torch.tensor([1, 2]))
    assert torch.allclose(out, unet(x, 5, context[[1, 2]], mask[[1, 2]]))
    assert torch.allclose(denoiser(x, 5, None), unet(x, 5, context[[2, 2]], mask[[2, 2]]))


# --- the model file and the high-level API --------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_text_to_image(tmp_path_factory.mktemp("tti"))


def test_trace_yields_each_step_decoded_with_attention_then_the_images(tiny):
    model = load_text_to_image(tiny)
    prompts = ["a red circle", "a large blue square at the bottom right"]
    events = list(model.trace(prompts, steps=4, guidance_scale=3.0, seed=7))
    steps, result = events[:-1], events[-1]
    assert [type(e) for e in steps] == [TextToImageStep] * 4 and isinstance(result, TextToImageResult)
    assert [s.index for s in steps] == [0, 1, 2, 3] and steps[0].t > steps[-1].t
    assert steps[0].z_t.shape == (2, 4, 8, 8) and steps[0].decoded_x0.shape == (2, 3, 32, 32)
    assert steps[0].attention.shape == (2, model.vocabulary.max_tokens, 8, 8)
    assert torch.allclose(steps[0].attention.sum(dim=1), torch.ones(2, 8, 8), atol=1e-5)
    assert steps[0].attention[0, 4:].abs().max() == 0  # "a red circle" has 4 tokens with <start>
    assert result.images.shape == (2, 3, 32, 32)
    again = list(model.trace(prompts, steps=4, guidance_scale=3.0, seed=7, record_attention=False))
    assert again[0].attention is None and torch.allclose(
        again[-1].images, result.images, atol=1e-5
    )  # seeded; recording is free
    other = model.generate(["a green triangle", prompts[1]], steps=4, guidance_scale=3.0, seed=7)
    assert not torch.allclose(other[0], result.images[0]) and torch.allclose(other[1], result.images[1], atol=1e-5)


def test_trace_refuses_bad_prompts_before_any_work(tiny):
    model = load_text_to_image(tiny)
    with pytest.raises(PromptError, match="'dog'"):
        next(model.trace(["a red circle", "a dog"], steps=3))
    with pytest.raises(PromptError, match="empty"):
        next(model.trace([""], steps=3))
    with pytest.raises(ValueError, match="steps"):
        next(model.trace(["a red circle"], steps=0))


def test_the_autoencoder_is_found_by_hash_and_its_absence_explained(tiny, tmp_path):
    info = read_text_to_image_metadata(tiny)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(tiny, alone / "model.safetensors")
    with pytest.raises(CheckpointError, match="works only with the autoencoder") as e:
        load_text_to_image(alone / "model.safetensors")
    assert info["latent_diffusion"]["autoencoder_sha256"][:12] in str(e.value)
    shutil.copy(tiny.parent / "tiny_autoencoder.safetensors", tmp_path / "renamed.safetensors")
    model = load_text_to_image(alone / "model.safetensors", search_dirs=[tmp_path])
    assert model.autoencoder_path.name == "renamed.safetensors"


def test_a_different_autoencoder_is_refused(tiny, tmp_path):
    from core.io.autoencoder_file import save_autoencoder
    from core.models.autoencoder import Autoencoder, AutoencoderConfig

    shutil.copy(tiny, tmp_path / "model.safetensors")
    other = Autoencoder(AutoencoderConfig(in_channels=3, image_size=32, channels=(8, 8, 8), num_groups=4))
    save_autoencoder(tmp_path / "tiny_autoencoder.safetensors", other)  # same name, other weights
    with pytest.raises(CheckpointError, match="content hash"):
        load_text_to_image(tmp_path / "model.safetensors")


def test_corruption_fuzz_never_crashes_or_loads_other_weights(tiny, tmp_path):
    """220 seeded damaged copies: each loads the same model or raises CheckpointError naming the file."""
    valid = tiny.read_bytes()
    shutil.copy(tiny.parent / "tiny_autoencoder.safetensors", tmp_path)
    reference = load_text_to_image(tiny)
    probe = (torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([500]))

    def output(model):
        return model.denoiser(["a red circle"])(*probe, torch.tensor([0]))

    expected = output(reference)
    path = tmp_path / "fuzz.safetensors"
    outcomes: Counter = Counter()
    for seed in range(220):
        rng = random.Random(seed)
        mutation = MUTATIONS[seed % len(MUTATIONS)]
        data = mutation(valid, rng)
        if data == valid:
            continue
        path.write_bytes(data)
        try:
            model = load_text_to_image(path)
        except CheckpointError as e:
            assert "fuzz.safetensors" in str(e)
            outcomes["error"] += 1
            continue
        except Exception as e:  # noqa: BLE001 - report which mutation let another error escape
            raise AssertionError(f"seed {seed} ({mutation.__name__}) raised {type(e).__name__}: {e}") from e
        assert torch.equal(output(model), expected), f"seed {seed} ({mutation.__name__}) changed the model"
        outcomes["loaded"] += 1
    assert outcomes["error"] > 175, outcomes


# --- the judge: shape/colour classifier and prompt accuracy ----------------------------------------


def test_prompt_targets_read_the_shape_and_colour_words():
    from core.evaluation.prompt_accuracy import evaluation_prompts, prompt_targets

    assert prompt_targets("a small Red circle at the top left") == (0, 0)
    assert prompt_targets("a large cyan shape") == (None, 5)
    assert prompt_targets("a diamond in the centre") == (4, None)
    pairs = {prompt_targets(p) for p in evaluation_prompts()}
    assert len(pairs) == 30 and all(None not in pair for pair in pairs)


def test_classifier_file_round_trips_and_refuses_other_files(tiny, tmp_path):
    from core.io.attribute_classifier_file import load_attribute_classifier, save_attribute_classifier
    from core.models.attribute_classifier import AttributeClassifier

    torch.manual_seed(0)
    model = AttributeClassifier().eval()
    path = save_attribute_classifier(tmp_path / "judge.safetensors", model, {"test_shape_accuracy": 0.5})
    loaded, info = load_attribute_classifier(path)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    assert all(torch.equal(a, b) for a, b in zip(model(x), loaded(x), strict=True))
    assert info["test_shape_accuracy"] == 0.5
    with pytest.raises(CheckpointError, match="not a shape/colour classifier"):
        load_attribute_classifier(tiny)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        load_attribute_classifier(tmp_path / "bad.safetensors")


# --- training, and the shipped model judged by the shipped classifier -------------------------------


def test_a_tiny_joint_run_lowers_the_loss_and_saves_a_model_that_listens_to_prompts(tiny, tmp_path):
    from core.training.events import StepEvent
    from core.training.text_to_image import TextToImageConfig, TextToImageFinished, train_text_to_image

    config = TextToImageConfig(
        num_images=256,
        steps=60,
        batch_size=32,
        learning_rate=3e-3,
        warmup_steps=5,
        log_every=10,
        unet={"base_channels": 8, "attention_head_channels": 8, "num_groups": 4},
        text_encoder={"width": 16, "heads": 2},
    )
    autoencoder = tiny.parent / "tiny_autoencoder.safetensors"
    events = list(train_text_to_image(config, autoencoder, checkpoint_path=tmp_path / "t2i.safetensors"))
    losses = [e.loss for e in events if isinstance(e, StepEvent)]
    finished = events[-1]
    assert isinstance(finished, TextToImageFinished) and finished.step == 60 and len(losses) == 6
    assert losses[-1] < 0.8 * losses[0], losses
    model = load_text_to_image(finished.checkpoint_path, search_dirs=[tiny.parent])
    assert model.metadata["step"] == 60 and model.metadata["train_config"]["p_uncond"] == 0.1
    red, blue = model.generate(["a red circle"], 5, 3.0, 1), model.generate(["a blue square"], 5, 3.0, 1)
    assert (red - blue).abs().mean() > 1e-4  # same noise, other words: the text reaches the image


def test_shipped_model_draws_the_shape_and_colour_its_prompt_asks_for():
    """Quality gate: the 30 "a {colour} {shape}" prompts, 12 DDIM steps, judged by the shipped classifier.

    Guided (w = 3) the samples must match their prompts; with w = 0 (the empty prompt only) the same
    judge must find about chance (1/5, 1/6), so the gate measures the text, not a lenient judge.
    """
    from core.evaluation.prompt_accuracy import prompt_accuracy
    from core.io.attribute_classifier_file import load_attribute_classifier
    from core.runtime import resource_path

    folder = resource_path("models") / "latent"
    model = load_text_to_image(folder / "shapes_text_unet.safetensors")
    classifier, _ = load_attribute_classifier(folder / "shapes_attribute_classifier.safetensors")
    guided = prompt_accuracy(model, None, classifier, steps=12, guidance_scale=3.0, seed=0)
    assert guided.num_shape_images == 30 and guided.num_color_images == 30
    assert guided.shape_accuracy >= 0.9 and guided.color_accuracy >= 0.9, guided  # measured: 1.0 and 1.0
    unguided = prompt_accuracy(model, None, classifier, steps=12, guidance_scale=0.0, seed=0)
    assert unguided.shape_accuracy <= 0.5 and unguided.color_accuracy <= 0.5, unguided  # measured: 0.13, 0.10
