"""View ▸ Pipeline and U-Net diagram…: the sampling loop and the network drawn from the model's own modules.

Top row: the pipeline (x_T ~ N(0, I) → the U-Net predicts ε̂ → the sampler's step x_t → x_{t−1},
repeated T … 1 times → x₀). Below it, the U-Net as ``core.models.inspection.network_blocks`` lists
it: the encoder down the left, the bottleneck at the bottom, the decoder up the right, each skip
connection a dashed line from the encoder block whose output the decoder block concatenates.

Clicking a block shows its tensor shapes for the chosen input size (``trace_shapes``: a real forward
pass with hooks) and, when Generate has a model loaded, "Show activations" runs that model once on the
current x_t (Generate's timeline at its scrubbed step, else fresh noise x_T at t = T − 1) on a worker
thread and shows the block's first feature maps (``record_activations``).
"""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QImage, QPalette, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.models.inspection import network_blocks, record_activations, trace_shapes
from desktop_app.teacher.diagram_scene import PIPELINE, DiagramScene, FittedView
from desktop_app.workers import BackgroundJob, CallWorker

MAX_MAPS = 8  # feature maps shown per block


def _model_input_shape(model) -> tuple[int, ...]:
    config = getattr(model, "config", None)
    if hasattr(config, "image_size"):
        return (config.in_channels, config.image_size, config.image_size)
    return (2,)


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


