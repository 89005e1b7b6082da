"""The companion notebook runs headless from top to bottom, and the repository keeps it without outputs.

Executed with nbclient in a real Jupyter kernel (``python3``, this environment), as CI would run
it; its cells end with checks on the numbers they compute (schedules, forward-process moments,
sample quality, guidance, the ideal denoiser), so a wrong result fails here.
"""

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "diffusion_from_scratch.ipynb"


def test_the_notebook_is_stored_without_outputs():
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert len(code) >= 7
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


@pytest.mark.slow
def test_the_notebook_runs_headless_on_the_cpu(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from jupyter_client.manager import KernelManager

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel talks over local (IPC) sockets: the tests allow no Internet sockets, not even localhost TCP.
    kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    client = nbclient.NotebookClient(
        notebook, km=kernel, timeout=240, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, when a cell fails
    printed = "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )
    assert "trained in" in printed and "DDPM-250" in printed
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4  # forward process, DDPM/DDIM, guidance, ideal denoiser
