"""The main window: a sidebar with the views, menus, a status area, drag and drop, persistence.

Views are built once and kept in a ``QStackedWidget``; the window only talks to them through the
contract in ``desktop_app/views/__init__.py`` (``title``, ``status_changed``, ``shutdown()``,
``export_actions()``, ``on_shown()``, plus the cross-view hooks).

The views import torch, which takes about 2 s on a classroom CPU, so the app does not wait for it:
``MainWindow(load_views=False)`` is a complete window (sidebar, menus, status bar, saved geometry)
whose pages say "Loading…", shown within half a second of the double-click; ``load_views_async()``
then imports torch and ``core`` on a background thread (the window keeps painting) and builds the
views on the GUI thread, the visible one first. Files dropped meanwhile are opened once the views
exist. ``MainWindow()`` (the default, used by tests and the self-test) builds everything at once.

Persistence (``QSettings``): window geometry and state, the last view, the last folders of the
open/export dialogs. ``closeEvent`` asks every view's ``shutdown()``; one ``False`` cancels closing.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QWidget,
)

from desktop_app import APP_NAME
from desktop_app.lessons.install import install_lessons
from desktop_app.teacher import install as install_teacher_tools
from desktop_app.window import themes
from desktop_app.window.appearance import Appearance
from desktop_app.window.loading_page import LoadingPage
from desktop_app.window.menus import WindowMenus
from desktop_app.window.view_specs import HEAVY_MODULES, VIEW_ICONS, VIEW_SPECS, view_class
from desktop_app.window.view_stack import ViewStack, default_size

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".safetensors",)


class MainWindow(QMainWindow):
    """Sidebar + stacked views + menus + status area. ``view_names()``/``show_view()`` serve the self-test."""

    views_ready = Signal()  # every view is built (emitted by load_views_async; at once in the default mode)
    first_view_ready = Signal(str)  # the view on screen is built and usable (load_views_async builds it first)

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None, load_views: bool = True):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.resize(default_size(self))

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setIconSize(QSize(22, 22))
        self.sidebar.setSpacing(2)
        self.sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sidebar.setStyleSheet("QListWidget#sidebar::item { padding: 8px 4px; }")
        self.stack = ViewStack()
        # Where a view is still larger than the window (a big zoom on a small screen) it scrolls
        # rather than being cut off; at 1024×768 and zoom 1 no view needs to (tests/test_app_projector.py).
        self.scroll = QScrollArea()
        self.scroll.setObjectName("view_scroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(self.stack)

        self.titles = [title for title, _module, _name in VIEW_SPECS]
        self.views: dict[str, QWidget] = {}  # filled as the views are built
        self._pending_paths: list[Path] = []  # dropped before the views existed
        self._loader: threading.Thread | None = None
        self._load_error: BaseException | None = None
        self._closed = False  # set by closeEvent: views still waiting to be built never are
        for i, (title, icon) in enumerate(zip(self.titles, VIEW_ICONS, strict=True)):
            self.stack.addWidget(LoadingPage(title))
            item = QListWidgetItem(self.style().standardIcon(icon), title)
            item.setToolTip(f"{title} (Ctrl+{i + 1})")
            self.sidebar.addItem(item)

        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(4, 4, 4, 0)
        row.addWidget(self.sidebar)
        row.addWidget(self.scroll, stretch=1)
        self.setCentralWidget(central)

        self._build_status_bar()
        self.appearance = Appearance(self.settings, self)
        self._shown_zoom = self.appearance.zoom_factor()
        self.appearance.applied.connect(self._on_appearance_applied)
        self.menus = WindowMenus(self)  # File, View, Help (desktop_app/window/menus.py)
        self.view_actions = self.menus.view_actions
        self.export_action = self.menus.export_action
        self.zoom_in_action = self.appearance.zoom_in_action
        self.zoom_out_action = self.appearance.zoom_out_action
        self.zoom_reset_action = self.appearance.zoom_reset_action
        self.theme_actions = self.appearance.theme_actions
        self.teacher = install_teacher_tools(self)  # teacher mode, sessions, slides, U-Net diagram
        self.appearance.apply()
        self.sidebar.currentRowChanged.connect(self._on_sidebar_row_changed)
        self.lessons = install_lessons(self)  # the lesson dock and guided tour (desktop_app/lessons), F2
        self._restore_settings()
        if load_views:
            for title in self.titles:
                self._build_view(title)
            self._on_all_views_built()

    # --- public API -----------------------------------------------------------------------------

    def view_names(self) -> list[str]:
        return list(self.titles)

    def view(self, name: str) -> QWidget:
        """The view called ``name`` (its loading page while it is not built yet)."""
        if name not in self.titles:
            raise ValueError(f"There is no view called '{name}'. Views: {', '.join(self.titles)}.")
        return self.views.get(name) or self.stack.widget(self.titles.index(name))

    def show_view(self, name: str) -> None:
        self.view(name)
        self.sidebar.setCurrentRow(self.titles.index(name))

    def current_view_name(self) -> str:
        return self.titles[self.stack.currentIndex()]

    def views_loaded(self) -> bool:
        return len(self.views) == len(self.titles)

    def load_views_async(self) -> None:
        """Import torch and core on a background thread, then build the views here, the visible one first.

        Emits ``views_ready`` when done; a failure shows its message on the loading pages and goes to
        ``sys.excepthook`` (the app's crash dialog and log).
        """
        if self._loader is not None or self.views_loaded():
            return
        self._load_started = time.perf_counter()
        self._first_view_announced = False
        self._loader = threading.Thread(target=self._import_heavy_modules, name="import-torch", daemon=True)
        self._loader.start()
        QTimer.singleShot(50, self._poll_loader)

    def _import_heavy_modules(self) -> None:  # runs on the loader thread: imports only, no Qt
        import importlib

        try:
            for module in HEAVY_MODULES:
                importlib.import_module(module)
        except BaseException as error:  # reported on the GUI thread by _poll_loader
            self._load_error = error

    @Slot()
    def _poll_loader(self) -> None:
        if self._closed:
            return
        if self._loader is not None and self._loader.is_alive():
            QTimer.singleShot(30, self._poll_loader)
            return
        if self._load_error is not None:
            self._fail_loading(self._load_error)
            return
        log.info("torch and core imported in %.2f s (background)", time.perf_counter() - self._load_started)
        current = self.current_view_name()
        order = [current] + [title for title in self.titles if title != current]
        self._build_next_view(order)

    def _build_next_view(self, order: list[str]) -> None:
        """Build one view per turn of the event loop, so the window repaints between them.

        A view that fails keeps its page, which then says so; the others are still built.
        """
        if self._closed:
            return
        try:
            self._build_view(order[0])
        except Exception as error:
            page = self.stack.widget(self.titles.index(order[0]))
            if isinstance(page, LoadingPage):
                page.show_error(f"{APP_NAME} could not load this view: {error}\nThe log has the details.")
            sys.excepthook(type(error), error, error.__traceback__)
        if not self._first_view_announced:  # the first one built is the one on screen
            self._first_view_announced = True
            self.first_view_ready.emit(order[0])
        if order[1:]:
            QTimer.singleShot(0, lambda: self._build_next_view(order[1:]))
        else:
            self._on_all_views_built()

    def _fail_loading(self, error: BaseException) -> None:
        """torch or core could not be imported: no view can work; say so on every page."""
        for i in range(self.stack.count()):
            page = self.stack.widget(i)
            if isinstance(page, LoadingPage):
                page.show_error(f"{APP_NAME} could not start PyTorch: {error}\nThe log has the details.")
        sys.excepthook(type(error), error, error.__traceback__)

    def _build_view(self, title: str) -> None:
        if title in self.views:
            return
        index = self.titles.index(title)
        _module, module_name, class_name = VIEW_SPECS[index]
        started = time.perf_counter()
        themes.configure_pyqtgraph()  # the theme's plot defaults, before the view creates its plots
        view = view_class(module_name, class_name)(self.settings, self)
        log.info("Built the %s view in %.2f s", title, time.perf_counter() - started)
        placeholder = self.stack.widget(index)
        was_current = self.stack.currentIndex() == index
        self.stack.insertWidget(index, view)
        self.stack.removeWidget(placeholder)
        placeholder.deleteLater()
        self.views[title] = view
        themes.restyle_plots(view)
        status_signal = getattr(view, "status_changed", None)
        if status_signal is not None:
            status_signal.connect(self._on_view_status)
        if was_current:
            self.stack.setCurrentIndex(index)
            self._on_sidebar_row_changed(index)

    def _on_all_views_built(self) -> None:
        self._connect_views()
        self.device_label.setText(self._device_text())
        self._refresh_status_labels()
        self.menus.update_export_enabled()
        pending, self._pending_paths = self._pending_paths, []
        for path in pending:
            self.open_path(path)
        self.views_ready.emit()

    def open_path(self, path: str | Path) -> None:
        """Open a dropped or chosen file: checkpoints go to Generate, anything else to Forward process."""
        path = Path(path)
        if not self.views_loaded():  # still starting: open it as soon as the views exist
            self._pending_paths.append(path)
            self.statusBar().showMessage(f"{path.name} opens as soon as the views are loaded…", 8000)
            return
        if path.suffix.lower() in CHECKPOINT_SUFFIXES:
            generate = self.views.get("Generate")
            if generate is None or not hasattr(generate, "open_checkpoint"):
                QMessageBox.warning(self, "Cannot open checkpoint", "The Generate view is not available in this build.")
                return
            self.show_view("Generate")
            generate.open_checkpoint(str(path))
            self.settings.setValue("main/last_checkpoint_dir", str(path.parent))
        else:
            self.show_view("Forward process")
            if self.views["Forward process"].open_image(str(path)):
                self.settings.setValue("main/last_image_dir", str(path.parent))

    # --- construction helpers -------------------------------------------------------------------

    def _connect_views(self) -> None:
        """A model trained in this session is offered by every view that can use one (Generate, Edit, ...)."""
        signal = getattr(self.views.get("Train"), "model_trained", None)
        if signal is None:
            return
        for view in self.views.values():
            if hasattr(view, "add_model"):
                signal.connect(view.add_model)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.dataset_label = QLabel()
        self.model_label = QLabel()
        self.device_label = QLabel("Device: …")  # filled in once torch is loaded
        for label in (self.dataset_label, self.model_label, self.device_label):
            label.setContentsMargins(8, 0, 8, 0)
            bar.addPermanentWidget(label)

    @staticmethod
    def _device_text() -> str:
        try:
            from core.runtime import describe_device, select_device

            return f"Device: {describe_device(select_device('auto'))}"
        except Exception as error:  # the status bar must never stop the window from opening
            log.warning("Could not describe the device: %s", error)
            return "Device: CPU"

    # --- text size and theme (desktop_app/window/appearance.py) ------------------------------------

    def zoom_factor(self) -> float:
        return self.appearance.zoom_factor()

    def theme_name(self) -> str:
        return self.appearance.theme_name()

    def set_zoom(self, factor: float) -> None:
        """Scale every text of the window by ``factor`` (one of ``zoom.ZOOM_STEPS``), and remember it."""
        self.appearance.set_zoom(factor)

    def set_theme(self, name: str) -> None:
        """Use the theme called ``name`` (see ``themes.THEMES``), and remember it."""
        self.statusBar().showMessage(f"{self.appearance.set_theme(name)} theme", 4000)

    @Slot(float, str)
    def _on_appearance_applied(self, factor: float, _theme: str) -> None:
        """Fit the sidebar to the new font, let views redraw their own colours, and say the text size."""
        sidebar_font = QApplication.font()
        sidebar_font.setPointSizeF(sidebar_font.pointSizeF() * 1.2)
        self.sidebar.setFont(sidebar_font)
        widest = max(self.sidebar.fontMetrics().horizontalAdvance(title) for title in self.titles)
        self.sidebar.setFixedWidth(widest + self.sidebar.iconSize().width() + 44)
        for view in self.views.values():
            hook = getattr(view, "on_theme_changed", None)
            if hook is not None:
                hook()
        if factor != self._shown_zoom:
            self.statusBar().showMessage(f"Text size {factor:.0%} (Ctrl+0: normal)", 4000)
        self._shown_zoom = factor

    # --- settings -------------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        geometry = self.settings.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("main/state")
        if state is not None:
            self.restoreState(state)
        last = str(self.settings.value("main/last_view", "Forward process"))
        self.show_view(last if last in self.titles else "Forward process")

    def _save_settings(self) -> None:
        self.settings.setValue("main/geometry", self.saveGeometry())
        self.settings.setValue("main/state", self.saveState())
        self.settings.setValue("main/last_view", self.current_view_name())
        self.settings.sync()

    # --- events ---------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self._loader is not None and self._loader.is_alive():
            self.hide()  # closed while torch loads: let the import finish (a second or two), then quit
            QApplication.processEvents()  # the window goes away now, not after the wait
            self._loader.join()
        for name, view in self.views.items():
            shutdown = getattr(view, "shutdown", None)
            if shutdown is None:
                continue
            try:
                ok = shutdown()
            except Exception:  # a broken view must not keep the window open forever
                log.exception("The %s view failed to shut down", name)
                ok = True
            if ok is False:
                self.show_view(name)
                event.ignore()
                return
        self._save_settings()
        self._closed = True
        event.accept()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_path(files[0])

    # --- handlers -------------------------------------------------------------------------------

    @Slot(int)
    def _on_sidebar_row_changed(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        view = self.stack.currentWidget()
        on_shown = getattr(view, "on_shown", None)
        if on_shown is not None:
            on_shown()
        self._refresh_status_labels()
        self.menus.update_export_enabled()

    @Slot(str)
    def _on_view_status(self, text: str) -> None:
        if self.sender() is self.stack.currentWidget():
            self.statusBar().showMessage(text, 8000)
        self._refresh_status_labels()

    def _refresh_status_labels(self) -> None:
        """The current view's dataset and model, each only where the view has one: the Forward view
        uses no model and Generate no dataset, and naming another view's there would mislead."""
        current = self.stack.currentWidget()
        dataset = _call_text(current, "dataset_name")
        model = _call_text(current, "model_name")
        self.dataset_label.setText(f"Data: {dataset}" if dataset else "")
        if not self.views_loaded():
            self.model_label.setText("Loading…")
        else:
            self.model_label.setText(f"Model: {model}" if model else "")

    def _export_actions(self) -> list:
        return self.menus.export_actions()

    def run_export(self, export_action, path: str | Path | None = None) -> Path | None:
        """Ask where to save (unless ``path`` is given), write the file, report success or the error."""
        return self.menus.run_export(export_action, path)


def _call_text(view: QWidget, method: str) -> str:
    fn = getattr(view, method, None)
    try:
        return str(fn() or "") if fn is not None else ""
    except Exception:  # a status line is never worth an error dialog
        return ""
