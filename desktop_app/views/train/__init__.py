"""The panels the Train view (``desktop_app/views/train_view.py``) is made of.

Each module holds one thing the user sees: ``setup_panel`` (the settings column, read as a
``TrainConfig``) with its ``data_picker`` (the Data box) and ``speed_estimate`` (the measured
"Size / speed" line); ``run_controls`` (Start, Pause, Stop, Save, Load & resume, log-y);
``progress_panel`` (the progress bar and the line of numbers); ``loss_curves`` (loss, gradient norm
and loss per timestep); ``preview_panel`` (samples from the EMA weights improving). Panels expose
Qt signals for what the user does and methods the view feeds with core's training events; the view
owns the training worker and wires the panels together. ``saved_runs`` (checkpoint file names,
the settings a saved run resumes with), ``formatting`` and ``form_parts`` are small helpers.
"""
