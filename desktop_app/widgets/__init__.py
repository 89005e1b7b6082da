"""Reusable widgets of the desktop app.

- ``timeline_scrubber.TimelineScrubber``: the slider + spin box + play/pause/loop timeline shared by
  every view that shows a process over time.
- ``image_panel``: pyqtgraph image/grid panels (``ImagePanel``) and value-histogram helpers.

Modules are imported directly (``from desktop_app.widgets.timeline_scrubber import TimelineScrubber``)
so this package stays cheap to import.
"""
