"""The measured comparison table: one row per measure, one column per kind of model.

The numbers come from ``core.evaluation.compare.Measurement``; where a kind of model has no such
number the cell says why ("cannot compute" for a GAN's likelihood), never a blank or a made-up value.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from core.evaluation.compare import KIND_TITLES, KINDS

TITLES = KIND_TITLES

ROWS = (  # (key, label, tooltip)
    ("modes", "Modes covered (8 Gaussians)", "VEEGAN: modes with a tenth of their fair share of samples within 3σ"),
    ("quality", "High-quality samples", "VEEGAN: samples within 3σ of a mode (fidelity)"),
    ("fid", "FID", "Fréchet distance of classifier features to real test images; lower is better"),
    ("precision", "Precision (fidelity)", "Kynkäänniemi et al. 2019: samples inside the real data's k-NN balls"),
    ("recall", "Recall (diversity)", "Kynkäänniemi et al. 2019: real data inside the samples' k-NN balls"),
    ("mmd", "MMD² to the data", "Kernel distance between samples and fresh data points; lower is better"),
    ("nll", "NLL (likelihood)", "Negative log-likelihood of held-out data: exact (diffusion, 2-D), a bound, or none"),
    ("speed", "Seconds per sample", "Wall time to draw one sample here (network calls per sample in brackets)"),
    ("params", "Parameters", "All trained weights (those needed to sample in brackets)"),
    (
        "time",
        "Training time to FID ≤ X",
        "CPU-seconds (1 thread) of the recorded training run until its samples first reached FID ≤ X, X being "
        "a FID all three reach; read from the FID history the recipes recorded (docs/quality.md)",
    ),
)
TIME_ROW = [key for key, _, _ in ROWS].index("time")


def cells(m, images: bool) -> dict[str, str]:
    """The text of each row for one ``Measurement``."""
    unit = "bits/dim" if images else "nats"
    out = {
        "precision": f"{m.precision:.2f}",
        "recall": f"{m.recall:.2f}",
        "speed": f"{m.seconds_per_sample:.2g} s ({m.network_calls_per_sample} calls)",
        "params": f"{m.parameters:,} ({m.sampling_parameters:,})",
        "fid": f"{m.fid:.1f}" if m.fid is not None else "— (2-D)",
        "mmd": f"{m.mmd:.3f}" if m.mmd is not None else "— (images)",
        "modes": f"{m.modes.modes_covered} / {m.modes.num_modes}" if m.modes is not None else "—",
        "quality": f"{100 * m.modes.high_quality_fraction:.0f}%" if m.modes is not None else "—",
    }
    if m.nll is None:
        out["nll"] = "cannot compute (no density)" if m.kind == "gan" else "not measured"
    elif m.kind == "vae":
        out["nll"] = f"≤ {m.nll:.3f} {unit} (−ELBO {m.elbo_nll:.3f})"
    else:
        out["nll"] = f"{m.nll:.3f} {unit}" + (" (bound)" if images else " (exact)")
    return out


class MeasuredTable(QTableWidget):
    """Rows of measures × columns diffusion / GAN / VAE, filled by ``set_measurement``."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(len(ROWS), len(KINDS), parent)
        self.setHorizontalHeaderLabels([KIND_TITLES[k] for k in KINDS])
        self.setVerticalHeaderLabels([label for _, label, _ in ROWS])
        for row, (_, _, tip) in enumerate(ROWS):
            self.verticalHeaderItem(row).setToolTip(tip)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setCornerButtonEnabled(False)  # "select all" means nothing in a read-only table
        self.setToolTip("Measured on this machine with the project's metrics; press Measure after training")
        self.setMinimumHeight(120)
        self.clear_values()

    def clear_values(self) -> None:
        for row in range(len(ROWS)):
            if row == TIME_ROW and self.item(row, 0) is not None:
                continue  # the training record does not change with a new measurement
            for col in range(len(KINDS)):
                self.setItem(row, col, QTableWidgetItem("…"))

    def show_mode(self, images: bool, eight_gaussians: bool = True) -> None:
        """Hide the rows that do not apply: FID for points; MMD and mode counts for images."""
        hidden = {"fid", "time"} if not images else {"mmd", "modes", "quality"}
        if not images and not eight_gaussians:
            hidden |= {"modes", "quality"}
        for row, (key, _, _) in enumerate(ROWS):
            self.setRowHidden(row, key in hidden)

    def set_time_to_fid(self, threshold: float | None, texts: dict[str, str]) -> None:
        """The "training time to FID ≤ X" row: its X in the label, one recorded answer per kind."""
        label = f"Training time to FID ≤ {threshold:g}" if threshold is not None else "Training time to a FID"
        self.verticalHeaderItem(TIME_ROW).setText(label)
        for kind, text in texts.items():
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setToolTip(ROWS[TIME_ROW][2])
            self.setItem(TIME_ROW, KINDS.index(kind), item)

    def set_measurement(self, m, images: bool) -> None:
        col = KINDS.index(m.kind)
        for row, (key, _, tip) in enumerate(ROWS):
            if key == "time":  # recorded during training, not measured here (set_time_to_fid)
                continue
            item = QTableWidgetItem(cells(m, images)[key])
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setToolTip(m.nll_note if key == "nll" else tip)
            self.setItem(row, col, item)

    def text(self, key: str, kind: str) -> str:
        row = [k for k, _, _ in ROWS].index(key)
        return self.item(row, KINDS.index(kind)).text()


def summary(measurements: dict) -> str:
    """One sentence of what a measurement found (the view's message line), a collapse named as such."""
    parts = []
    for kind in [k for k in KINDS if k in measurements]:
        m = measurements[kind]
        text = f"{TITLES[kind]}: "
        text += m.modes.describe() if m.modes is not None else f"FID {m.fid:.1f}" if m.fid is not None else ""
        parts.append(text + f", recall {m.recall:.2f}")
    gan = measurements.get("gan")
    if gan is not None and gan.modes is not None and gan.modes.collapsed:
        parts.append("the GAN has collapsed: it misses modes of the data")
    return "; ".join(parts) + "."
