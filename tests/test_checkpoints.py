"""Checkpoints: exact round trips, a corruption fuzz of more than 1,000 damaged files, and SIGKILL mid-save."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from core.diffusion import make_schedule
from core.io import (
    CheckpointError,
    flatten_state,
    load_checkpoint,
    load_denoiser,
    read_metadata,
    save_checkpoint,
    temp_files_for,
    unflatten_state,
)
from core.models import build_denoiser

REPO = Path(__file__).resolve().parent.parent
TINY_MLP = {"arch": "mlp", "hidden_dim": 16, "num_blocks": 1, "time_embed_dim": 8}


def tiny_model(num_classes: int = 0, seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_denoiser({**TINY_MLP, "num_classes": num_classes, **overrides})
    with torch.no_grad():  # make every weight non-zero so a lost tensor cannot go unnoticed
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


def probe_output(model: torch.nn.Module) -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(5, 2, generator=g)
    t = torch.tensor([0, 3, 10, 50, 99])
    labels = torch.tensor([0, 1, 2, 0, 1]) if getattr(model, "num_classes", 0) else None
    with torch.no_grad():
        return model(x, t, class_labels=labels)


def trained_state(model: torch.nn.Module, steps: int = 3) -> tuple[dict, torch.optim.Optimizer]:
    """A training state like core.training's: online weights, AdamW moments, RNG states, counters."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(7)
    for _ in range(steps):
        x = torch.randn(8, 2, generator=g)
        t = torch.randint(0, 100, (8,), generator=g)
        loss = model(x, t).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = {
        "online": model.state_dict(),
        "optimizer": opt.state_dict(),
        "generator": g.get_state(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.default_rng(5).bit_generator.state["state"]["state"],
        "step": steps,
        "elapsed_s": 1.25,
        "special": (float("inf"), None, [1, 2.5]),
    }
    return state, opt


def _same(a, b) -> bool:
    """Deep equality that compares tensors exactly (dtype, shape, bits) and keeps tuples and key types."""
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and list(a) == list(b)
            and all(type(k) is type(kb) for k, kb in zip(a, b, strict=True))
            and all(_same(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


# --- round trips ---------------------------------------------------------------------------------


def test_round_trip_restores_model_outputs_metadata_and_schedule(tmp_path):
    model = tiny_model(num_classes=3)
    schedule = make_schedule("linear", 100, beta_start=2e-4, beta_end=0.03)
    meta = {
        "dataset": "toy:moons",
        "class_names": ["a", "b", "c"],
        "image_shape": [2],
        "step": 42,
        "wall_time_s": 12.5,
        "recipe": {"lr": 1e-3},
        "format_version": 99,
    }
    path = save_checkpoint(tmp_path / "m", model, schedule=schedule, metadata=meta)
    assert path == tmp_path / "m.safetensors"

    ck = load_denoiser(path)
    assert not ck.model.training
    assert torch.equal(probe_output(ck.model), probe_output(model))
    assert ck.training_state is None
    assert ck.schedule.to_dict() == schedule.to_dict()
    assert torch.equal(ck.schedule.alphas_cumprod, schedule.alphas_cumprod)
    assert ck.class_names == ["a", "b", "c"] and ck.num_classes == 3 and ck.step == 42
    assert ck.metadata["recipe"] == {"lr": 1e-3} and ck.metadata["dataset"] == "toy:moons"
    assert ck.metadata["format_version"] == 1  # the caller cannot overwrite the library's own keys
    assert ck.metadata["torch_version"] == torch.__version__
    assert ck.prediction_type == model.prediction_type
    assert read_metadata(path)["model_config"] == ck.metadata["model_config"]


def test_optimizer_and_rng_state_round_trip_exactly(tmp_path):
    model = tiny_model()
    state, opt = trained_state(model)
    path = save_checkpoint(
        tmp_path / "r.safetensors",
        model,
        schedule=make_schedule("cosine", 100),
        metadata={"step": 3},
        training_state=state,
    )
    ck = load_checkpoint(path, with_training_state=True)
    assert _same(state, ck.training_state)
    assert isinstance(next(iter(ck.training_state["optimizer"]["state"])), int)
    assert ck.training_state["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.99)

    # A fresh optimizer loaded from the file takes exactly the same next step as the original.
    clone = tiny_model(seed=1)
    clone.load_state_dict(ck.training_state["online"])
    opt2 = torch.optim.AdamW(clone.parameters(), lr=1e-3)
    opt2.load_state_dict(ck.training_state["optimizer"])
    for m, o in ((model, opt), (clone, opt2)):
        loss = m(torch.ones(4, 2), torch.tensor([1, 2, 3, 4])).pow(2).mean()
        o.zero_grad()
        loss.backward()
        o.step()
    for p, q in zip(model.parameters(), clone.parameters(), strict=True):
        assert torch.equal(p, q)

    # Loading for sampling skips the training state.
    assert load_denoiser(path).training_state is None


def test_flatten_state_uses_json_and_named_tensors_only():
    obj = {
        0: {"m": torch.arange(3.0)},
        "a": [torch.zeros(2, dtype=torch.bfloat16), (1, "x")],
        "__tensor__": 5,
        "n": np.arange(4, dtype=np.int16),
    }
    tensors, structure = flatten_state(obj, "train.")
    json.dumps(structure, allow_nan=False)  # plain JSON, no pickle anywhere
    assert all(k.startswith("train.") for k in tensors)
    assert _same(unflatten_state(structure, tensors), obj)
    with pytest.raises(ValueError, match="Cannot store"):
        flatten_state({"f": lambda: 0})


def test_save_refuses_metadata_that_is_not_json(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "x", tiny_model(), schedule=make_schedule("cosine", 100), metadata={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_files_are_readable_by_the_safetensors_library(tmp_path):
    from safetensors import safe_open

    model = tiny_model()
    path = save_checkpoint(tmp_path / "s", model, schedule=make_schedule("cosine", 100), metadata={})
    with safe_open(str(path), "pt") as f:
        assert "diffusion_lab" in f.metadata()
        for name, value in model.state_dict().items():
            assert torch.equal(f.get_tensor("model." + name), value)


# --- specific damage, each with its message ------------------------------------------------------


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory) -> bytes:
    model = tiny_model(num_classes=2)
    state, _ = trained_state(model, steps=2)
    path = save_checkpoint(
        tmp_path_factory.mktemp("valid") / "v",
        model,
        schedule=make_schedule("cosine", 100),
        metadata={"dataset": "toy:moons", "class_names": ["a", "b"], "step": 2},
        training_state=state,
    )
    return path.read_bytes()


def _split(data: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _join(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def _with_info(data: bytes, edit) -> bytes:
    header, body = _split(data)
    info = json.loads(header["__metadata__"]["diffusion_lab"])
    edit(info)
    header["__metadata__"]["diffusion_lab"] = json.dumps(info)
    return _join(header, body)


def _diffusers_like(data: bytes) -> bytes:
    header, body = _split(data)
    header["__metadata__"] = {"format": "pt"}
    return _join(header, body)


def _nan_weight(data: bytes) -> bytes:
    """Write NaN into one weight and fix its checksum, as a diverged run saved without checks would."""
    import zlib

    header, body = _split(data)
    name = next(k for k, v in header.items() if k.startswith("model.") and v.get("dtype") == "F32")
    start = header[name]["data_offsets"][0]
    body = body[:start] + struct.pack("<f", float("nan")) + body[start + 4 :]
    end = header[name]["data_offsets"][1]
    info = json.loads(header["__metadata__"]["diffusion_lab"])
    info["checksums"][name] = zlib.crc32(body[start:end])
    header["__metadata__"]["diffusion_lab"] = json.dumps(info)
    return _join(header, body)


def _shape_mismatch(data: bytes) -> bytes:
    def edit(info):
        info["model_config"]["hidden_dim"] = 32

    return _with_info(data, edit)


DAMAGE = {
    "empty": (lambda d: b"", "empty"),
    "short": (lambda d: d[:5], "too short"),
    "truncated": (lambda d: d[: len(d) // 2], "truncated"),
    "huge header": (lambda d: struct.pack("<Q", 2**63) + d[8:], "truncated or not a safetensors"),
    "text file": (lambda d: b"hello, this is not a checkpoint at all\n" * 3, "not a safetensors"),
    "bad json": (
        lambda d: d[:8] + b"{" + b"x" * (struct.unpack("<Q", d[:8])[0] - 1) + d[8 + struct.unpack("<Q", d[:8])[0] :],
        "not valid JSON",
    ),
    "foreign": (_diffusers_like, "not a Diffusion Lab checkpoint"),
    "newer format": (lambda d: _with_info(d, lambda i: i.update(format_version=2)), "newer Diffusion Lab"),
    "unknown arch": (
        lambda d: _with_info(d, lambda i: i["model_config"].update(arch="transformer")),
        "cannot build a network",
    ),
    "shape mismatch": (_shape_mismatch, "do not match"),
    "nan weights": (_nan_weight, "NaN"),
    "flipped data byte": (lambda d: d[:-3] + bytes([d[-3] ^ 0x10]) + d[-2:], "checksum"),
    "huge config": (
        lambda d: _with_info(d, lambda i: i["model_config"].update(num_blocks=10**12)),
        "far larger network",
    ),
    "bad step": (lambda d: _with_info(d, lambda i: i.update(step="ten")), "'step'"),
    "a GAN's file": (lambda d: _with_info(d, lambda i: i.update(model_kind="gan")), "holds a GAN, not a diffusion"),
    "unknown kind": (lambda d: _with_info(d, lambda i: i.update(model_kind="flow")), "kind of model 'flow'"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_each_kind_of_damage_gives_one_clear_error(tmp_path, valid_bytes, kind):
    mutate, words = DAMAGE[kind]
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(mutate(valid_bytes))
    with pytest.raises(CheckpointError, match=words) as info:
        load_checkpoint(path, with_training_state=True)
    assert str(path) in str(info.value)


def test_missing_file_and_folder_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_denoiser(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="folder"):
        load_denoiser(tmp_path)


# --- corruption fuzz -----------------------------------------------------------------------------


def _header_end(d: bytes) -> int:
    return 8 + min(struct.unpack("<Q", d[:8])[0], len(d) - 8)


def _flip_bytes(d, rng):
    b = bytearray(d)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(b))
        b[i] = rng.randrange(256) if rng.random() < 0.5 else b[i] ^ (1 << rng.randrange(8))
    return bytes(b)


def _flip_header_bytes(d, rng):
    b = bytearray(d)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(_header_end(d))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def _corrupt_json_char(d, rng):
    b = bytearray(d)
    i = rng.randrange(8, _header_end(d))
    b[i] = ord(rng.choice('{}[]",:0123456789-.eEaZ \\\x00\xff'))
    return bytes(b)


def _truncate(d, rng):
    return d[: rng.randrange(len(d))]


def _splice(d, rng):
    a, b = sorted(rng.randrange(len(d)) for _ in range(2))
    c = rng.randrange(len(d))
    choice = rng.randrange(3)
    if choice == 0:  # delete a chunk
        return d[:a] + d[b:]
    if choice == 1:  # duplicate a chunk somewhere else
        return d[:c] + d[a:b] + d[c:]
    return d[:c] + d[a:b] + d[c + (b - a) :]  # overwrite with a chunk from elsewhere


def _zero_region(d, rng):
    a = rng.randrange(len(d))
    n = rng.randint(1, 256)
    return d[:a] + bytes(min(n, len(d) - a)) + d[a + n :]


def _append_garbage(d, rng):
    return d + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))


def _bad_length_field(d, rng):
    n = rng.choice(
        [
            0,
            1,
            7,
            len(d),
            len(d) - 8,
            len(d) - 7,
            2**32,
            2**64 - 1,
            rng.randrange(len(d)),
            struct.unpack("<Q", d[:8])[0] + rng.choice([-9, -1, 1, 8]),
        ]
    )
    return struct.pack("<Q", max(0, min(n, 2**64 - 1))) + d[8:]


_DTYPE_NAMES = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "C64", "", "f32", 3]


def _edit_tensor_entry(d, rng):
    header, body = _split(d)
    name = rng.choice([k for k in header if k != "__metadata__"])
    entry = header[name]
    what = rng.randrange(6)
    if what == 0:
        entry["dtype"] = rng.choice(_DTYPE_NAMES)
    elif what == 1 and entry["shape"]:
        i = rng.randrange(len(entry["shape"]))
        entry["shape"][i] = rng.choice([0, 1, -1, entry["shape"][i] * 2, 2**40, "3", 1.5])
    elif what == 2:
        entry["shape"] = rng.choice([[], [1], entry["shape"][::-1], entry["shape"] + [1], None])
    elif what == 3:
        entry["data_offsets"][rng.randrange(2)] += rng.choice([-4, -1, 1, 4, 10**9])
    elif what == 4:
        header[name + "x"] = header.pop(name)  # a renamed tensor
    else:
        del header[name]  # a tensor missing from the index (its data becomes a gap)
    return _join(header, body)


_WRONG_VALUES = [None, True, -1, 0, 10**12, 2.5, float("nan"), "", "text", [], [1, "a"], {}, {"a": 1}, [[[]]]]


def _json_paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _json_paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _json_paths(v, path + (i,))


def _edit_metadata(d, rng):
    def edit(info):
        paths = [p for p in _json_paths(info) if p]
        path = rng.choice(paths)
        parent = info
        for k in path[:-1]:
            parent = parent[k]
        if rng.random() < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = rng.choice(_WRONG_VALUES)

    header, body = _split(d)
    info = json.loads(header["__metadata__"]["diffusion_lab"])
    edit(info)
    header["__metadata__"]["diffusion_lab"] = json.dumps(info)  # NaN is written as NaN, which JSON readers differ on
    return _join(header, body)


def _edit_safetensors_metadata(d, rng):
    header, body = _split(d)
    header["__metadata__"] = rng.choice(
        [
            None,
            "x",
            {"diffusion_lab": 5},
            {"diffusion_lab": "{"},
            {},
            [],
            {"diffusion_lab": "[]"},
            {"diffusion_lab": header["__metadata__"]["diffusion_lab"][:-1]},
        ]
    )
    return _join(header, body)


MUTATIONS = [
    _flip_bytes,
    _flip_header_bytes,
    _corrupt_json_char,
    _truncate,
    _splice,
    _zero_region,
    _append_garbage,
    _bad_length_field,
    _edit_tensor_entry,
    _edit_metadata,
    _edit_safetensors_metadata,
]


@pytest.mark.timeout(120)
def test_corruption_fuzz_never_crashes_or_loads_wrong_weights(tmp_path, valid_bytes):
    """1,100 seeded mutations: each load returns the original model or raises CheckpointError."""
    path = tmp_path / "fuzz.safetensors"
    reference = None
    outcomes: Counter = Counter()
    for seed in range(1100):
        rng = random.Random(seed)
        mutation = MUTATIONS[seed % len(MUTATIONS)]
        data = mutation(valid_bytes, rng)
        if data == valid_bytes:
            outcomes["unchanged"] += 1
            continue
        path.write_bytes(data)
        try:
            ck = load_checkpoint(path, with_training_state=seed % 2 == 0)
        except CheckpointError as e:
            assert "fuzz.safetensors" in str(e)
            outcomes[f"{mutation.__name__}: error"] += 1
            continue
        except Exception as e:  # noqa: BLE001 - report which mutation let another error escape
            raise AssertionError(f"seed {seed} ({mutation.__name__}) raised {type(e).__name__}: {e}") from e
        if reference is None:
            (tmp_path / "ref.safetensors").write_bytes(valid_bytes)
            reference = probe_output(load_denoiser(tmp_path / "ref.safetensors").model)
        assert torch.equal(probe_output(ck.model), reference), f"seed {seed} ({mutation.__name__}) changed the weights"
        outcomes[f"{mutation.__name__}: loaded"] += 1
    errors = sum(v for k, v in outcomes.items() if k.endswith("error"))
    assert errors > 900, outcomes  # the fuzz really damages files (a few header edits are harmless)


# --- killed while saving -------------------------------------------------------------------------

_SAVER = r"""
import os, sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[3])
from core.io import save_checkpoint
from core.models import build_denoiser
from core.diffusion import make_schedule

path, rounds = sys.argv[1], int(sys.argv[2])
model = build_denoiser({"arch": "mlp", "hidden_dim": 384, "num_blocks": 3, "time_embed_dim": 8, "num_classes": 0})
schedule = make_schedule("cosine", 100)
for r in range(rounds):
    pid = os.fork()
    if pid == 0:  # the child saves over the same file until it is killed
        i = 0
        while True:
            i += 1
            step = 1000 * (r + 1) + i
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float(step))
            save_checkpoint(path, model, schedule=schedule, metadata={"step": step})
    print(pid, flush=True)
    os.waitpid(pid, 0)
    sys.stdin.readline()  # wait until the test has checked the file
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="uses fork to start savers quickly")
@pytest.mark.timeout(120)
def test_killing_a_save_never_damages_the_previous_checkpoint(tmp_path):
    path = tmp_path / "live.safetensors"
    model = tiny_model(hidden_dim=384, num_blocks=3)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
    save_checkpoint(path, model, schedule=make_schedule("cosine", 100), metadata={"step": 7})
    size = path.stat().st_size
    assert size > 4_000_000  # large enough that writing takes a while

    rounds = 5
    rng = random.Random(0)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    saver = subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(path), str(rounds), str(REPO)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    orphans = 0
    try:
        for round_ in range(rounds):
            pid = int(saver.stdout.readline())
            inode = path.stat().st_ino
            deadline = time.monotonic() + 60
            while path.stat().st_ino == inode:  # wait until the child has replaced the file once
                assert time.monotonic() < deadline, "the saving process never saved"
                time.sleep(0.002)
            if round_ % 2 == 0:  # aim at the moment the new file is being written
                while not temp_files_for(path):
                    assert time.monotonic() < deadline, "the saving process stopped saving"
                time.sleep(rng.uniform(0.0, 0.002))
            else:  # any moment
                time.sleep(rng.uniform(0.0, 0.1))
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

            ck = load_denoiser(path)  # old or new, never damaged
            step = ck.metadata["step"]
            for p in ck.model.parameters():
                assert torch.all(p == float(step)), "weights from two different saves were mixed"
            leftovers = temp_files_for(path)
            assert len(leftovers) <= 1
            orphans += len(leftovers)
            saver.stdin.write("\n")
            saver.stdin.flush()
    finally:
        saver.kill()
        saver.wait()
    assert orphans >= 1  # at least one kill really landed in the middle of writing a file
    # The next save removes temp files that killed processes left behind.
    save_checkpoint(path, model, schedule=make_schedule("cosine", 100), metadata={"step": 7})
    assert temp_files_for(path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.safetensors"]
