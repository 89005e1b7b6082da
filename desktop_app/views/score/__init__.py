"""The panels of the Score & likelihood view (``desktop_app/views/score_view.py`` composes them)."""
