"""Start Diffusion Lab: the main window first, then torch and the views.

A double-click must give feedback at once, but importing torch takes about two seconds on a
classroom machine. So ``main`` imports only Qt, shows the main window with "Loading…" pages, and
only then imports torch and ``core`` (on a background thread, so the window keeps painting) and
builds the views (``MainWindow.load_views_async``). Everything else here is the safety net every desktop app
needs: a log file in the user-data folder, a crash dialog instead of a vanishing window, and
``multiprocessing.freeze_support()`` for the frozen build.

Flags: ``--version`` prints the version; ``--self-test`` runs ``desktop_app.self_test`` (offscreen)
and exits 0 or 1. Unknown arguments go to Qt (``-platform offscreen`` and friends).

With ``DIFFUSION_LAB_STARTUP_PROBE=1`` the app prints ``window-shown <s>`` (the window is on
screen) and ``views-ready <s>`` (every view is built and usable), in seconds since this module was
imported, then ``idle-rss-mb <MB>`` after ``DIFFUSION_LAB_PROBE_IDLE_S`` seconds (default 3) of
idling, and quits: benchmarks/bench_bundle.py reads these lines.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import logging.handlers
import multiprocessing
import os
import platform
import sys
import threading
import time
import traceback
from pathlib import Path

from desktop_app import APP_NAME, ORGANIZATION, __version__

_IMPORTED_AT = time.perf_counter()
PROBE_ENV_VAR = "DIFFUSION_LAB_STARTUP_PROBE"
PROBE_IDLE_ENV_VAR = "DIFFUSION_LAB_PROBE_IDLE_S"

log = logging.getLogger("desktop_app")


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split our flags from the ones Qt understands (the rest go to ``QApplication``)."""
    parser = argparse.ArgumentParser(prog="diffusion-lab-gui", description=f"{APP_NAME}: learn diffusion models.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open every view offscreen, sample and train a few steps, check resources; exit 0 if all is well",
    )
    return parser.parse_known_args(argv)


def _elapsed() -> float:
    return time.perf_counter() - _IMPORTED_AT


def _probe(message: str) -> None:
    if os.environ.get(PROBE_ENV_VAR) == "1":
        print(message, flush=True)


