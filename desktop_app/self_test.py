"""``--self-test``: prove an installation (frozen or not) works, without a screen and without a network.

Four checks, each small enough that the whole run takes seconds on a CPU:

1. resources  the bundled Fashion-MNIST files and shipped models (``resources/models/*.safetensors``) are found;
2. views      the main window opens offscreen and every view is shown and painted;
3. sampling   every shipped model loads (``core.io.checkpoints.load_denoiser``) and runs a few DDIM steps
              (``core.diffusion.samplers.SAMPLERS``) to finite values; the metrics classifier loads and runs;
4. training   ``core.training.train`` runs a few steps of a tiny 2-D model, saves a checkpoint, and
              the checkpoint loads back and samples.

Prints one line per check, then one summary line, and returns 0 when every check passed, 1 otherwise.
Each check turns any exception into a failure that names the check and the reason, so a broken
bundle (a module PyInstaller left out, a missing data file) says what is missing.
"""

from __future__ import annotations

import faulthandler
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
WATCHDOG_ENV_VAR = "DIFFUSION_LAB_SELF_TEST_TIMEOUT_S"
WATCHDOG_S = 600  # a hung check dumps every thread's stack to stderr and exits (instead of hanging CI)
SELF_TEST_THREADS = 1  # torch threads: with 2 cores and other work running, more threads measured 30x slower
SAMPLING_STEPS = 3  # DDIM steps per shipped model: enough to run every code path, cheap on a CPU
TRAINING_STEPS = 3  # optimiser steps of the tiny training run