class UNetDiagramDialog(QDialog):
    """The diagram beside what the chosen block sees: its shapes and, for a loaded model, its activations."""

    activations_shown = Signal(str)  # the block whose activations are now on screen

    def __init__(self, model, x_t: np.ndarray | None = None, t: int | None = None, labels=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("The pipeline and the U-Net")
        self.model = model
        self.trained = x_t is not None  # a loaded model with a current x_t: activations can be shown
        self.x_t, self.t, self.labels = x_t, t, labels
        self.blocks = {block.name: block for block in network_blocks(model)}
        self.chosen: str | None = None
        self._job = BackgroundJob(self)
        self._build_ui()
        self._on_size_changed()

    def _build_ui(self) -> None:
        text_colour = self.palette().color(QPalette.ColorRole.WindowText)
        self.scene = DiagramScene(list(self.blocks.values()), text_colour, self)
        self.scene.block_clicked.connect(self._on_block_clicked)
        self.view = FittedView(self.scene)
        self.view.setRenderHint(self.view.renderHints().Antialiasing)
        self.view.setMinimumSize(420, 360)
        self.view.setToolTip("Click a block to see the tensors that go in and out of it")
        shape = _model_input_shape(self.model)
        self.size_spin = QSpinBox()
        self.size_spin.setToolTip("The input image's side in pixels: the shapes below follow it")
        divisor = getattr(getattr(self.model, "config", None), "resolution_divisor", 0)
        if len(shape) == 3:
            self.size_spin.setRange(divisor, 8 * shape[-1])
            self.size_spin.setSingleStep(divisor)
            self.size_spin.setValue(shape[-1])
        else:
            self.size_spin.setEnabled(False)
        self.size_spin.valueChanged.connect(self._on_size_changed)
        self.title = QLabel("Click a block")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.activations_button = QPushButton("Show activations")
        self.activations_button.setEnabled(False)
        self.activations_button.setToolTip(
            "Run the loaded model once on the current x_t and show this block's first feature maps"
            if self.trained
            else "Load a model in Generate to see live activations"
        )
        self.activations_button.clicked.connect(self.show_activations)
        self.maps = QLabel("")
        self.maps.setAlignment(Qt.AlignmentFlag.AlignCenter)
        side = QVBoxLayout()
        size_row = QHBoxLayout()
        size_row.addWidget(QLabel("Input side"))
        size_row.addWidget(self.size_spin)
        size_row.addStretch(1)
        side.addLayout(size_row)
        for widget in (self.title, self.details, self.activations_button, self.maps):
            side.addWidget(widget)
        side.addStretch(1)
        panel = QWidget()
        panel.setLayout(side)
        panel.setMinimumWidth(300)
        layout = QHBoxLayout(self)
        layout.addWidget(self.view, stretch=1)
        layout.addWidget(panel)
        self.resize(1100, 700)

    def input_shape(self) -> tuple[int, ...]:
        shape = _model_input_shape(self.model)
        return (shape[0], self.size_spin.value(), self.size_spin.value()) if len(shape) == 3 else shape

    def select_block(self, key: str) -> None:
        """Select ``key``'s box, as a click does."""
        self.scene.clearSelection()
        self.scene.items_by_key[key].setSelected(True)

    @Slot()
    def _on_size_changed(self) -> None:
        try:
            self.shapes = trace_shapes(self.model, self.input_shape())
            self._shape_error = ""
        except ValueError as error:
            self.shapes, self._shape_error = {}, str(error)
        if self.chosen is not None:
            self._on_block_clicked(self.chosen)

    @Slot(str)
    def _on_block_clicked(self, key: str) -> None:
        self.chosen = key
        self.maps.clear()
        pipeline = {k: (text, about) for k, text, about in PIPELINE}
        if key in pipeline:
            self.title.setText(pipeline[key][0].replace("\n", ": "))
            self.details.setText(pipeline[key][1] + f"\nImage shape: {_shape_text((1, *self.input_shape()))}")
            self.activations_button.setEnabled(False)
            return
        block = self.blocks[key]
        self.title.setText(f"{block.name}: {block.label}")
        lines = [f"{block.parameters:,} parameters"]
        shapes = self.shapes.get(key)
        if shapes is not None:
            for i, shape in enumerate(shapes.inputs):  # a stage's second input is the time(+class) embedding
                role = "  (time embedding)" if i > 0 and len(shape) == 2 else ""
                lines.append(f"in:  {_shape_text(shape)}{role}")
            lines.append(f"out: {_shape_text(shapes.output)}")
        elif self._shape_error:
            lines.append(self._shape_error)
        if block.skip:
            lines.append("Its output is also kept for the decoder (skip connection).")
        self.details.setText("\n".join(lines))
        self.activations_button.setEnabled(self.trained and not self._job.running)

    @Slot()
    def show_activations(self) -> None:
        if self.chosen is None or not self.trained or self._job.running:
            return
        key, model, t = self.chosen, self.model, int(self.t)
        x_t = torch.from_numpy(np.ascontiguousarray(self.x_t[:1], dtype=np.float32))
        labels = None if self.labels is None else torch.as_tensor(self.labels[:1], dtype=torch.long)
        worker = CallWorker(lambda: (key, record_activations(model, x_t, t, labels, names=[key]).outputs[key]))
        worker.result.connect(self._on_activations)
        worker.errored.connect(self._on_error)
        self.activations_button.setEnabled(False)
        self._job.finished.connect(self._on_job_finished)
        self._job.start(worker)

    @Slot(object)
    def _on_activations(self, value) -> None:
        key, activation = value
        a = activation[0].numpy()
        text = f"at t = {self.t}: mean {a.mean():.3f}, std {a.std():.3f}, min {a.min():.2f}, max {a.max():.2f}"
        self.details.setText(self.details.text().split("\nat t =")[0] + "\n" + text)
        if a.ndim == 3:
            self.maps.setPixmap(_feature_maps(a[:MAX_MAPS]))
        self.activations_shown.emit(key)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.details.setText(self.details.text() + f"\nCould not run the model: {message}")

    @Slot()
    def _on_job_finished(self) -> None:
        self._job.finished.disconnect(self._on_job_finished)
        self.activations_button.setEnabled(self.trained and self.chosen in self.blocks)

    def done(self, result: int) -> None:  # closing waits for a running forward pass (milliseconds)
        self._job.wait()
        super().done(result)


def _feature_maps(maps: np.ndarray, side: int = 72) -> QPixmap:
    """(K, H, W) → K grey tiles in rows of four, each stretched to its own min…max."""
    tiles = []
    for m in maps:
        lo, hi = float(m.min()), float(m.max())
        tile = ((m - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(m)).astype(np.uint8)
        factor = max(1, side // max(tile.shape))
        tiles.append(np.pad(np.kron(tile, np.ones((factor, factor), np.uint8)), 2))
    h, w = tiles[0].shape
    columns = min(4, len(tiles))
    rows = -(-len(tiles) // columns)
    picture = np.zeros((rows * h, columns * w), np.uint8)
    for i, tile in enumerate(tiles):
        picture[i // columns * h : i // columns * h + h, i % columns * w : i % columns * w + w] = tile
    picture = np.ascontiguousarray(picture)
    image = QImage(picture.data, picture.shape[1], picture.shape[0], picture.shape[1], QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(image.copy())


def diagram_for_window(window) -> UNetDiagramDialog:
    """The diagram of Generate's loaded model at its current x_t, or of an untrained "small" U-Net (shapes only)."""
    generate = getattr(window, "views", {}).get("Generate")
    checkpoint = getattr(getattr(generate, "model_panel", None), "current", None)
    if checkpoint is None:
        from core.models import UNet, preset_config

        return UNetDiagramDialog(UNet(preset_config("small")).eval(), parent=window)
    model, run = checkpoint.model, getattr(generate, "run_a", None)
    recorder = getattr(run, "recorder", None)
    shape = _model_input_shape(model)
    x_t, t, labels = None, checkpoint.schedule.num_timesteps - 1, getattr(run, "labels", None)
    if recorder is not None and len(recorder):
        position = run.scrubber.value()
        frame_t = int(recorder.timesteps[position])
        if frame_t >= 0:
            x_t, t = recorder.frame(position).x_t, frame_t
    if x_t is None:  # no run to look at: fresh noise is exactly x_T, at t = T − 1
        x_t = torch.randn((1, *shape), generator=torch.Generator().manual_seed(0)).numpy()
        labels = None
    return UNetDiagramDialog(model, x_t, t, labels, parent=window)
