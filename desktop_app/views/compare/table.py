"""The measured comparison table: one row per measure, one column per kind of model.

The numbers come from ``core.evaluation.compare.Measurement``; where a kind of model has no such
number the cell says why ("cannot compute" for a GAN's likelihood), never a blank or a made-up value.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from core.evaluation.compare import KIND_TITLES, KINDS

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
)


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
            for col in range(len(KINDS)):
                self.setItem(row, col, QTableWidgetItem("…"))

    def show_mode(self, images: bool, eight_gaussians: bool = True) -> None:
        """Hide the rows that do not apply: FID for points; MMD and mode counts for images."""
        hidden = {"fid"} if not images else {"mmd", "modes", "quality"}
        if not images and not eight_gaussians:
            hidden |= {"modes", "quality"}
        for row, (key, _, _) in enumerate(ROWS):
            self.setRowHidden(row, key in hidden)

    def set_measurement(self, m, images: bool) -> None:
        col = KINDS.index(m.kind)
        for row, (key, _, tip) in enumerate(ROWS):
            item = QTableWidgetItem(cells(m, images)[key])
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setToolTip(m.nll_note if key == "nll" else tip)
            self.setItem(row, col, item)

    def text(self, key: str, kind: str) -> str:
        row = [k for k, _, _ in ROWS].index(key)
        return self.item(row, KINDS.index(kind)).text()
