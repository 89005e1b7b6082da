"""Packaging: pyproject metadata, entry points, the Qt-free-core contract, and build.spec's rules."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
QT_BINDINGS_FORBIDDEN_IN_CORE = {"PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6", "desktop_app"}


def _lint_imports() -> str | None:
    found = shutil.which("lint-imports") or shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    return found


# --- pyproject.toml --------------------------------------------------------------------------------


def test_dependencies_use_pyside6_essentials_not_the_full_pyside6():
    names = [dep.split(">")[0].split("=")[0].split("<")[0].strip() for dep in PYPROJECT["project"]["dependencies"]]
    assert "PySide6-Essentials" in names
    assert "PySide6" not in names  # the full package adds ~400 MB of WebEngine/QML
    for required in ("torch", "pyqtgraph", "numpy", "pillow", "safetensors"):
        assert required in names


@pytest.mark.parametrize("group", ["scripts", "gui-scripts"])
def test_entry_points_resolve_to_callables(group):
    entry_points = PYPROJECT["project"][group]
    assert entry_points, f"no [project.{group}] in pyproject.toml"
    for name, target in entry_points.items():
        module_name, _, attribute = target.partition(":")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute, None)), f"entry point {name} -> {target} is not callable"


def test_version_comes_from_the_package():
    from desktop_app import __version__

    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "desktop_app.__version__"}
    assert __version__.count(".") == 2 and all(part.isdigit() for part in __version__.split("."))


# --- the import-linter contract ------------------------------------------------------------------


def test_contract_forbids_qt_in_core():
    contracts = {c["name"]: c for c in PYPROJECT["tool"]["importlinter"]["contracts"]}
    forbidden = contracts["core is Qt-free"]
    assert forbidden["source_modules"] == ["core"]
    assert QT_BINDINGS_FORBIDDEN_IN_CORE <= set(forbidden["forbidden_modules"])
    assert contracts["desktop_app is layered above core"]["layers"] == ["desktop_app", "core"]


@pytest.mark.skipif(_lint_imports() is None, reason="import-linter is not installed")
def test_import_contracts_hold_for_the_repository():
    result = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


def _throwaway_project(tmp_path, extra_modules: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the repository's import contracts on a skeleton of core/ (every layered part, empty) plus
    ``extra_modules`` ({"core/plot.py": source}), and return lint-imports' result."""
    contracts = {c["name"]: c for c in PYPROJECT["tool"]["importlinter"]["contracts"]}
    parts = [part.strip() for level in contracts["core's parts are layered"]["layers"] for part in level.split("|")]
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    for part in parts:
        (tmp_path / "core" / part).mkdir()
        (tmp_path / "core" / part / "__init__.py").write_text("")
    (tmp_path / "desktop_app").mkdir()
    (tmp_path / "desktop_app" / "__init__.py").write_text("import core\n")
    for relative, source in extra_modules.items():
        (tmp_path / relative).write_text(source)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(pyproject[pyproject.index("[tool.importlinter]") :])
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [_lint_imports(), "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.mark.skipif(_lint_imports() is None, reason="import-linter is not installed")
def test_import_contract_catches_a_core_module_that_imports_qt(tmp_path):
    """The same contracts, run on a throwaway copy where core imports PySide6, must fail."""
    result = _throwaway_project(tmp_path, {"core/plot.py": "from PySide6 import QtWidgets\n"})
    assert result.returncode != 0
    assert "core.plot -> PySide6" in result.stdout


@pytest.mark.skipif(_lint_imports() is None, reason="import-linter is not installed")
def test_import_contract_catches_a_lower_part_of_core_that_imports_a_higher_one(tmp_path):
    """core.diffusion (low) importing core.training (high) breaks the layers and must fail."""
    result = _throwaway_project(tmp_path, {"core/diffusion/loss.py": "import core.training\n"})
    assert result.returncode != 0
    assert "core.diffusion.loss -> core.training" in result.stdout


# --- build.spec ----------------------------------------------------------------------------------


class _Recorder:
    """Stands in for one of PyInstaller's spec classes and records its arguments."""

    calls: dict

    def __init__(self, kind, *args, **kwargs):
        self.kind, self.args, self.kwargs = kind, args, kwargs
        _Recorder.calls[kind] = (args, kwargs)
        self.binaries = [
            ("torch/bin/protoc", "/x/protoc", "BINARY"),
            ("PySide6/Qt/lib/libQt6Quick.so.6", "/x/libQt6Quick.so.6", "BINARY"),
            ("PySide6/Qt/lib/libQt6Widgets.so.6", "/x/libQt6Widgets.so.6", "BINARY"),
            ("PySide6/Qt/plugins/platforms/libqoffscreen.so", "/x/libqoffscreen.so", "BINARY"),
        ]
        self.datas = [
            ("torch/include/ATen/ATen.h", "/x/ATen.h", "DATA"),
            ("resources/fashion_mnist/README.md", "/x/README.md", "DATA"),
            ("resources/models/tests/x.safetensors", "/x/x.safetensors", "DATA"),
            ("PySide6/Qt/translations/qt_de.qm", "/x/qt_de.qm", "DATA"),
        ]
        self.pure, self.scripts = [], []
        if kind == "Analysis":
            _Recorder.calls["_last_analysis"] = self


def _exec_spec(monkeypatch, platform: str = "linux", trim: str | None = None, workpath: str = "/nonexistent") -> dict:
    _Recorder.calls = {}
    monkeypatch.setattr(sys, "platform", platform)
    if trim is None:
        monkeypatch.delenv("DIFFUSION_LAB_BUILD_TRIM", raising=False)
    else:
        monkeypatch.setenv("DIFFUSION_LAB_BUILD_TRIM", trim)
    namespace = {"SPECPATH": str(ROOT), "workpath": workpath, "__name__": "__spec__"}
    for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
        namespace[kind] = lambda *args, _kind=kind, **kwargs: _Recorder(_kind, *args, **kwargs)
    code = compile((ROOT / "build.spec").read_text(encoding="utf-8"), "build.spec", "exec")
    exec(code, namespace)
    return namespace


def test_build_spec_makes_a_one_folder_app_named_diffusion_lab(monkeypatch):
    namespace = _exec_spec(monkeypatch)
    exe_kwargs = _Recorder.calls["EXE"][1]
    collect_kwargs = _Recorder.calls["COLLECT"][1]
    assert exe_kwargs["name"] == collect_kwargs["name"] == "Diffusion Lab"
    assert exe_kwargs["exclude_binaries"] is True  # one-folder: binaries go to COLLECT
    assert Path(exe_kwargs["icon"]).is_file()
    assert "BUNDLE" not in _Recorder.calls  # only on macOS
    assert exe_kwargs["version"] is None  # Windows version info only on Windows
    analysis_kwargs = _Recorder.calls["Analysis"][1]
    assert (str(ROOT / "resources"), "resources") in analysis_kwargs["datas"]
    assert {"core.training", "core.io.checkpoints", "desktop_app.self_test"} <= set(analysis_kwargs["hiddenimports"])
    assert namespace["TRIM"] is True
    assert "module_collection_mode" not in analysis_kwargs  # torch needs its .py sources at import (measured)


def test_build_spec_excludes_other_qt_bindings_and_unused_qt_modules(monkeypatch):
    namespace = _exec_spec(monkeypatch)
    excludes = set(_Recorder.calls["Analysis"][1]["excludes"])
    assert {"PyQt5", "PyQt6", "PySide2", "tkinter", "PySide6.QtQml", "PySide6.QtWebEngineCore"} <= excludes
    assert {"pytest", "diffusers"} <= excludes
    # never exclude what the app and pyqtgraph import
    for needed in ("PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtSvg", "torch", "numpy"):
        assert needed not in excludes
    assert namespace["ICON"].endswith(".ico")


def test_build_spec_drops_headers_tests_and_qml_but_keeps_runtime_files(monkeypatch):
    namespace = _exec_spec(monkeypatch)
    is_dropped = namespace["is_dropped"]
    assert is_dropped("torch/include/ATen/ATen.h")
    assert is_dropped("torch/bin/protoc")
    assert is_dropped("PySide6/Qt/lib/libQt6Quick.so.6")
    assert is_dropped("PySide6/Qt/translations/qt_de.qm")
    assert is_dropped("numpy/_core/tests/test_api.py")
    assert not is_dropped("torch/lib/libtorch_cpu.so")
    assert not is_dropped("PySide6/Qt/lib/libQt6Widgets.so.6")
    assert not is_dropped("PySide6/Qt/plugins/platforms/libqoffscreen.so")
    assert not is_dropped("resources/models/tests/x.safetensors")  # resources are never trimmed
    assert not is_dropped("torch/_inductor/config.py")  # AdamW imports parts of torch._inductor
    assert not is_dropped("torch/bin/torch_shm_manager")  # `import torch` fails without it (measured)
    assert is_dropped("pillow.libs/libavif-c6062d5f.so.16.4.2") and is_dropped(
        "PIL/_avif.cpython-311-x86_64-linux-gnu.so"
    )
    assert is_dropped("libavif-c6062d5f.so.16.4.2")  # the top-level symlink PyInstaller makes to it
    assert not is_dropped("PIL/_imaging.cpython-311-x86_64-linux-gnu.so")


def test_build_spec_drops_files_from_the_analysis(monkeypatch):
    _exec_spec(monkeypatch)
    kept = [entry[0] for entry in _Recorder.calls["_last_analysis"].binaries + _Recorder.calls["_last_analysis"].datas]
    assert kept == [
        "PySide6/Qt/lib/libQt6Widgets.so.6",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "resources/fashion_mnist/README.md",
        "resources/models/tests/x.safetensors",
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("strip") is None, reason="needs GNU strip")
def test_strip_symbols_strips_only_the_listed_torch_libraries(monkeypatch, tmp_path):
    namespace = _exec_spec(monkeypatch)
    import torch

    library = next((Path(torch.__file__).parent / "lib").glob("libc10.so*"))  # a small real ELF library
    toc = [
        ("torch/lib/libtorch_cpu.so", str(library), "BINARY"),
        ("numpy.libs/libopenblas.so", str(library), "BINARY"),
        ("PIL/_imaging.cpython-311-x86_64-linux-gnu.so", str(library), "BINARY"),
        ("libpython3.11.so.1.0", str(library), "BINARY"),
    ]
    stripped = namespace["strip_symbols"](toc, tmp_path / "stripped")
    assert stripped[1:3] == toc[1:3]  # patchelf-edited wheels' libraries are never touched
    assert Path(stripped[3][1]).parent == tmp_path / "stripped"
    copy = Path(stripped[0][1])
    assert copy.parent == tmp_path / "stripped" and copy.read_bytes()[:4] == b"\x7fELF"
    assert copy.stat().st_size < library.stat().st_size


def test_build_spec_without_trimming_keeps_everything(monkeypatch):
    namespace = _exec_spec(monkeypatch, trim="0")
    assert namespace["TRIM"] is False
    assert set(_Recorder.calls["Analysis"][1]["excludes"]) == {"PyQt5", "PyQt6", "PySide2"}


def test_build_spec_on_macos_makes_an_app_bundle_with_icns(monkeypatch):
    namespace = _exec_spec(monkeypatch, platform="darwin")
    bundle_args, bundle_kwargs = _Recorder.calls["BUNDLE"]
    assert bundle_kwargs["name"] == "Diffusion Lab.app"
    assert namespace["ICON"].endswith(".icns") and Path(namespace["ICON"]).is_file()


def test_build_spec_on_windows_adds_version_info(monkeypatch):
    # PyInstaller's versioninfo module needs pefile (a dev dependency) and pywin32's win32api, which
    # only exists on Windows; the structures the spec builds never call it, so a stand-in will do.
    pytest.importorskip("pefile")
    import PyInstaller.compat

    monkeypatch.setattr(PyInstaller.compat, "win32api", types.SimpleNamespace(), raising=False)
    monkeypatch.delitem(sys.modules, "PyInstaller.utils.win32.versioninfo", raising=False)
    from desktop_app import __version__

    _exec_spec(monkeypatch, platform="win32")
    version = _Recorder.calls["EXE"][1]["version"]
    assert version is not None
    text = str(version)
    assert "Diffusion Lab" in text and __version__ in text


# --- the launcher ----------------------------------------------------------------------------------


def _run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=120, **kwargs
    )


