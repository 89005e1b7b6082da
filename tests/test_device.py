"""Device selection, thread count and mixed-precision contexts (CPU-only machine; GPUs are simulated)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from core.runtime import device as dev


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "mps_available", lambda: False)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, no_gpu):
    assert dev.select_device("auto") == torch.device("cpu")
    assert dev.select_device(None) == torch.device("cpu")
    monkeypatch.setattr(dev, "mps_available", lambda: True)
    assert dev.select_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.select_device("auto") == torch.device("cuda")


def test_explicit_devices_are_validated_with_a_reason(monkeypatch, no_gpu):
    assert dev.select_device("CPU") == torch.device("cpu")
    assert dev.select_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA GPU was requested but none is available"):
        dev.select_device("cuda")
    with pytest.raises(ValueError, match="MPS"):
        dev.select_device("mps")
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        dev.select_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert dev.select_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="has 2 CUDA GPU"):
        dev.select_device("cuda:2")


def test_set_threads_sets_and_validates():
    before = torch.get_num_threads()
    try:
        assert dev.set_threads(1) == 1 and torch.get_num_threads() == 1
        assert dev.describe_device("cpu") == "CPU (1 thread)"
        assert dev.set_threads(None) == 1
        for bad in (0, -2, 2.5, "2", True):
            with pytest.raises(ValueError, match="threads"):
                dev.set_threads(bad)
    finally:
        torch.set_num_threads(before)
    assert dev.describe_device(torch.device("cpu")) == f"CPU ({before} thread{'s' if before != 1 else ''})"


def test_precision_resolution(monkeypatch):
    assert dev.resolve_precision("cpu", "auto") == "fp32"
    assert dev.resolve_precision("cpu", "bf16") == "bf16"
    with pytest.raises(ValueError, match="fp16 mixed precision needs a GPU"):
        dev.resolve_precision("cpu", "fp16")
    with pytest.raises(ValueError, match="Unknown precision"):
        dev.resolve_precision("cpu", "fp8")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert dev.resolve_precision("cuda", "auto") == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert dev.resolve_precision("cuda", "auto") == "bf16"


def test_autocast_context_changes_the_matmul_dtype_only_for_bf16():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    fp32 = dev.autocast_context("cpu", "fp32")
    assert isinstance(fp32, contextlib.nullcontext)
    with fp32:
        assert (a @ b).dtype == torch.float32
    with dev.autocast_context("cpu", "bf16"):
        out = a @ b
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), a @ b, atol=0.1, rtol=0.05)


def test_bf16_probe_returns_a_bool():
    assert isinstance(dev.bf16_supported_on_cpu(), bool)


def _conv_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(8, 1, 3, padding=1))


@pytest.mark.parametrize("faster", ["channels_last", "contiguous"])
def test_the_measured_faster_layout_is_chosen_and_computes_the_same(monkeypatch, faster):
    from core.runtime import memory_format

    slower = {"channels_last": "contiguous", "contiguous": "channels_last"}[faster]
    monkeypatch.setattr(memory_format, "time_layouts", lambda *a, **k: {faster: 0.010, slower: 0.020})
    net = _conv_net()
    x = torch.randn(2, 1, 8, 8)
    runnable, layout = memory_format.fastest_inference_model(net, (x,))
    assert layout == faster
    assert (runnable is net) == (faster == "contiguous")
    assert all(p.is_contiguous() for p in net.parameters())  # the original can still be saved
    torch.testing.assert_close(runnable(x), net(x), rtol=1e-5, atol=1e-6)
    assert memory_format.fastest_inference_model(net, (x,)) == (runnable, layout)  # measured once per model


def test_a_small_win_within_the_noise_keeps_the_contiguous_model(monkeypatch):
    from core.runtime import memory_format

    monkeypatch.setattr(memory_format, "time_layouts", lambda *a, **k: {"channels_last": 0.0099, "contiguous": 0.010})
    net = _conv_net()
    assert memory_format.fastest_inference_model(net, (torch.randn(1, 1, 8, 8),)) == (net, "contiguous")


def test_layout_timing_runs_both_and_models_without_convolutions_are_not_timed():
    from core.runtime import memory_format

    net = _conv_net()
    seconds = memory_format.time_layouts({"contiguous": net, "channels_last": net}, (torch.randn(1, 1, 8, 8),), trials=2)
    assert set(seconds) == {"contiguous", "channels_last"} and all(s > 0 for s in seconds.values())
    mlp = torch.nn.Sequential(torch.nn.Linear(2, 4))
    assert memory_format.fastest_inference_model(mlp, (torch.randn(3, 2),)) == (mlp, "contiguous")


def test_a_denoiser_is_timed_on_a_few_rows_with_its_per_row_conditioning_cut_to_match(monkeypatch):
    from core.runtime import memory_format

    seen = []

    def fake_time(layouts, args, kwargs=None, trials=5):
        seen.append((args[0].shape[0], args[1].tolist(), {k: getattr(v, "shape", v) for k, v in kwargs.items()}))
        return {"contiguous": 0.01, "channels_last": 0.02}

    monkeypatch.setattr(memory_format, "time_layouts", fake_time)

    class Denoiser(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x, t, class_labels=None, scale=1.0):
            return self.conv(x) * scale

    net = Denoiser()
    x = torch.randn(16, 1, 8, 8)
    assert memory_format.fastest_denoiser(net, x, 1000, {"class_labels": torch.zeros(16), "scale": 2.0}) is net
    assert seen == [(4, [500] * 4, {"class_labels": torch.Size([4]), "scale": 2.0})]
