"""The Compare view's controls: which data, the GAN's stability switch, steps, and the run buttons."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.data import TOY_DATASETS
from desktop_app.views.compare.jobs import GAN_SETTINGS
from desktop_app.views.fast.controls_panel import TOY_TITLES
from desktop_app.widgets.flow_row import FlowRow

IMAGES = "fashion_mnist"


class CompareControls(QWidget):
    """Every press is a signal; ``set_state`` enables what makes sense."""

    train_requested = Signal()
    pause_requested = Signal()
    stop_requested = Signal()
    save_requested = Signal()
    resume_requested = Signal()
    measure_requested = Signal()
    dataset_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.dataset_combo = QComboBox()
        for name in TOY_DATASETS:
            self.dataset_combo.addItem(f"2-D: {TOY_TITLES.get(name, name)}", name)
        self.dataset_combo.addItem("Fashion-MNIST (shipped models)", IMAGES)
        self.dataset_combo.setCurrentIndex(TOY_DATASETS.index("eight_gaussians"))
        self.dataset_combo.setToolTip(
            "The data all three models learn: a 2-D toy (trained here, live) or Fashion-MNIST (the shipped models)"
        )
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_index)
        self.gan_combo = QComboBox()
        for key, (label, tip, _) in GAN_SETTINGS.items():
            self.gan_combo.addItem(label, key)
            self.gan_combo.setItemData(self.gan_combo.count() - 1, tip, 3)  # 3 = Qt.ToolTipRole
        self.gan_combo.setToolTip("The GAN's stability switch; the last one is known to collapse on 8 Gaussians")
        self.steps = QSpinBox()
        self.steps.setRange(50, 20000)
        self.steps.setSingleStep(250)
        self.steps.setValue(1500)
        self.steps.setToolTip("Optimizer steps for each of the three models (each trains on its own thread)")
        self.train_button = QPushButton("▶ Train all three")
        self.train_button.setToolTip("Train diffusion, GAN and VAE on the same data at the same time")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause or resume all three between two steps")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop all three after their current step (they keep what they learned)")
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the three models (with their training state) into a folder")
        self.resume_button = QPushButton("Resume…")
        self.resume_button.setToolTip(
            "Continue runs saved from this view (diffusion, GAN or VAE checkpoints) for Steps more steps"
        )
        self.measure_button = QPushButton("Measure")
        self.measure_button.setToolTip("Fill the table: samples, modes, precision/recall, likelihood, speed")
        self.train_button.clicked.connect(self.train_requested)
        self.pause_button.clicked.connect(self.pause_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.save_button.clicked.connect(self.save_requested)
        self.resume_button.clicked.connect(self.resume_requested)
        self.measure_button.clicked.connect(self.measure_requested)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setToolTip("What the view is doing, and what the last measurement found")

        row = FlowRow()
        for text, widget in (("Data", self.dataset_combo), ("GAN", self.gan_combo), ("Steps", self.steps)):
            label = QLabel(text)
            label.setToolTip(widget.toolTip())
            row.addWidget(label)
            row.addWidget(widget)
        buttons = (self.train_button, self.pause_button, self.stop_button, self.save_button, self.resume_button)
        for button in (*buttons, self.measure_button):
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.message)
        self.set_state(training=False, trained=False)

    def dataset(self) -> str:
        return self.dataset_combo.currentData()

    def gan_setting(self) -> str:
        return self.gan_combo.currentData()

    def images(self) -> bool:
        return self.dataset() == IMAGES

    def show_message(self, text: str) -> None:
        self.message.setText(text)

    def set_state(self, *, training: bool, trained: bool, busy: bool = False) -> None:
        toys = not self.images()
        self.train_button.setEnabled(toys and not training and not busy)
        self.gan_combo.setEnabled(toys and not training)
        self.steps.setEnabled(toys and not training)
        self.dataset_combo.setEnabled(not training and not busy)
        self.pause_button.setEnabled(training)
        self.stop_button.setEnabled(training)
        self.save_button.setEnabled(training or (trained and toys))
        self.resume_button.setEnabled(not training and not busy)
        self.measure_button.setEnabled(trained and not training and not busy)
        if not training:
            self.pause_button.setChecked(False)

    @Slot(int)
    def _on_dataset_index(self, _index: int) -> None:
        self.dataset_changed.emit(self.dataset())
