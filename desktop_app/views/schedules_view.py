"""The Schedules view: two to four noise schedules side by side, on the same image and the same noise.

Each column is one schedule (kind, T, β range; ``core.diffusion.schedules.make_schedule``) showing
x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM eq. 4) with the same x_0 and the same ε in every column. The
scrubber moves column 1's timestep t₁; the other columns follow either at the same fraction of the
way, t/T (equal t when the T agree), or — with "align by equal SNR" — at the timestep whose
signal-to-noise ratio ᾱ/(1−ᾱ) matches column 1's (``core.diffusion.schedules.timestep_of_equal_snr``). Aligned
by SNR, all columns look equally noisy: what differs between schedules is *when* each noise level
is reached, which the curves below show (Nichol & Dhariwal 2021, fig. 5; Kingma et al. 2021, VDM).

The plots show β_t, ᾱ_t and log-SNR against t/T (so schedules with different T compare), one
colour per column, with a cursor synced to the scrubber and a dot where each column is.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.diffusion import (
    NoiseSchedule,
    timestep_of_equal_snr,
)
from desktop_app import export
from desktop_app.lessons import view_hooks
from desktop_app.views.schedules.column import ColumnSettings, ScheduleColumn
from desktop_app.views.schedules.learn_panel import LearnSchedulePanel
from desktop_app.views.schedules.log_snr_editor import DRAWN_KIND, KNOT_POSITIONS, LogSnrEditor
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.window import themes

MIN_COLUMNS, MAX_COLUMNS = 2, 4
DEFAULT_COLUMNS = [("linear", 1000, 1e-4, 0.02), ("cosine", 1000, 1e-4, 0.02)]
EXTRA_COLUMNS = [("sigmoid", 1000, 1e-4, 0.02), ("quadratic", 1000, 1e-4, 0.02)]
SOURCES = ("Fashion-MNIST", "Coloured shapes")
NUM_IMAGES = 4


class SchedulesView(QWidget):
    """Compare 2–4 noise schedules on the same image and noise, by equal t/T or by equal SNR."""

    title = "Schedules"
    status_changed = Signal(str)
    values_changed = Signal()  # lesson_values() changed (the lesson panel re-renders)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.columns: list[ScheduleColumn] = []
        self._x0: np.ndarray | None = None
        self._build_ui()
        self._load_image()
        for column_settings in self._restored_columns():
            self._add_column(column_settings)
        self._on_schedules_changed()

    # --- UI -------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.source_combo = QComboBox()
        self.source_combo.addItems(list(SOURCES))
        self.source_combo.setCurrentText(str(self.settings.value("schedules/source", SOURCES[0])))
        self.source_combo.setToolTip("The image x_0 every schedule noises (the same noise ε in every column)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setPrefix("seed ")
        self.seed_spin.setToolTip("Seed of the noise ε shared by all columns")
        self.seed_spin.setValue(int(self.settings.value("schedules/seed", 0)))
        self.add_button = QPushButton("+ Add schedule")
        self.add_button.setToolTip(f"Compare up to {MAX_COLUMNS} schedules")
        self.align_check = QCheckBox("Align by equal SNR")
        self.align_check.setToolTip(
            "Show every column at the timestep where its signal-to-noise ratio ᾱ/(1−ᾱ) equals column 1's,\n"
            "instead of at the same fraction t/T of its timeline"
        )
        self.align_check.setChecked(self.settings.value("schedules/align_snr", False, type=bool))

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Image:"))
        controls.addWidget(self.source_combo)
        controls.addWidget(self.seed_spin)
        controls.addSpacing(16)
        controls.addWidget(self.align_check)
        self.learn_panel = LearnSchedulePanel(KNOT_POSITIONS)
        controls.addWidget(self.learn_panel, 1)  # its status line takes the free width, never more
        controls.addWidget(self.add_button)

        self.columns_row = QHBoxLayout()
        self.columns_row.setSpacing(6)

        self.scrubber = TimelineScrubber()
        self.scrubber.setLabelFunction(self._scrubber_label)
        self.scrubber_caption = QLabel("Timestep of schedule 1:")

        self.plots: dict[str, pg.PlotWidget] = {}
        self.cursors: list[pg.InfiniteLine] = []
        self.curves: dict[str, list[pg.PlotDataItem]] = {}
        self.markers: dict[str, pg.ScatterPlotItem] = {}
        plots_row = QHBoxLayout()
        for key, title, log_y in [
            ("beta", "β_t", True),
            ("alpha_bar", "ᾱ_t", False),
            ("log_snr", "log SNR = log(ᾱ/(1−ᾱ))", False),
        ]:
            plot = pg.PlotWidget(title=title)
            plot.setMenuEnabled(False)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "t / T")
            plot.setLogMode(x=False, y=log_y)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.setXRange(0, 1, padding=0.01)
            if key == "alpha_bar":
                plot.addLegend(offset=(-8, 8), **themes.legend_style())  # top right: ᾱ_t is near 0 there
            cursor = pg.InfiniteLine(
                angle=90, movable=True, pen=pg.mkPen(themes.current().plot_axis, width=1, style=Qt.PenStyle.DashLine)
            )
            cursor.sigDragged.connect(self._on_cursor_dragged)
            plot.addItem(cursor)
            marker = pg.ScatterPlotItem(size=11, pen=pg.mkPen(themes.current().plot_text, width=1.5))
            plot.addItem(marker)
            self.plots[key] = plot
            self.cursors.append(cursor)
            self.markers[key] = marker
            self.curves[key] = []
            plots_row.addWidget(plot)

        self.log_snr_editor = LogSnrEditor(self.plots["log_snr"], self._restored_knots(), self)
        self.log_snr_editor.changed.connect(self._on_knots_changed)
        self.learn_panel.learned.connect(self._on_learned_knots)

        scrub_row = QHBoxLayout()
        scrub_row.addWidget(self.scrubber_caption)
        scrub_row.addWidget(self.scrubber, stretch=1)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(self.columns_row, stretch=5)
        layout.addLayout(scrub_row)
        layout.addLayout(plots_row, stretch=3)

        self.source_combo.currentIndexChanged.connect(self._on_image_changed)
        self.seed_spin.valueChanged.connect(self._on_image_changed)
        self.add_button.clicked.connect(self._on_add_clicked)
        self.align_check.toggled.connect(self._on_align_toggled)
        self.scrubber.valueChanged.connect(self._on_t_changed)

    def _restored_knots(self):
        saved = self.settings.value("schedules/log_snr_knots")
        try:
            values = [float(v) for v in saved] if isinstance(saved, list) else None
        except ValueError:
            values = None
        return values if values is not None and len(values) == 6 else None

    def _restored_columns(self) -> list[ColumnSettings]:
        saved = self.settings.value("schedules/columns")
        columns = []
        if isinstance(saved, list):
            for entry in saved:
                try:
                    kind, T, b0, b1 = str(entry).split(",")
                    column = ColumnSettings(kind, int(T), float(b0), float(b1))
                    column.make()
                    columns.append(column)
                except ValueError:
                    continue
        if not MIN_COLUMNS <= len(columns) <= MAX_COLUMNS:
            columns = [ColumnSettings(*c) for c in DEFAULT_COLUMNS]
        return columns

    # --- public API -----------------------------------------------------------------------------

    @property
    def schedules(self) -> list[NoiseSchedule]:
        return [c.schedule for c in self.columns]

    def add_column(self) -> ScheduleColumn | None:
        """Add a schedule column (up to four); returns it, or None when there are already four."""
        if len(self.columns) >= MAX_COLUMNS:
            return None
        column = self._add_column(ColumnSettings(*EXTRA_COLUMNS[(len(self.columns) - 2) % len(EXTRA_COLUMNS)]))
        self._on_schedules_changed()
        return column

    def remove_column(self, index: int) -> None:
        if len(self.columns) <= MIN_COLUMNS:
            return
        column = self.columns.pop(index)
        self.columns_row.removeWidget(column)
        column.deleteLater()
        for i, c in enumerate(self.columns):
            c.set_index(i)
        self._on_schedules_changed()

    def set_align_by_snr(self, align: bool) -> None:
        self.align_check.setChecked(align)

    def column_timesteps(self) -> list[int]:
        """The timestep each column shows for the scrubbed t₁ (equal t/T, or equal SNR when aligned)."""
        t1 = self.scrubber.value()
        first = self.columns[0].schedule
        result = []
        for column in self.columns:
            s = column.schedule
            if column is self.columns[0]:
                result.append(t1)
            elif self.align_check.isChecked():
                result.append(timestep_of_equal_snr(t1, first, s))
            else:
                fraction = t1 / max(first.num_timesteps - 1, 1)
                result.append(min(s.num_timesteps - 1, round(fraction * (s.num_timesteps - 1))))
        return result

    def dataset_name(self) -> str:
        return f"{self.source_combo.currentText()} ×{NUM_IMAGES}"

    def lesson_values(self) -> dict:
        """The live values a lesson may show (names and meanings: desktop_app/lessons/vocabulary.py)."""
        return view_hooks.schedules_values(self)

    def apply_lesson_state(self, state: dict) -> None:
        """Show what a lesson step names (t, schedule_1, schedule_2, align_by_snr)."""
        view_hooks.apply_schedules_state(self, state)

    def shutdown(self) -> bool:
        s = self.settings
        s.setValue("schedules/columns", [",".join(map(str, vars(c.settings()).values())) for c in self.columns])
        s.setValue("schedules/source", self.source_combo.currentText())
        s.setValue("schedules/seed", self.seed_spin.value())
        s.setValue("schedules/align_snr", self.align_check.isChecked())
        self.learn_panel.shutdown()
        s.setValue("schedules/log_snr_knots", [f"{v:.4f}" for v in self.log_snr_editor.values()])
        return True

    # --- internals ------------------------------------------------------------------------------

    def _add_column(self, column_settings: ColumnSettings) -> ScheduleColumn:
        column = ScheduleColumn(len(self.columns), column_settings, knots=self.log_snr_editor.values())
        column.changed.connect(self._on_schedules_changed)
        column.remove_requested.connect(self._on_remove_requested)
        self.columns.append(column)
        self.columns_row.addWidget(column, stretch=1)
        return column

    def _load_image(self) -> None:
        if self.source_combo.currentText() == "Coloured shapes":
            from core.data import make_shapes

            x0 = make_shapes(NUM_IMAGES, seed=3, size=32).images
        else:
            from core.data import load_fashion_mnist

            x0 = load_fashion_mnist("test", limit=NUM_IMAGES).images
        generator = torch.Generator().manual_seed(self.seed_spin.value())
        self._x0 = np.ascontiguousarray(x0.numpy())
        self._eps = torch.randn(x0.shape, generator=generator).numpy()  # the same ε for every column
        for column in self.columns:
            column.xt = None

    def _render(self) -> None:
        timesteps = self.column_timesteps()
        for column, t in zip(self.columns, timesteps, strict=True):
            s = column.schedule
            if column.xt is None or column.xt.shape != self._x0.shape:
                column.xt = np.empty_like(self._x0)
            column.panel.set_batch(self._noised(s, t, out=column.xt), ncols=2)
            column.t = t
            q = s.at(t)
            column.position_label.setText(f"t = {t} of {s.num_timesteps}   ·   SNR = {q['snr_db']:+.1f} dB")
        self._update_cursor(timesteps)
        self.values_changed.emit()

    def _noised(self, schedule: NoiseSchedule, t: int, out: np.ndarray | None = None) -> np.ndarray:
        """x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM eq. 4) with this view's x_0 and ε, into ``out``."""
        a, sigma = float(schedule.sqrt_alphas_cumprod[t]), float(schedule.sqrt_one_minus_alphas_cumprod[t])
        out = np.empty_like(self._x0) if out is None else out
        np.multiply(self._eps, sigma, out=out)
        out += a * self._x0
        return out

    def _update_cursor(self, timesteps: list[int]) -> None:
        first = self.columns[0].schedule
        x = self.scrubber.value() / first.num_timesteps
        for cursor in self.cursors:
            cursor.blockSignals(True)
            cursor.setValue(x)
            cursor.blockSignals(False)
        for key, marker in self.markers.items():
            spots = []
            for column, t in zip(self.columns, timesteps, strict=True):
                y = self._curve_values(column.schedule, key)[t]
                if key == "beta":
                    y = np.log10(y)  # the β plot is in log mode: items take log10 coordinates
                spots.append({"pos": (t / column.schedule.num_timesteps, y), "brush": pg.mkBrush(column.colour)})
            marker.setData(spots)

    @staticmethod
    def _curve_values(schedule: NoiseSchedule, key: str) -> np.ndarray:
        return {"beta": schedule.betas, "alpha_bar": schedule.alphas_cumprod, "log_snr": schedule.log_snr}[key].numpy()

    def on_theme_changed(self) -> None:
        """The main window switched theme: column colours, curves, cursors and markers follow it."""
        theme = themes.current()
        for i, column in enumerate(self.columns):
            column.set_index(i)
        for cursor in self.cursors:
            cursor.setPen(pg.mkPen(theme.plot_axis, width=1, style=Qt.PenStyle.DashLine))
        for marker in self.markers.values():
            marker.setPen(pg.mkPen(theme.plot_text, width=1.5))
        self._rebuild_curves()

    def _rebuild_curves(self) -> None:
        for key, plot in self.plots.items():
            for item in self.curves[key]:
                plot.removeItem(item)
            self.curves[key] = []
            for i, column in enumerate(self.columns):
                s = column.schedule
                x = np.arange(s.num_timesteps) / s.num_timesteps
                name = f"{i + 1}: {s.kind}, T={s.num_timesteps}" if key == "alpha_bar" else None
                item = plot.plot(x, self._curve_values(s, key), pen=themes.thick_pen(column.colour), name=name)
                self.curves[key].append(item)
            plot.enableAutoRange(axis="y")

    def _scrubber_label(self, t: int) -> str:
        if not self.columns:
            return ""
        return f"t/T = {t / self.columns[0].schedule.num_timesteps:.3f}"

    # --- handlers -------------------------------------------------------------------------------

    @Slot()
    def _on_schedules_changed(self) -> None:
        first = self.columns[0].schedule
        self.scrubber.blockSignals(True)
        old_fraction = self.scrubber.value() / max(self.scrubber.maximum(), 1) if self.scrubber.maximum() else 0.3
        self.scrubber.setRange(0, first.num_timesteps - 1)
        self.scrubber.setValue(round(old_fraction * (first.num_timesteps - 1)))
        self.scrubber.blockSignals(False)
        self.scrubber.setLabelFunction(self._scrubber_label)
        self.add_button.setEnabled(len(self.columns) < MAX_COLUMNS)
        for column in self.columns:
            column.remove_button.setEnabled(len(self.columns) > MIN_COLUMNS)
        drawn = [c for c in self.columns if c.settings().kind == DRAWN_KIND]
        self.log_snr_editor.show_for(drawn[0].colour if drawn else None)
        self._rebuild_curves()
        self._render()
        self.status_changed.emit("Comparing " + ", ".join(s.label for s in self.schedules))

    @Slot(object)
    def _on_knots_changed(self, knots) -> None:
        """A control point was dragged: every drawn column takes the new log-SNR, then curves and images follow."""
        for column in self.columns:
            column.knots = knots
            if column.settings().kind == DRAWN_KIND:
                column.schedule = column.settings().make(knots)
        self._on_schedules_changed()

    @Slot(object)
    def _on_learned_knots(self, knots) -> None:
        """A schedule was learned (VDM): it becomes the drawn one, shown in the last column if none is drawn."""
        if not any(c.settings().kind == DRAWN_KIND for c in self.columns):
            self.columns[-1].kind_combo.setCurrentText(DRAWN_KIND)
        self.log_snr_editor.set_values(knots)

    @Slot()
    def _on_add_clicked(self) -> None:
        self.add_column()

    @Slot()
    def _on_remove_requested(self) -> None:
        column = self.sender()
        if column in self.columns:
            self.remove_column(self.columns.index(column))

    @Slot(bool)
    def _on_align_toggled(self, _checked: bool) -> None:
        self._render()

    @Slot(int)
    def _on_t_changed(self, _t: int) -> None:
        self._render()

    @Slot()
    def _on_image_changed(self) -> None:
        self._load_image()
        self._render()

    @Slot(object)
    def _on_cursor_dragged(self, cursor: pg.InfiniteLine) -> None:
        T = self.columns[0].schedule.num_timesteps
        self.scrubber.setValue(round(float(cursor.value()) * T))

    # --- export ---------------------------------------------------------------------------------

    def export_actions(self) -> list[export.ExportAction]:
        def write_csv(path):
            named = {f"{i + 1}: {s.label}": s for i, s in enumerate(self.schedules)}
            return export.save_schedule_csv(path, named)

        def write_png(path):
            pictures = [export.grid_picture(self._noised(c.schedule, c.t), nrow=2) for c in self.columns]
            captions = [f"{i + 1}: {c.schedule.kind}, t = {c.t}" for i, c in enumerate(self.columns)]
            return export.save_strip_png(path, pictures, captions)

        return [
            export.ExportAction("CSV of the schedule curves…", export.CSV_FILTER, "schedules.csv", write_csv),
            export.ExportAction("PNG of the columns side by side…", export.PNG_FILTER, "schedules.png", write_png),
        ]
