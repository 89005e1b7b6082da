"""The teacher tools' costs: what a teacher waits for in class.

- opening a session file (every view's controls set, the view recomputing as a person's clicks would),
  and saving one, against the 1 s a click may take before it feels slow (Nielsen's 1 s limit);
- turning teacher mode on and off (text size, theme, restyling every plot, hiding controls);
- File ▸ Export view for slides on the Forward process view at the window's default size: the 2× PNG,
  the SVG and the 24-frame WebP of its timeline, with their sizes;
- the diagram's numbers for the shipped Fashion-MNIST U-Net: ``trace_shapes`` and one
  ``record_activations`` (a real forward pass of one 32×32 image), beside a plain ``model(x, t)``.

Wall time includes waiting for a CPU on a busy machine. Run: ``python benchmarks/bench_teacher.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

CLICK_LIMIT_S = 1.0


def timed(fn, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        QApplication.processEvents()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    torch.set_num_threads(1)
    app = QApplication(sys.argv[:1])  # noqa: F841 - kept alive for the whole run
    from core.io import load_denoiser
    from core.models.inspection import record_activations, trace_shapes
    from core.runtime.resources import resources_dir
    from desktop_app.main_window import MainWindow
    from desktop_app.teacher import presets_dir

    folder = Path(tempfile.mkdtemp(prefix="bench-teacher-"))
    window = MainWindow(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    window.show()
    window.show_view("Generate")
    QApplication.processEvents()
    teacher = window.teacher

    print(f"{'what':44s} {'seconds':>8s}   reference")
    session = folder / "lesson.dlsession"
    print(
        f"{'save a session':44s} {timed(lambda: teacher.save_session(session), 3):8.3f}   click limit {CLICK_LIMIT_S} s"
    )
    print(
        f"{'open it again':44s} {timed(lambda: teacher.open_session(session), 3):8.3f}   click limit {CLICK_LIMIT_S} s"
    )
    for preset in sorted(presets_dir().glob("*.dlsession")):
        seconds = timed(lambda p=preset: teacher.open_session(p))
        print(f"{'open preset ' + preset.stem:44s} {seconds:8.3f}   click limit {CLICK_LIMIT_S} s")
    print(f"{'teacher mode on':44s} {timed(lambda: teacher.mode.set_on(True)):8.3f}   click limit {CLICK_LIMIT_S} s")
    print(f"{'teacher mode off':44s} {timed(lambda: teacher.mode.set_on(False)):8.3f}   click limit {CLICK_LIMIT_S} s")

    window.show_view("Forward process")
    QApplication.processEvents()
    files = []
    seconds = timed(lambda: files.append(teacher.export_slides(folder / "forward")))
    out = files[-1]
    sizes = ", ".join(f"{p.suffix[1:]} {p.stat().st_size / 1e6:.2f} MB" for p in (out.png, out.svg, out.webp))
    print(f"{'export Forward view for slides':44s} {seconds:8.3f}   ({sizes})")

    model = load_denoiser(resources_dir() / "models" / "fmnist_unet.safetensors").model
    x, t = torch.randn(1, 1, 32, 32), torch.tensor([500])
    with torch.no_grad():
        plain = timed(lambda: model(x, t), 5)
    print(f"{'plain forward, 1 image (reference)':44s} {plain:8.4f}")
    print(
        f"{'trace_shapes (all blocks)':44s} {timed(lambda: trace_shapes(model, (1, 32, 32)), 5):8.4f}   plain forward"
    )
    print(
        f"{'record_activations (all blocks)':44s} {timed(lambda: record_activations(model, x, t), 5):8.4f}   plain forward"
    )
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