class SelfTestFailure(RuntimeError):
    """A check found something wrong; the message says what, in one sentence."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str  # what was checked (on success) or why it failed
    seconds: float


# ----------------------------------------------------------------------------------------------
# The checks
# ----------------------------------------------------------------------------------------------


def shipped_models() -> list[Path]:
    """The ``.safetensors`` checkpoints in ``resources/models`` (empty when none are shipped yet)."""
    from desktop_app.paths import resources_dir

    models = resources_dir() / "models"
    return sorted(models.glob("*.safetensors")) if models.is_dir() else []


def check_resources() -> str:
    """The resources folder exists and holds the Fashion-MNIST files (shipped models are optional here)."""
    from desktop_app.paths import resources_dir

    root = resources_dir()
    if not root.is_dir():
        raise SelfTestFailure(f"the resources folder is missing: {root}")
    missing = [name for name in FASHION_MNIST_FILES if not (root / "fashion_mnist" / name).is_file()]
    if missing:
        raise SelfTestFailure(f"Fashion-MNIST files are missing from {root / 'fashion_mnist'}: {', '.join(missing)}")
    empty = [name for name in FASHION_MNIST_FILES if (root / "fashion_mnist" / name).stat().st_size == 0]
    if empty:
        raise SelfTestFailure(f"Fashion-MNIST files are empty: {', '.join(empty)}")
    models = shipped_models()
    return f"{root} (Fashion-MNIST: 4 files; models/: {len(models)} .safetensors files)"


class _DialogCatcher:
    """Closes any modal dialog that opens while the views are checked, and remembers what it said.

    Offscreen nobody can click "OK", so a dialog raised while the window is built (a checkpoint that
    does not load, say) would hang the self-test; instead it becomes a failure that quotes the dialog.
    """

    def __init__(self, app, interval_ms: int = 100):
        from PySide6.QtCore import QTimer

        self.app = app
        self.seen: list[str] = []
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._close_modal_dialog)

    def _close_modal_dialog(self) -> None:
        dialog = self.app.activeModalWidget()
        if dialog is None:
            return
        text = getattr(dialog, "text", lambda: "")()
        self.seen.append(f"'{dialog.windowTitle()}': {text}".strip())
        dialog.reject() if hasattr(dialog, "reject") else dialog.close()

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc_info):
        self.timer.stop()
        return False


def check_views(app, timeout_s: float = 180.0) -> str:
    """Open the main window offscreen as the app does (window first, views built after torch loads on
    a background thread), show every view, let it paint, close it; no dialog may appear."""
    import sys

    from desktop_app.main_window import LoadingPage, MainWindow

    reported: list[BaseException] = []
    previous_hook = sys.excepthook
    sys.excepthook = lambda kind, error, tb: reported.append(error)  # a view that fails to build
    with _DialogCatcher(app) as dialogs:
        window = MainWindow(load_views=False)
        try:
            window.show()
            app.processEvents()
            ready = []
            window.views_ready.connect(lambda: ready.append(True))
            window.load_views_async()
            deadline = time.perf_counter() + timeout_s
            while not ready and time.perf_counter() < deadline:
                app.processEvents()
                time.sleep(0.01)
            if reported:
                raise SelfTestFailure(f"a view could not be built: {type(reported[0]).__name__}: {reported[0]}")
            if not ready:
                raise SelfTestFailure(f"the views were not ready after {timeout_s:.0f} s")
            names = list(window.view_names())
            if not names:
                raise SelfTestFailure("the main window reports no views")
            for name in names:
                window.show_view(name)
                for _ in range(3):
                    app.processEvents()
                if isinstance(window.stack.currentWidget(), LoadingPage):
                    raise SelfTestFailure(f"the '{name}' view was never built")
                if window.grab().isNull():
                    raise SelfTestFailure(f"the '{name}' view could not be painted")
        finally:
            sys.excepthook = previous_hook
            window.close()
            app.processEvents()
            window.deleteLater()
            app.processEvents()
    if dialogs.seen:
        raise SelfTestFailure(f"a dialog appeared while the views opened: {'; '.join(dialogs.seen)}")
    return f"{len(names)} views built after torch loaded in the background, each shown: {', '.join(names)}"


def _sample_briefly(model, schedule, sample_shape: tuple[int, ...]) -> float:
    """Run ``SAMPLING_STEPS`` DDIM steps for a batch of 2 and return max |x_0| (to check it is finite)."""
    import torch

    from core.diffusion import SAMPLERS

    generator = torch.Generator().manual_seed(0)
    x_T = torch.randn((2, *sample_shape), generator=generator)
    cond = None
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    if num_classes > 0:
        cond = {"class_labels": torch.tensor([0, num_classes - 1])}
    x_0 = SAMPLERS["ddim"](model, x_T, schedule, SAMPLING_STEPS, generator=generator, cond=cond)
    if x_0.shape != x_T.shape or not bool(torch.isfinite(x_0).all()):
        raise SelfTestFailure("sampling produced the wrong shape or non-finite values")
    return float(x_0.abs().max())


def _sample_shape(metadata: dict, model) -> tuple[int, ...]:
    """The shape of one sample, from the checkpoint's metadata (``image_shape``) or the model's config."""
    shape = metadata.get("image_shape")
    if shape:
        return tuple(int(s) for s in shape)
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "image_size"):
        return (int(config.in_channels), int(config.image_size), int(config.image_size))
    raise SelfTestFailure("the checkpoint does not say what shape its samples have (no 'image_shape' in metadata)")


def shipped_file_kind(path: Path) -> str:
    """What a ``resources/models`` file is, from its safetensors header: "denoiser" or "classifier".

    Raises ``SelfTestFailure`` for a file that is neither (or whose header cannot be read).
    """
    import json

    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            info = json.loads((handle.metadata() or {}).get("diffusion_lab", "{}"))
    except Exception as error:
        raise SelfTestFailure(f"shipped file {path.name} cannot be read: {error}") from error
    if info.get("format") == "diffusion_lab.checkpoint":
        return "denoiser"
    if info.get("kind") == "fashion_mnist_classifier":
        return "classifier"
    if info.get("kind") == "noisy_classifier":
        return "noisy_classifier"
    raise SelfTestFailure(
        f"shipped file {path.name} is neither a Diffusion Lab checkpoint, the metrics classifier nor a noisy classifier"
    )


def check_noisy_classifiers(paths: list[Path]) -> None:
    """Each shipped p(c | x_t, t) of classifier guidance loads and gives finite logits for every class."""
    import torch

    from core.models.noisy_classifier import load_noisy_classifier

    for path in paths:
        try:
            classifier = load_noisy_classifier(path)
            x = torch.zeros(2, *classifier.input_shape)
            logits = classifier(x, torch.full((2,), classifier.num_timesteps // 2, dtype=torch.long))
        except Exception as error:
            raise SelfTestFailure(f"shipped noisy classifier {path.name}: {error}") from error
        if tuple(logits.shape) != (2, classifier.num_classes) or not bool(torch.isfinite(logits).all()):
            raise SelfTestFailure(f"shipped noisy classifier {path.name} gives wrong or non-finite outputs")


def check_comparison_and_latent_models() -> int:
    """The Compare view's GAN and VAE generate, and the Latent view's autoencoders round-trip an image and
    its latent model finds its autoencoder: the subfolders of resources/models. Returns how many were checked."""
    import torch

    from core.io.attribute_classifier_file import is_attribute_classifier_file, load_attribute_classifier
    from core.io.autoencoder_file import load_autoencoder
    from core.io.generative_checkpoints import load_generative
    from core.io.latent_checkpoint import load_latent_checkpoint
    from core.io.text_to_image_file import is_text_to_image_file, load_text_to_image
    from desktop_app.paths import resources_dir

    models = resources_dir() / "models"
    checked = 0
    for kind in ("gan", "vae"):
        for path in sorted((models / "compare").glob(f"*_{kind}.safetensors")):
            try:
                model = load_generative(path, kind).model
                with torch.no_grad():
                    out = model.generate(model.sample_latents(2)) if kind == "gan" else model.sample(
                        torch.randn(2, model.latent_dim))  # fmt: skip
            except Exception as error:
                raise SelfTestFailure(f"shipped {kind.upper()} {path.name}: {error}") from error
            if not bool(torch.isfinite(out).all()):
                raise SelfTestFailure(f"shipped {kind.upper()} {path.name} gives non-finite samples")
            checked += 1
    for path in sorted((models / "latent").glob("*.safetensors")):
        try:
            if path.name.endswith("_autoencoder.safetensors"):
                autoencoder, _info = load_autoencoder(path)
                c = autoencoder.config
                with torch.no_grad():
                    out = autoencoder.decode(
                        autoencoder.encode(torch.zeros(1, c.in_channels, c.image_size, c.image_size)).mode()
                    )
                if not bool(torch.isfinite(out).all()):
                    raise SelfTestFailure(f"shipped autoencoder {path.name} gives non-finite images")
            elif is_attribute_classifier_file(path):
                classifier, _info = load_attribute_classifier(path)
                with torch.no_grad():
                    classifier.predict(torch.zeros(1, 3, 32, 32))
            elif is_text_to_image_file(path):
                out = load_text_to_image(path, [path.parent]).generate(["a red circle"], steps=2)
                if not bool(torch.isfinite(out).all()):
                    raise SelfTestFailure(f"shipped text-to-image model {path.name} gives non-finite images")
            else:
                load_latent_checkpoint(path, [path.parent])
        except SelfTestFailure:
            raise
        except Exception as error:
            raise SelfTestFailure(f"shipped latent-diffusion file {path.name}: {error}") from error
        checked += 1
    return checked


def check_sampling() -> str:
    """Load every shipped model and sample a few steps; with none shipped, sample an untrained tiny U-Net.

    The metrics classifier shipped beside the models is loaded and run once as well.
    """
    import torch

    files = shipped_models()
    kinds = {path: shipped_file_kind(path) for path in files}
    denoisers = [path for path in files if kinds[path] == "denoiser"]
    classifiers = [path for path in files if kinds[path] == "classifier"]
    noisy = [path for path in files if kinds[path] == "noisy_classifier"]
    check_noisy_classifiers(noisy)
    others = check_comparison_and_latent_models()
    for path in classifiers:
        from core.evaluation import load_classifier

        try:
            logits = load_classifier(path)(torch.zeros(2, 1, 32, 32))
        except Exception as error:
            raise SelfTestFailure(f"shipped classifier {path.name}: {error}") from error
        if not bool(torch.isfinite(logits).all()):
            raise SelfTestFailure(f"shipped classifier {path.name} gives non-finite outputs")
    if not denoisers:
        from core.diffusion import make_schedule
        from core.models import UNet, preset_config

        torch.manual_seed(0)
        model = UNet(preset_config("tiny", image_size=32, in_channels=1)).eval()
        _sample_briefly(model, make_schedule("linear", 100), (1, 32, 32))
        return f"no shipped denoiser yet; {SAMPLING_STEPS} DDIM steps of an untrained tiny U-Net ran"

    from core.io import load_denoiser

    for path in denoisers:
        try:
            checkpoint = load_denoiser(path)
            _sample_briefly(checkpoint.model, checkpoint.schedule, _sample_shape(checkpoint.metadata, checkpoint.model))
        except Exception as error:
            raise SelfTestFailure(f"shipped model {path.name}: {error}") from error
    extra = ", metrics classifier ran" if classifiers else ""
    extra += f", {len(noisy)} noisy classifiers ran" if noisy else ""
    extra += f", {others} GAN / VAE / latent-diffusion files ran" if others else ""
    return f"{len(denoisers)} shipped models loaded, {SAMPLING_STEPS} DDIM steps each{extra}"


def check_training(scratch_dir: Path) -> str:
    """Train a tiny 2-D model for a few steps, then reload its checkpoint and sample from it.

    Checks that ``core.training.train`` yields finite losses and a ``Finished`` event, and that the
    checkpoint it saved (safetensors + JSON metadata) loads back with ``core.io.checkpoints.load_denoiser``.
    """
    from core.io import load_denoiser
    from core.training import Finished, StepEvent, TrainConfig, train

    config = TrainConfig(
        dataset="toy:two_moons",
        model="mlp",
        steps=TRAINING_STEPS,
        batch_size=32,
        warmup_steps=0,
        preview_every=0,
        device="cpu",
        threads=SELF_TEST_THREADS,
        checkpoint_path=str(scratch_dir / "self-test.safetensors"),
        recipe="desktop_app --self-test",
    )
    losses: list[float] = []
    finished = None
    for event in train(config, checkpoint_dir=scratch_dir):
        if isinstance(event, StepEvent):
            losses.append(float(event.loss))
        elif isinstance(event, Finished):
            finished = event
    if len(losses) != TRAINING_STEPS:
        raise SelfTestFailure(f"training reported {len(losses)} steps instead of {TRAINING_STEPS}")
    if not all(math.isfinite(loss) for loss in losses):
        raise SelfTestFailure(f"training reported non-finite losses: {losses}")
    if finished is None or not finished.checkpoint_path:
        raise SelfTestFailure("training ended without a Finished event naming its checkpoint")
    checkpoint = load_denoiser(finished.checkpoint_path)
    _sample_briefly(checkpoint.model, checkpoint.schedule, _sample_shape(checkpoint.metadata, checkpoint.model))
    return f"{len(losses)} steps (losses {', '.join(f'{loss:.3f}' for loss in losses)}), checkpoint saved and reloaded"


# ----------------------------------------------------------------------------------------------
# Runner
# ----------------------------------------------------------------------------------------------


def _run_check(name: str, check: Callable[[], str]) -> CheckResult:
    start = time.perf_counter()
    try:
        detail = check()
        ok = True
    except SelfTestFailure as failure:
        detail, ok = str(failure), False
    except Exception as error:  # a broken install shows up as ImportError, OSError, ...
        last = traceback.extract_tb(error.__traceback__)[-1]
        detail = f"{type(error).__name__}: {error} (at {Path(last.filename).name}:{last.lineno})"
        ok = False
    return CheckResult(name, ok, detail, time.perf_counter() - start)


def run_self_test(qt_args: list[str] | None = None, out=None) -> int:
    """Run every check offscreen; print a line per check and a summary line; return the exit code.

    A watchdog (``$DIFFUSION_LAB_SELF_TEST_TIMEOUT_S``, default 600 s) dumps every thread's stack and
    exits with code 1 if a check hangs.
    """
    out = out or sys.stdout
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from desktop_app import APP_NAME, ORGANIZATION

    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APP_NAME)
    app = QApplication.instance() or QApplication([sys.argv[0], *(qt_args or [])])

    start = time.perf_counter()
    watchdog_s = float(os.environ.get(WATCHDOG_ENV_VAR, WATCHDOG_S))
    if sys.stderr is not None:
        faulthandler.dump_traceback_later(watchdog_s, exit=True)  # exits with code 1 after the dump
    try:
        return _run_checks(app, out, start)
    finally:
        if sys.stderr is not None:
            faulthandler.cancel_dump_traceback_later()


def _run_checks(app, out, start: float) -> int:
    import tempfile

    from desktop_app import APP_NAME, __version__

    try:
        import torch

        torch.set_num_threads(SELF_TEST_THREADS)
    except Exception as error:  # a broken bundle can fail torch's import in many ways (RuntimeError, OSError...)
        print(f"SELF-TEST FAILED: torch cannot be imported: {type(error).__name__}: {error}", file=out)
        return 1
    with tempfile.TemporaryDirectory(prefix="diffusion-lab-self-test-") as scratch:
        checks: list[tuple[str, Callable[[], str]]] = [
            ("resources", check_resources),
            ("views", lambda: check_views(app)),
            ("sampling", check_sampling),
            ("training", lambda: check_training(Path(scratch))),
        ]
        results = []
        for name, check in checks:
            result = _run_check(name, check)
            results.append(result)
            status = "ok  " if result.ok else "FAIL"
            print(f"[{status}] {name:<9} {result.seconds:5.1f} s  {result.detail}", file=out, flush=True)

    failed = [r for r in results if not r.ok]
    total = time.perf_counter() - start
    frozen = "frozen" if getattr(sys, "frozen", False) else "source"
    if failed:
        reasons = "; ".join(f"{r.name}: {r.detail}" for r in failed)
        print(f"SELF-TEST FAILED ({len(failed)}/{len(results)} checks, {total:.1f} s, {frozen}): {reasons}", file=out)
        return 1
    print(f"SELF-TEST PASSED: {APP_NAME} {__version__} ({frozen}), {len(results)} checks in {total:.1f} s", file=out)
    return 0
