"""The parts of the Forward process view (``desktop_app.views.forward_view.ForwardView``).

``sources`` loads what the forward process starts from (no Qt); ``frame_buffers`` fills the
per-frame arrays (no Qt); ``source_panel``, ``schedule_panel``, ``mode_panel``, ``frame_panel`` and
``numbers_panel`` are the widgets the view is composed of, each exposing Signals for what the user
does and a small dataclass for its state; ``chain_worker`` runs the Markov chain off the GUI thread.
"""
