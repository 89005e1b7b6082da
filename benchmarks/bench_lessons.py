"""How much the lessons cost: reading every lesson at start-up, and one live refresh while scrubbing.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_lessons.py [--repeats 200]

Prints, each beside its reference:

- ``load_lessons()`` (parse + validate + render every file in resources/lessons) against the window's
  start-up budget of 0.5 s for the first feedback (issue 5): the main window loads the lessons before it shows;
- one refresh of the lesson panel on the Forward process step (the template filled with new values,
  the label's rich text set and laid out, the question's words) against one frame at 60 Hz (16.7 ms)
  and the panel's refresh interval (``panel.REFRESH_MS``): a timeline drag emits ``values_changed`` at
  every step, and the panel redraws at most once per interval;
- the same refresh with the Schedules step's question shown.

The script prints numbers; it never fails on them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FRAME_MS = 1000 / 60
FEEDBACK_S = 0.5


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from desktop_app.lessons.lesson_format import load_lessons

    load_ms = _median_ms(load_lessons, 20)
    loaded = load_lessons()
    print(
        f"load_lessons(): {len(loaded.lessons)} lessons, {load_ms:.1f} ms   (reference: first feedback {FEEDBACK_S} s)"
    )

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from desktop_app.lessons.panel import REFRESH_MS
    from desktop_app.main_window import MainWindow

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1280, 800)
    window.show()
    window.lessons.show()
    panel = window.lessons.panel
    for name in ("01_forward_process", "02_schedules"):
        step = next(i for i, lesson in enumerate(panel.tour.lessons) if lesson.name == name)
        panel.tour.go_to(step)
        app.processEvents()

        live = panel.values()
        counter = iter(range(10**9))

        def new_values(live=live, counter=counter) -> dict:  # other values each time: every refresh draws new text
            i = next(counter)
            return {**live, "t": i % 1000, **{k: (i % 997) / 997 for k, v in live.items() if isinstance(v, float)}}

        panel.values = new_values

        def refresh() -> None:
            panel.refresh_values()
            panel.text.adjustSize()

        refresh_ms = _median_ms(refresh, args.repeats)
        questions = len(panel.questions)
        del panel.values
        print(
            f"panel refresh, {name} ({questions} question(s)): {refresh_ms:.2f} ms median over {args.repeats}"
            f"   (reference: one frame at 60 Hz, {FRAME_MS:.1f} ms; the panel redraws at most every {REFRESH_MS} ms)"
        )
    window.close()


if __name__ == "__main__":
    main()
