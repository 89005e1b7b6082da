"""TrainingWorker: drives ``core.training.train`` for the Train view."""

from __future__ import annotations

from desktop_app.workers.event_stream import EventStreamWorker


class TrainingWorker(EventStreamWorker):
    """Drives ``core.training.train`` and forwards its events in batches (``events(list)``).

    Every event reaches the GUI (the loss curve needs every step), but grouped so the GUI thread
    handles at most ``UPDATE_HZ`` batches per second. Rare events (Started, Preview, Paused,
    CheckpointSaved, Finished…) are sent at once. ``pause``/``resume``/``stop``/``request_save``
    set flags of core's thread-safe ``TrainingControl``; call them from the GUI thread.
    """

    FREQUENT = ("StepEvent", "TimestepLosses")
    BREAK_ON_STOP = False  # train() sees the stop flag, writes its final checkpoint and finishes

    def __init__(self, config, *, resume_from=None, checkpoint_dir=None, train_function=None, control=None) -> None:
        super().__init__()
        if control is None or train_function is None:
            from core import training

            control = control if control is not None else training.TrainingControl()
            train_function = train_function or training.train
        self.config = config
        self.resume_from = resume_from
        self.checkpoint_dir = checkpoint_dir
        self.control = control
        self._train = train_function
        self.last_step = 0
        self.finished_event = None  # the Finished event, once training ended normally

    def make_events(self):
        return self._train(self.config, self.control, resume_from=self.resume_from, checkpoint_dir=self.checkpoint_dir)

    def on_event(self, event) -> None:
        self.last_step = getattr(event, "step", self.last_step)
        if type(event).__name__ == "Finished":
            self.finished_event = event

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        self.request_stop()

    def request_stop(self) -> None:
        super().request_stop()
        if self.discarded:
            self.control.resume()  # wake a paused loop: its next event ends the run, without the final save
        else:
            self.control.stop()  # train() stops between steps and writes its final checkpoint

    def request_save(self, path) -> None:
        self.control.request_save(path)

    def discard(self) -> None:
        """Stop without the final save: the loop is left at the next event and the generator closed.

        ``control.stop()`` is deliberately not used: train() writes its final checkpoint as soon as it
        sees the stop flag, before yielding again.
        """
        super().discard()
