"""Asking before trained models are lost: closing the window, switching the data, or training again.

The same question as the Train view's (Save / Discard / Cancel); Save then asks for a folder. Kept here
so the view only decides *when* to ask."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


def ask_to_save(parent: QWidget, titles: list[str], running: bool, action: str) -> str:
    """SAVE, DISCARD or CANCEL for the unsaved models ``titles`` ("GAN", "VAE" …) before ``action``."""
    names = ", ".join(titles)
    title = "Training is running" if running else "Unsaved models"
    text = (
        f"{names} trained in this view {'are' if len(titles) > 1 else 'is'} not saved. Save before {action}?\n\n"
        "Save keeps a checkpoint of each run that the Resume… button can continue later."
    )
    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(parent, title, text, buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
    if answer == buttons.Save:
        return SAVE
    if answer == buttons.Discard:
        return DISCARD
    return CANCEL


def choose_folder(parent: QWidget) -> str:
    """A folder for ``<kind>.safetensors`` files, or "" when the person cancels."""
    return QFileDialog.getExistingDirectory(parent, "Save the models into a folder")


def choose_checkpoints(parent: QWidget) -> list[str]:
    """Checkpoints to resume (one per kind), or [] when the person cancels."""
    files, _ = QFileDialog.getOpenFileNames(
        parent, "Resume saved runs (diffusion, GAN or VAE)", "", "Checkpoints (*.safetensors)"
    )
    return files


class RunLedger:
    """Which runs trained in the view are saved: the step each reached, the step last saved, and each
    run's final checkpoint (written with its training state into the view's own folder)."""

    def __init__(self):
        self.trained: dict[str, int] = {}
        self.saved: dict[str, int] = {}
        self.final_paths: dict[str, str] = {}

    def forget(self, kind: str) -> None:
        for record in (self.trained, self.saved, self.final_paths):
            record.pop(kind, None)

    def finished(self, kind: str, step: int, checkpoint_path: str | None) -> None:
        self.trained[kind] = step
        if checkpoint_path:
            self.final_paths[kind] = checkpoint_path

    def unsaved(self, running: list[str]) -> list[str]:
        kinds = [*running, *(k for k, step in self.trained.items() if step > self.saved.get(k, -1))]
        return [k for k in ("diffusion", "gan", "vae") if k in kinds]


def settle_unsaved(parent: QWidget, runs: RunLedger, jobs: dict, models: dict, action: str, show_message) -> bool:
    """Before ``action`` would lose unsaved runs: ask Save / Discard / Cancel. Save writes each run into a
    chosen folder as ``<kind>.safetensors`` (a running one saves at its next step and stops; a finished
    one is copied from its final checkpoint); Discard stops running ones without saving. False: cancelled."""
    from core.evaluation.compare import KIND_TITLES
    from desktop_app.views.compare.jobs import save_models

    running = [k for k, job in jobs.items() if job.running]
    kinds = runs.unsaved(running)
    if not kinds:
        return True
    answer = ask_to_save(parent, [KIND_TITLES[k] for k in kinds], bool(running), action)
    if answer == CANCEL:
        return False
    folder = choose_folder(parent) if answer == SAVE else ""
    if answer == SAVE and not folder:
        return False
    for kind in running:
        if folder:
            jobs[kind].worker.request_save(Path(folder) / f"{kind}.safetensors")  # written as the loop stops
        else:
            jobs[kind].worker.discard()
    for kind in running:
        jobs[kind].stop()
    finished = {k: models[k] for k in kinds if k not in running and k in models}
    if folder and finished:
        save_models(finished, Path(folder), runs.final_paths)
    if folder:
        show_message(f"Saved into {folder}.")
    runs.trained.clear()
    return True
