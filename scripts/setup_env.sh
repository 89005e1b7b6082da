#!/usr/bin/env bash
# Set up Diffusion Lab's Python environment in .venv (idempotent: a second run does nothing).
#
#   ./scripts/setup_env.sh        # normally called by scripts/run.sh and scripts/test.sh
#
# 1. creates .venv with Python >= 3.11 if it is missing;
# 2. installs torch FIRST, explicitly (a plain `pip install torch` on Linux pulls a CUDA build of
#    several GB); see README "Using a CUDA build of torch" for the variables below;
# 3. installs the project in editable mode with its dev extra (tests, diffusers oracle, PyInstaller).
# It remembers what it installed in .venv/.diffusion-lab-setup and reinstalls only when
# pyproject.toml or the torch choice changes, or when an import check fails.
#
# Variables:
#   PYTHON            interpreter used to create .venv (default: python3.11, else python3)
#   TORCH_VERSION     torch release to install (default 2.13.0)
#   TORCH_INDEX_URL   pip index for torch, e.g. https://download.pytorch.org/whl/cu128 for CUDA 12.8.
#                     Default: none when a GPU is present or the machine is offline (pip's configured
#                     sources: here the CPU wheel on disk); https://download.pytorch.org/whl/cpu when
#                     there is no NVIDIA GPU and that server is reachable.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.diffusion-lab-setup"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

say() { echo "[setup] $*" >&2; }

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    say "Diffusion Lab needs Python 3.11 or newer; none was found (set PYTHON=/path/to/python3.11)."
    return 1
}

torch_index_url() {
    if [ -n "${TORCH_INDEX_URL:-}" ]; then echo "$TORCH_INDEX_URL"; return; fi
    if command -v nvidia-smi >/dev/null 2>&1; then return; fi  # a GPU: PyPI's default (CUDA) build
    # No GPU: PyTorch's CPU-only index (~200 MB instead of several GB), if it can be reached at all.
    if "$VENV/bin/python" - <<'PY' 2>/dev/null; then echo "https://download.pytorch.org/whl/cpu"; fi
import socket, sys
try:
    socket.create_connection(("download.pytorch.org", 443), timeout=3).close()
except OSError:
    sys.exit(1)
PY
}

if [ ! -x "$VENV/bin/python" ]; then
    PY="$(find_python)"
    say "creating $VENV with $PY"
    "$PY" -m venv "$VENV"
fi

wanted="pyproject=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1) torch=$TORCH_VERSION index=${TORCH_INDEX_URL:-auto}"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] \
   && "$VENV/bin/python" - <<'PY' 2>/dev/null; then
import importlib.util, sys
needed = ("torch", "PySide6", "pyqtgraph", "numpy", "PIL", "safetensors", "pytest", "pytestqt", "diffusers", "desktop_app", "core")
sys.exit(any(importlib.util.find_spec(name) is None for name in needed))
PY
    say "environment up to date ($VENV)"
    exit 0
fi

installed_torch="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)"
if [ "$installed_torch" != "$TORCH_VERSION" ]; then
    index="$(torch_index_url || true)"
    say "installing torch==$TORCH_VERSION${index:+ from $index}"
    "$VENV/bin/python" -m pip install ${index:+--index-url "$index"} "torch==$TORCH_VERSION"
else
    say "torch $installed_torch already installed"
fi

say "installing Diffusion Lab (editable) with its dev tools"
"$VENV/bin/python" -m pip install -e "$ROOT[dev]"
"$VENV/bin/python" -c "import torch, PySide6.QtWidgets, pyqtgraph, safetensors, pytest, desktop_app"
echo "$wanted" > "$STAMP"
say "done: $("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "CUDA" if torch.cuda.is_available() else "CPU")')"
