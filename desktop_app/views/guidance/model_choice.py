"""The Guidance view's chosen model and its noise-conditional classifier, and why either kind of guidance
cannot be used with them (no Qt: the view shows the words).

Classifier-free guidance needs a model trained with classes; classifier guidance needs a classifier
p(c | x_t) for the model's data (``resources/models/noisy_classifier_*.safetensors``, trained by
``scripts/train_noisy_classifier.py``) that fits it: same sample shape, same number of timesteps and,
for a class-conditional model, the same classes (``core.diffusion.classifier_guidance.check_classifier_fits``).
"""

from __future__ import annotations

from pathlib import Path

from core.diffusion.classifier_guidance import check_classifier_fits
from core.io import load_denoiser
from core.models.noisy_classifier import NoisyClassifierError, load_noisy_classifier
from desktop_app import paths
from desktop_app.views.generate.model_panel import sample_shape


def classifier_file_for(metadata: dict) -> Path | None:
    """The bundled noisy classifier for a model's data set (None when there is none)."""
    dataset = str(metadata.get("dataset_name") or metadata.get("dataset") or "")
    name = "noisy_classifier_fmnist" if dataset == "fashion_mnist" else f"noisy_classifier_toy_{dataset}"
    path = paths.resources_dir() / "models" / f"{name}.safetensors"
    return path if dataset and path.is_file() else None


class GuidanceModels:
    """The checkpoint being guided, its classifier (or why there is none) and the checks of both."""

    def __init__(self):
        self.checkpoint = None
        self.metadata: dict = {}
        self.classifier = None
        self.classifier_problem = ""

    def load(self, entry) -> None:
        """Load ``entry``'s checkpoint and the classifier for its data (CheckpointError / OSError if unreadable)."""
        self.checkpoint, self.classifier, self.metadata = None, None, dict(entry.metadata)
        self.checkpoint = load_denoiser(entry.path)
        path = classifier_file_for(self.metadata)
        if path is None:
            self.classifier_problem = (
                f"There is no noise-conditional classifier for {self.metadata.get('dataset_name') or 'this model'}'s "
                "data, so classifier guidance cannot be used with it (scripts/train_noisy_classifier.py trains them "
                "for Fashion-MNIST and the labelled 2-D toys)."
            )
            return
        try:
            self.use_classifier(load_noisy_classifier(path))
        except (NoisyClassifierError, ValueError) as error:
            self.classifier_problem = str(error)

    def clear(self) -> None:
        self.__init__()

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return sample_shape(self.checkpoint)

    @property
    def conditional(self) -> bool:
        return bool(int(getattr(self.checkpoint.model, "num_classes", 0) or 0))

    def use_classifier(self, classifier) -> None:
        """Guide with ``classifier`` (ValueError in words, and nothing changed, if it does not fit the model)."""
        if self.checkpoint is None:
            raise ValueError("Choose a model first.")
        check_classifier_fits(classifier, sample_shape=self.sample_shape,
                              num_timesteps=self.checkpoint.schedule.num_timesteps,
                              class_names=self.metadata.get("class_names") if self.conditional else None)  # fmt: skip
        self.classifier, self.classifier_problem = classifier, ""

    def class_names(self, mode: str) -> list[str]:
        """The classes the ``mode`` guidance can aim at: the classifier's, or the model's own."""
        if mode == "classifier" and self.classifier is not None:
            return list(self.classifier.class_names)
        return [str(n) for n in self.metadata.get("class_names", []) or []]

    def problem(self, mode: str) -> str:
        """Why the chosen model cannot be guided the ``mode`` way ("cfg" or "classifier"); "" when it can."""
        if self.checkpoint is None:
            return "Choose a model first."
        if mode == "classifier":
            return self.classifier_problem if self.classifier is None else ""
        if not self.conditional:
            return (
                "This model was trained without classes, so it has no ε(x_t, c): classifier-free guidance needs a "
                "class-conditional model. Choose 'Classifier ∇log p' guidance, or a model trained with classes."
            )
        return ""