def current_rss_mb() -> float:
    """Resident memory of this process in MB (Linux: current; elsewhere: peak, the best available)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    except ImportError:  # Windows
        return float("nan")


# ----------------------------------------------------------------------------------------------
# Logging and the crash dialog
# ----------------------------------------------------------------------------------------------


def configure_logging(log_path: Path) -> None:
    """Log INFO and above to a rotating file in the user-data folder, warnings also to stderr."""
    root = logging.getLogger()
    if any(getattr(h, "_diffusion_lab", False) for h in root.handlers):
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.RotatingFileHandler(log_path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    file_handler._diffusion_lab = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    if sys.stderr is not None:  # a windowed frozen app on Windows has no stderr
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console._diffusion_lab = True  # type: ignore[attr-defined]
        root.addHandler(console)
    root.setLevel(logging.INFO)


def _enable_crash_log(log_dir: Path) -> None:
    """Let ``faulthandler`` write a traceback of hard crashes (segfaults in native code) to crash.log."""
    try:
        crash_file = open(log_dir / "crash.log", "a", encoding="utf-8")  # noqa: SIM115 - kept open on purpose
    except OSError:
        return
    faulthandler.enable(file=crash_file)


def _make_crash_reporter_class():
    """Build the ``CrashReporter`` QObject class (deferred so importing this module needs no Qt)."""
    from PySide6.QtCore import QObject, QUrl, Signal, Slot
    from PySide6.QtGui import QDesktopServices
    from PySide6.QtWidgets import QMessageBox

    class CrashReporter(QObject):
        """Turns an uncaught exception, on any thread, into a log entry and a dialog on the GUI thread.

        The dialog is requested through a signal, so an exception raised in a worker thread is shown
        by the GUI thread (a queued connection), never by the worker.
        """

        dialog_requested = Signal(str, str)

        def __init__(self, log_path: Path, show_dialogs: bool = True):
            super().__init__()
            self.log_path = Path(log_path)
            self.show_dialogs = show_dialogs
            self._dialog_open = False
            self.dialog_requested.connect(self._on_dialog_requested)

        def handle(self, exc_type, exc, tb) -> None:
            """The ``sys.excepthook``: log first (so nothing is lost), then ask for a dialog."""
            if issubclass(exc_type, KeyboardInterrupt):
                sys.__excepthook__(exc_type, exc, tb)
                return
            log.critical("Uncaught exception", exc_info=(exc_type, exc, tb))
            summary = "".join(traceback.format_exception_only(exc_type, exc)).strip()
            details = "".join(traceback.format_exception(exc_type, exc, tb))
            self.dialog_requested.emit(summary, details)

        def handle_thread(self, args: threading.ExceptHookArgs) -> None:
            """The ``threading.excepthook``: same as ``handle`` for plain Python threads."""
            if args.exc_type is SystemExit:
                return
            self.handle(args.exc_type, args.exc_value, args.exc_traceback)

        def message_for(self, summary: str) -> str:
            """What the dialog says: what happened, that the app kept running, and where the log is."""
            return (
                f"{APP_NAME} ran into an unexpected error:\n\n{summary}\n\n"
                "The app is still running, but the last action may not have finished. "
                f"The full report is in the log file:\n{self.log_path}"
            )

        @Slot(str, str)
        def _on_dialog_requested(self, summary: str, details: str) -> None:
            if not self.show_dialogs or self._dialog_open:  # one dialog at a time; the log has them all
                return
            self._dialog_open = True
            try:
                box = QMessageBox(QMessageBox.Icon.Critical, f"{APP_NAME}: unexpected error", self.message_for(summary))
                box.setDetailedText(details)
                open_button = box.addButton("Open log folder", QMessageBox.ButtonRole.ActionRole)
                box.addButton(QMessageBox.StandardButton.Ok)
                box.exec()
                if box.clickedButton() is open_button:
                    QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.log_path.parent)))
            finally:
                self._dialog_open = False

    return CrashReporter


_crash_reporter_class = None


def install_excepthook(log_path: Path, show_dialogs: bool = True):
    """Route uncaught exceptions (GUI thread and Python threads) to a ``CrashReporter``; return it.

    Call after the ``QApplication`` exists, from the GUI thread (the reporter must live there).
    """
    global _crash_reporter_class
    if _crash_reporter_class is None:
        _crash_reporter_class = _make_crash_reporter_class()
    reporter = _crash_reporter_class(log_path, show_dialogs=show_dialogs)
    sys.excepthook = reporter.handle
    threading.excepthook = reporter.handle_thread
    return reporter


# ----------------------------------------------------------------------------------------------
# Showing the window promptly
# ----------------------------------------------------------------------------------------------


def _icon_path() -> Path | None:
    """The app icon PNG in resources/icons, or None when the resources are missing."""
    from desktop_app.paths import resources_dir

    path = resources_dir() / "icons" / "diffusion-lab-256.png"
    return path if path.is_file() else None


def show_promptly(app, window, max_wait_s: float = 0.3) -> None:
    """Show ``window`` and let the window system map and paint it before the heavy work starts.

    Waits only as long as the platform needs to expose the window (``QSplashScreen.show()`` waits up
    to a whole second on some platforms before anything is on screen).
    """
    window.show()
    deadline = time.perf_counter() + max_wait_s
    while window.windowHandle() is not None and not window.windowHandle().isExposed():
        if time.perf_counter() > deadline:
            break
        app.processEvents()
        time.sleep(0.005)
    window.repaint()
    app.processEvents()


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------


def _log_startup_facts() -> None:
    log.info(
        "%s %s starting (Python %s, %s, frozen=%s)",
        APP_NAME,
        __version__,
        platform.python_version(),
        platform.platform(),
        bool(getattr(sys, "frozen", False)),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the app; return its exit code. ``argv`` excludes the program name (default: ``sys.argv[1:]``)."""
    multiprocessing.freeze_support()  # must come first: a frozen child process re-enters here
    args, qt_args = parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.version:
        print(f"{APP_NAME} {__version__}")
        return 0
    if args.self_test:
        from desktop_app.self_test import run_self_test

        return run_self_test(qt_args)

    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from desktop_app import paths

    QCoreApplication.setOrganizationName(ORGANIZATION)  # QSettings() everywhere uses these
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    icon_path = _icon_path()
    if icon_path is not None:
        app.setWindowIcon(QIcon(str(icon_path)))

    try:
        log_path = paths.log_file()
    except OSError:  # no writable user-data folder at all: still log, to the temporary folder
        import tempfile

        log_path = Path(tempfile.gettempdir()) / APP_NAME / "logs" / paths.LOG_FILE_NAME
    configure_logging(log_path)
    _enable_crash_log(log_path.parent)
    # Nobody can click a dialog on the offscreen platform or in a start-up probe: log only there.
    interactive = app.platformName() not in ("offscreen", "minimal") and os.environ.get(PROBE_ENV_VAR) != "1"
    reporter = install_excepthook(log_path, show_dialogs=interactive)
    _log_startup_facts()

    # The window first (pure Qt: sidebar, menus, "Loading…" pages), then torch on a background
    # thread and the views once it is in: the double-click gets a real window at once.
    try:
        from desktop_app.main_window import MainWindow

        window = MainWindow(load_views=False)
    except Exception:
        reporter.handle(*sys.exc_info())  # logs the traceback, shows the dialog when interactive
        print(f"{APP_NAME} could not start; the details are in {log_path}", file=sys.stderr)
        return 1
    show_promptly(app, window)
    log.info("Main window shown %.2f s after start", _elapsed())
    _probe(f"window-shown {_elapsed():.3f}")

    def on_first_view_ready(title: str) -> None:
        log.info("The %s view was usable %.2f s after start", title, _elapsed())
        _probe(f"first-view-ready {_elapsed():.3f}")

    window.first_view_ready.connect(on_first_view_ready)

    def on_views_ready() -> None:
        log.info("Views ready %.2f s after start", _elapsed())
        _probe(f"views-ready {_elapsed():.3f}")
        if os.environ.get(PROBE_ENV_VAR) == "1":
            idle_ms = int(1000 * float(os.environ.get(PROBE_IDLE_ENV_VAR, "3")))

            def report_idle_memory_and_quit() -> None:
                _probe(f"idle-rss-mb {current_rss_mb():.1f}")
                window.close()
                app.quit()

            QTimer.singleShot(idle_ms, window, report_idle_memory_and_quit)

    window.views_ready.connect(on_views_ready)
    window.load_views_async()

    exit_code = app.exec()
    log.info("%s exited with code %d", APP_NAME, exit_code)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