def test_bootstrap_modules_import_neither_torch_nor_core():
    """The window must appear before torch loads, so the bootstrap path may not import it."""
    result = _run_python(
        """
        import sys
        import desktop_app, desktop_app.app, desktop_app.paths, desktop_app.self_test
        from desktop_app.app import main
        main(["--version"])
        heavy = [m for m in ("torch", "numpy", "pyqtgraph", "core.training", "desktop_app.main_window") if m in sys.modules]
        print("HEAVY", heavy)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "Diffusion Lab " in result.stdout
    assert "HEAVY []" in result.stdout


def test_python_dash_m_desktop_app_prints_the_version():
    from desktop_app import __version__

    result = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Diffusion Lab {__version__}"


def test_the_window_before_its_views_imports_no_torch():
    """``MainWindow(load_views=False)`` is what a double-click shows first: torch loads after it, in the background.

    Lessons, the teacher tools and the resources folder are all set up here; one import of torch on the
    way (it was ``core.runtime``'s package import) cost 2–4 s before the window appeared.
    """
    result = _run_python(
        """
        import sys
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from desktop_app.main_window import MainWindow
        window = MainWindow(load_views=False)
        print("HEAVY", [m for m in ("torch", "pyqtgraph", "core.training", "core.runtime.device") if m in sys.modules])
        window.close()
        """,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
