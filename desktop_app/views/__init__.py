"""The four views of the main window, and the contract each of them honours.

``MainWindow`` (desktop_app/main_window.py) builds every view the same way and talks to it only
through the names below, so a view can be written without reading the window's code.

Constructor
    ``View(settings: QSettings, parent: QWidget | None = None)``; a ``QWidget`` subclass. The view
    stores its own knobs in ``settings`` under a group named after it (``settings.beginGroup("forward")``).
    Construction must be quick and start no long torch work (the window is shown right after).

Class attribute
    ``title: str`` — the name in the sidebar ("Forward process", "Schedules", "Train", "Generate").

Optional members (looked up with ``getattr``; leave out what a view does not need)
    ``status_changed = Signal(str)``
        a short line for the window's status bar ("Fashion-MNIST test images · linear T=1000").
    ``shutdown() -> bool``
        called from the window's ``closeEvent``; stop workers cleanly here. Return False to cancel
        closing (e.g. the user pressed Cancel at "Save the training run?").
    ``export_actions() -> list[ExportAction]``
        what File ▸ Export… offers while this view is shown (see ``desktop_app.export.ExportAction``:
        a label such as "PNG strip of 8 timesteps…", a file-dialog filter, a default file name and a
        ``write(path) -> Path`` callable that writes the file using the helpers in
        ``desktop_app.export``). The window shows a menu of them; with none the item is disabled.
    ``on_shown()``
        called each time the view becomes the visible one (a good moment for lazy loading).

Cross-view hooks the window connects
    ``TrainView.model_trained = Signal(object)`` (a ``core.io.checkpoints.Checkpoint``-like object with
    ``model``, ``schedule``, ``metadata``) → ``GenerateView.add_model(obj)``.
    A dropped or opened ``.safetensors`` file → ``GenerateView.open_checkpoint(path)``.
    A dropped or opened image → ``ForwardView.open_image(path)``.
    Status-bar facts: a view may also expose ``dataset_name() -> str`` / ``model_name() -> str``;
    the window shows them in its status area when present.

Shared widgets
    ``desktop_app.widgets.timeline_scrubber.TimelineScrubber`` is the one timeline control of the app;
    ``desktop_app.widgets.image_panel`` has pyqtgraph image/grid panels and value histograms.
"""
