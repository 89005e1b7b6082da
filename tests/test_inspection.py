"""core.models.inspection: the blocks the teacher's diagram draws, their shapes and live activations,
checked against a forward pass stepped through by hand (an oracle independent of the hooks)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from core.models import MLPConfig, MLPDenoiser, UNet, preset_config, timestep_embedding
from core.models.inspection import network_blocks, record_activations, trace_shapes


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    model = UNet(preset_config("tiny", num_classes=3))
    for p in model.parameters():  # zero-initialised convs would make many activations trivially 0
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def _manual_forward(model: UNet, x, t, labels):
    """The U-Net's forward written out stage by stage: {block name: output}."""
    emb = model.time_embed(timestep_embedding(t, model.config.base_channels))
    emb = F.silu(emb + model.class_embed(labels))
    out = {"input_conv": model.input_conv(x)}
    h, skips = out["input_conv"], [out["input_conv"]]
    for i, stage in enumerate(model.down):
        h = out[f"down.{i}"] = stage(h, emb)
        skips.append(h)
    for i, stage in enumerate(model.mid):
        h = out[f"mid.{i}"] = stage(h, emb)
    for i, stage in enumerate(model.up):
        h = out[f"up.{i}"] = stage(torch.cat([h, skips.pop()], dim=1), emb)
    out["out_conv"] = model.out_conv(F.silu(model.out_norm(h)))
    return out


def test_blocks_follow_the_unet_structure(unet):
    blocks = network_blocks(unet)
    names = [b.name for b in blocks]
    assert names[:3] == ["time_embed", "class_embed", "input_conv"]
    assert names[-1] == "out_conv"
    assert sum(b.part == "encoder" for b in blocks) == len(unet.down)
    assert sum(b.part == "decoder" for b in blocks) == len(unet.up)
    assert sum(b.part == "bottleneck" for b in blocks) == 2
    # every encoder output (and the input conv) is a skip: the decoder takes exactly one per stage
    assert sum(b.skip for b in blocks) == len(unet.up)
    assert sum(b.parameters for b in blocks) == sum(p.numel() for p in unet.parameters())
    assert "downsample" in blocks[names.index("down.1")].label  # tiny: one ResBlock per level, then a downsample
    assert "attention" in blocks[names.index("down.2")].label  # 16×16 has attention in the tiny preset


@pytest.mark.parametrize("side", [32, 16])
def test_traced_shapes_match_a_real_forward_pass(unet, side):
    x = torch.randn(2, 1, side, side, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([10, 900])
    labels = torch.tensor([0, 3])
    with torch.no_grad():
        expected = _manual_forward(unet, x, t, labels)
    shapes = trace_shapes(unet, (1, side, side), batch=2)
    for name, value in expected.items():
        assert shapes[name].output == tuple(value.shape), name
    assert shapes["input_conv"].inputs == ((2, 1, side, side),)
    assert shapes["down.1"].output == (2, 16, side // 2, side // 2)  # the first downsample halves the side
    assert shapes["mid.0"].output[-1] == side // 8  # four levels: 32 → 16 → 8 → 4
    assert shapes["up.0"].inputs[0][1] == shapes["mid.1"].output[1] + shapes["down.5"].output[1]  # skip concatenated
    assert shapes["out_conv"].output == (2, 1, side, side)


def test_activations_are_the_real_intermediate_tensors(unet):
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([500, 500])
    labels = torch.tensor([1, 2])
    with torch.no_grad():
        expected = _manual_forward(unet, x, t, labels)
        direct = unet(x, t, labels)
    recorded = record_activations(unet, x, t, labels)
    torch.testing.assert_close(recorded.prediction, direct)
    for name in ("input_conv", "down.3", "mid.1", "up.2", "out_conv"):
        torch.testing.assert_close(recorded.outputs[name], expected[name], rtol=1e-5, atol=1e-6)
    assert recorded.outputs["mid.0"].abs().mean() > 0  # the weights are not zero: a real signal
    # an int t is broadcast over the batch, like the samplers' calls
    again = record_activations(unet, x, 500, labels, names=["up.2"])
    assert list(again.outputs) == ["up.2"]
    torch.testing.assert_close(again.outputs["up.2"], expected["up.2"], rtol=1e-5, atol=1e-6)


def test_hooks_are_removed_even_when_the_forward_fails(unet):
    with pytest.raises(ValueError, match="multiples of 8"):
        trace_shapes(unet, (1, 20, 20))
    assert all(not m._forward_hooks for m in unet.modules())
    record_activations(unet, torch.zeros(1, 1, 32, 32), 3)
    assert all(not m._forward_hooks for m in unet.modules())
    assert not unet.training


def test_unknown_block_is_named_in_the_error(unet):
    with pytest.raises(ValueError, match="no block called down.99"):
        record_activations(unet, torch.zeros(1, 1, 32, 32), 0, names=["down.99"])


def test_other_networks_list_their_children():
    model = MLPDenoiser(MLPConfig()).eval()
    blocks = network_blocks(model)
    assert [b.name for b in blocks] == [name for name, _ in model.named_children()]
    shapes = trace_shapes(model, (2,), batch=5)
    assert any(s.output == (5, 2) for s in shapes.values())  # the last layer predicts 2-D ε


def test_only_the_calling_threads_forward_pass_is_recorded():
    """The app may sample from the same model on another thread while the diagram records activations."""
    import threading

    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = torch.nn.Linear(2, 2)

        def forward(self, x, t, class_labels=None):
            mine = self.inner(x)
            other = threading.Thread(target=lambda: self.inner(torch.full_like(x, 7.0)))  # a sampler elsewhere
            other.start()
            other.join()
            return mine

    model = Shared().eval()
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(4))
    recorded = record_activations(model, x, 0, names=["inner"])
    with torch.no_grad():
        torch.testing.assert_close(recorded.outputs["inner"], model.inner(x))
