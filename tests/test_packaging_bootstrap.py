"""The app's bootstrap: user-data folders, the crash dialog, the self-test's failure path, the start-up probe."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from desktop_app import paths

ROOT = Path(__file__).resolve().parent.parent


# --- user-data folders ---------------------------------------------------------------------------


def test_user_data_dir_honours_the_override_and_creates_subfolders(user_data_home):
    assert not user_data_home.exists()
    assert paths.user_data_dir() == user_data_home
    for name in ("checkpoints", "exports", "logs"):
        assert (user_data_home / name).is_dir()
    assert paths.log_file() == user_data_home / "logs" / "diffusion-lab.log"
    assert paths.checkpoints_dir() == user_data_home / "checkpoints"


def test_user_data_dir_falls_back_next_to_the_executable_when_the_platform_folder_is_unwritable(tmp_path, monkeypatch):
    monkeypatch.delenv("DIFFUSION_LAB_HOME", raising=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the platform folder's parent should be")
    monkeypatch.setattr(paths, "_platform_data_dir", lambda: blocker / "Diffusion Lab")
    monkeypatch.setattr(paths, "install_dir", lambda: tmp_path / "install")
    assert paths.user_data_dir() == tmp_path / "install" / "Diffusion Lab data"
    assert (tmp_path / "install" / "Diffusion Lab data" / "logs").is_dir()


def test_user_data_dir_explains_when_nothing_is_writable(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("DIFFUSION_LAB_HOME", str(blocker / "home"))
    with pytest.raises(OSError, match="could not find a folder it may write"):
        paths.user_data_dir()


def test_platform_folder_is_named_after_the_app(monkeypatch, tmp_path):
    monkeypatch.delenv("DIFFUSION_LAB_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert paths._platform_data_dir() == tmp_path / "xdg" / "Diffusion Lab"
    else:
        assert paths._platform_data_dir().name == "Diffusion Lab"


def test_resources_are_found_from_the_source_checkout():
    assert paths.resources_dir() == ROOT / "resources"
    assert (paths.resources_dir() / "icons" / "diffusion-lab-256.png").is_file()


# --- crash dialog ----------------------------------------------------------------------------------


@pytest.fixture
def crash_reporter(qapp, tmp_path, monkeypatch):
    """An installed crash reporter logging to a temporary file; hooks and log handlers restored after."""
    from desktop_app import app as app_module

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    log_path = tmp_path / "logs" / "diffusion-lab.log"
    app_module.configure_logging(log_path)
    reporter = app_module.install_excepthook(log_path)
    shown = []

    def fake_exec(box):
        shown.append((box.text(), box.detailedText(), threading.current_thread() is threading.main_thread()))
        return 0

    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    yield reporter, log_path, shown
    for handler in root.handlers:
        if handler not in saved_handlers:
            handler.close()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def _raise_and_capture(exc: BaseException):
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


def test_uncaught_exception_is_logged_and_shown_with_the_log_path(crash_reporter, qtbot):
    reporter, log_path, shown = crash_reporter
    assert sys.excepthook == reporter.handle
    sys.excepthook(*_raise_and_capture(ZeroDivisionError("division by zero in the test")))
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=2000)
    text, details, on_main_thread = shown[0]
    assert "ZeroDivisionError: division by zero in the test" in text
    assert str(log_path) in text
    assert "Traceback" in details and "_raise_and_capture" in details
    assert on_main_thread
    logged = log_path.read_text(encoding="utf-8")
    assert "Uncaught exception" in logged and "ZeroDivisionError" in logged


def test_exception_in_a_worker_thread_is_shown_by_the_gui_thread(crash_reporter, qtbot):
    reporter, log_path, shown = crash_reporter

    def fail():
        raise RuntimeError("worker exploded")

    worker = threading.Thread(target=fail)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=2000)
    text, _, on_main_thread = shown[0]
    assert "RuntimeError: worker exploded" in text
    assert on_main_thread  # the dialog is never built on the worker thread
    assert "worker exploded" in log_path.read_text(encoding="utf-8")


def test_keyboard_interrupt_is_not_reported_as_a_crash(crash_reporter, qtbot, monkeypatch):
    reporter, log_path, shown = crash_reporter
    passed_on = []
    monkeypatch.setattr(sys, "__excepthook__", lambda *info: passed_on.append(info[0]))
    reporter.handle(*_raise_and_capture(KeyboardInterrupt()))
    qtbot.wait(50)
    assert shown == [] and passed_on == [KeyboardInterrupt]


# --- self-test ---------------------------------------------------------------------------------------


def test_self_test_fails_and_names_the_missing_resources(qapp, tmp_path, monkeypatch):
    from desktop_app import self_test

    monkeypatch.setenv("DIFFUSION_LAB_RESOURCES", str(tmp_path / "nowhere"))
    with pytest.raises(self_test.SelfTestFailure, match="resources folder is missing"):
        self_test.check_resources()
    (tmp_path / "nowhere" / "fashion_mnist").mkdir(parents=True)
    (tmp_path / "nowhere" / "fashion_mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    with pytest.raises(self_test.SelfTestFailure, match="t10k-images-idx3-ubyte.gz"):
        self_test.check_resources()


def test_self_test_returns_nonzero_with_the_reason_on_its_last_line(qapp, monkeypatch):
    from desktop_app import self_test

    def broken_views(app):
        raise ImportError("No module named 'desktop_app.views.missing'")

    monkeypatch.setattr(self_test, "check_views", broken_views)
    monkeypatch.setattr(self_test, "check_sampling", lambda: "skipped in this test")
    monkeypatch.setattr(self_test, "check_training", lambda scratch: "skipped in this test")
    out = io.StringIO()
    assert self_test.run_self_test(out=out) == 1
    lines = out.getvalue().strip().splitlines()
    assert lines[0].startswith("[ok  ] resources")
    assert lines[1].startswith("[FAIL] views")
    assert lines[-1].startswith("SELF-TEST FAILED (1/4 checks")
    assert "views: ImportError: No module named 'desktop_app.views.missing'" in lines[-1]


# --- start-up probe ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_startup_probe_reports_window_then_views_then_memory(tmp_path):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "DIFFUSION_LAB_HOME": str(tmp_path / "home"),
        "DIFFUSION_LAB_STARTUP_PROBE": "1",
        "DIFFUSION_LAB_PROBE_IDLE_S": "0.2",
    }
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    probe = dict(
        line.split()
        for line in result.stdout.splitlines()
        if line.split()[0] in ("window-shown", "first-view-ready", "views-ready", "idle-rss-mb")
    )
    assert list(probe) == ["window-shown", "first-view-ready", "views-ready", "idle-rss-mb"]
    assert 0 < float(probe["window-shown"]) < float(probe["first-view-ready"]) <= float(probe["views-ready"])
    assert float(probe["idle-rss-mb"]) > 20  # a Qt app with a window holds at least this much
    log = (tmp_path / "home" / "logs" / "diffusion-lab.log").read_text(encoding="utf-8")
    assert "Main window shown" in log and "Views ready" in log


def test_a_main_window_that_fails_to_build_exits_with_1_and_a_logged_traceback(tmp_path):
    """A broken view must not hang the start-up (no dialog offscreen) nor vanish without a trace."""
    code = """
