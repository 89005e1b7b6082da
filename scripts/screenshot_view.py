"""Open the app on one view in a chosen state, for screenshots (``../shared/tools/screenshot``).

    ../shared/tools/screenshot docs/screenshots/forward.png 12 -- \
        .venv/bin/python scripts/screenshot_view.py forward --t 300

Views: the first word of each view's title (forward, schedules, train, generate, edit, guidance…). ``--t`` moves the view's scrubber (with ``--sample``:
the finished run's timeline); ``--train`` presses Start in the Train view; ``--sample`` presses
Generate. Uses a
private settings file so a screenshot never depends on (or changes) the user's saved state.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DIFFUSION_LAB_HOME", tempfile.mkdtemp(prefix="diffusion-lab-shot-"))

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def _slug(title: str) -> str:
    return title.lower().split()[0].strip("&")


def view_slugs() -> dict[str, str]:
    """{"forward": "Forward process", "guidance": "Guidance", ...}: every view of the window by its first word."""
    from desktop_app.window.view_specs import VIEW_SPECS

    return {_slug(title): title for title, _module, _name in VIEW_SPECS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("view", choices=sorted(view_slugs()))
    parser.add_argument("--t", type=int, default=None, help="scrubber position")
    parser.add_argument("--train", action="store_true", help="press Start in the Train view")
    parser.add_argument("--sample", action="store_true", help="press Generate in the Generate view")
    parser.add_argument("--compare", default=None, help="Generate: compare with SAMPLER:STEPS, e.g. ddpm:250")
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    from desktop_app.main_window import MainWindow

    settings = QSettings(str(Path(os.environ["DIFFUSION_LAB_HOME"]) / "shot.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.show()
    name = view_slugs()[args.view]
    window.show_view(name)
    view = window.view(name)
    if args.train:
        QTimer.singleShot(300, view.start_button.click)
    if args.compare:
        sampler, steps = args.compare.split(":")
        view.compare_check.setChecked(True)
        view.sampler_b_combo.setCurrentIndex(view.sampler_b_combo.findData(sampler))
        view.steps_b_spin.setValue(int(steps))
    if args.sample:  # --t then moves the finished run's timeline
        QTimer.singleShot(300, view.generate_button.click)

        def when_sampled() -> None:
            if view.is_sampling() or view.run_a.result is None:
                QTimer.singleShot(200, when_sampled)
            elif args.t is not None:
                view.run_a.scrubber.setValue(args.t)

        QTimer.singleShot(600, when_sampled)
    elif args.t is not None and hasattr(view, "scrubber"):
        view.scrubber.setValue(args.t)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
