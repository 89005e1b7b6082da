"""Reusable widgets of the desktop app.

- ``timeline_scrubber.TimelineScrubber``: the slider + spin box + play/pause/loop timeline shared by
  every view that shows a process over time.
- ``image_panel``: fast image/grid panels (``ImagePanel``, an RGB32 QImage painted directly) and the
  value histogram.
- ``loss_plot.LossPlot``: a live training curve (raw + smoothed, log-y, steady axes).
- ``point_cloud.PointCloudPlot``: 2-D samples with trajectories.
- ``drawing_canvas``: draw a 2-D dataset with the mouse (``DrawingDialog``).
- ``form_helpers``: the device choice and label-plus-button rows the views' forms share.

Modules are imported directly (``from desktop_app.widgets.timeline_scrubber import TimelineScrubber``)
so this package stays cheap to import.
"""
