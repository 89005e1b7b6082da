"""The loss history of a run: (step, loss, gradient norm) of every logged step, kept with its checkpoint.

A resumed run starts from the history stored in its checkpoint's training state, so the loss curve
shows the whole run, not only the steps since the resume point. Checkpoints written before the
history was stored have none: their curve starts at the resume point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class LossHistory:
    """Logged steps in order; ``steps``, ``losses`` and ``grad_norms`` have the same length."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.steps)

    def append(self, step: int, loss: float, grad_norm: float) -> None:
        self.steps.append(int(step))
        self.losses.append(float(loss))
        self.grad_norms.append(float(grad_norm))

    def to_state(self) -> dict[str, torch.Tensor]:
        """Tensors for a checkpoint's training state (float64 losses: the CSV export stays exact)."""
        return {
            "step": torch.tensor(self.steps, dtype=torch.int64),
            "loss": torch.tensor(self.losses, dtype=torch.float64),
            "grad_norm": torch.tensor(self.grad_norms, dtype=torch.float64),
        }

    @classmethod
    def from_state(cls, state) -> LossHistory:
        """Inverse of ``to_state``; None (an older checkpoint) gives an empty history.

        A malformed entry raises ``ValueError``.
        """
        if state is None:
            return cls()
        try:
            steps = torch.as_tensor(state["step"]).reshape(-1).tolist()
            losses = torch.as_tensor(state["loss"]).reshape(-1).tolist()
            grads = torch.as_tensor(state["grad_norm"]).reshape(-1).tolist()
        except (KeyError, TypeError, RuntimeError) as error:
            raise ValueError(f"the stored loss history cannot be read ({error})") from error
        if not len(steps) == len(losses) == len(grads):
            raise ValueError("the stored loss history has columns of different lengths")
        return cls([int(s) for s in steps], [float(x) for x in losses], [float(g) for g in grads])