import sys, types
broken = types.ModuleType("desktop_app.main_window")
class MainWindow:
    def __init__(self, **options):
        raise RuntimeError("the Train view could not be built")
broken.MainWindow = MainWindow
sys.modules["desktop_app.main_window"] = broken
from desktop_app.app import main
sys.exit(main([]))
"""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DIFFUSION_LAB_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stdout + result.stderr
    log_path = tmp_path / "home" / "logs" / "diffusion-lab.log"
    assert f"could not start; the details are in {log_path}" in result.stderr
    logged = log_path.read_text(encoding="utf-8")
    assert "RuntimeError: the Train view could not be built" in logged and "Traceback" in logged


def test_self_test_tells_shipped_denoisers_from_the_classifier_and_rejects_strangers(tmp_path):
    import json

    import torch
    from safetensors.torch import save_file

    from desktop_app.self_test import SelfTestFailure, shipped_file_kind

    def write(name: str, info: dict | None) -> Path:
        path = tmp_path / name
        metadata = {"diffusion_lab": json.dumps(info)} if info is not None else None
        save_file({"w": torch.zeros(2)}, str(path), metadata=metadata)
        return path

    assert shipped_file_kind(write("a.safetensors", {"format": "diffusion_lab.checkpoint"})) == "denoiser"
    assert shipped_file_kind(write("b.safetensors", {"kind": "fashion_mnist_classifier"})) == "classifier"
    with pytest.raises(SelfTestFailure, match="c.safetensors is neither"):
        shipped_file_kind(write("c.safetensors", None))
    (tmp_path / "d.safetensors").write_bytes(b"\x00" * 7)
    with pytest.raises(SelfTestFailure, match="d.safetensors cannot be read"):
        shipped_file_kind(tmp_path / "d.safetensors")


def test_self_test_turns_a_dialog_during_start_up_into_a_failure_instead_of_hanging(qapp, monkeypatch):
    """Offscreen nobody can click OK: a modal dialog while the views open must fail the check, quoted."""
    import types

    from PySide6.QtCore import Signal
    from PySide6.QtWidgets import QMainWindow, QMessageBox, QStackedWidget, QWidget

    from desktop_app import self_test

    class DialogOnStart(QMainWindow):
        views_ready = Signal()

        def __init__(self, load_views=True):
            super().__init__()
            self.stack = QStackedWidget()
            self.stack.addWidget(QWidget())
            self.setCentralWidget(self.stack)

        def load_views_async(self):  # a view that asks something while it is built
            QMessageBox.warning(self, "Cannot open this checkpoint", "toy.safetensors is truncated.")
            self.views_ready.emit()

        def view_names(self):
            return ["Only"]

        def show_view(self, name):
            pass

    fake = types.ModuleType("desktop_app.main_window")
    fake.MainWindow = DialogOnStart
    fake.LoadingPage = type("LoadingPage", (QWidget,), {})
    monkeypatch.setitem(sys.modules, "desktop_app.main_window", fake)
    with pytest.raises(self_test.SelfTestFailure) as failure:
        self_test.check_views(qapp)
    assert "'Cannot open this checkpoint': toy.safetensors is truncated." in str(failure.value)


def test_self_test_watchdog_dumps_stacks_and_exits_when_a_check_hangs(tmp_path):
    code = """
import sys, time
import torch  # imported before the watchdog starts, so only the hanging check can trip it
from desktop_app import self_test
self_test.check_resources = lambda: time.sleep(60) or "never"
sys.exit(self_test.run_self_test())
"""
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "DIFFUSION_LAB_HOME": str(tmp_path),
        "DIFFUSION_LAB_SELF_TEST_TIMEOUT_S": "5",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Timeout" in result.stderr and "<lambda>" in result.stderr
    assert "SELF-TEST PASSED" not in result.stdout
