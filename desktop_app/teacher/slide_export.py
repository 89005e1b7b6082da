"""File ▸ Export view for slides…: the view on screen as a sharp PNG, an SVG and, where the view has a
timeline, an animated WebP of it; one file name asked, three files written.

- PNG: the view painted at ``SCALE``× the screen's pixels (``QWidget.render`` into a pixmap with that
  device pixel ratio), so text and curves stay sharp on a 4K projector or a printed handout;
- SVG: the same painting recorded by ``QSvgGenerator`` (Qt's text and plot lines stay vectors; images
  are embedded);
- WebP: the view's timeline (its visible ``TimelineScrubber``) moved through ``FRAMES`` evenly spaced
  positions, one picture each, written by Pillow; the scrubber goes back where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication, QWidget

from desktop_app.widgets.timeline_scrubber import TimelineScrubber

SCALE = 2.0  # device pixel ratio of the PNG: twice the pixels of the screen
FRAMES = 24  # timeline frames in the WebP
FRAME_MS = 120  # each frame's duration
MAX_ANIMATION_SIDE = 1280  # frames wider than this are scaled down (a WebP of a full view stays a few MB)


@dataclass(frozen=True)
class SlideFiles:
    png: Path
    svg: Path
    webp: Path | None  # None when the view has no timeline to animate


def render_png(widget: QWidget, path: Path, scale: float = SCALE) -> Path:
    """``widget`` painted at ``scale``× its size in pixels."""
    pixmap = QPixmap(widget.size() * scale)
    pixmap.setDevicePixelRatio(scale)
    pixmap.fill(widget.palette().window().color())
    widget.render(pixmap)
    if not pixmap.save(str(path), "PNG"):
        raise OSError(f"Qt could not write {path.name} (is the folder writable?)")
    return path


def render_svg(widget: QWidget, path: Path, title: str = "") -> Path:
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(widget.size())
    generator.setResolution(widget.logicalDpiX())  # the file's size in mm is the size on screen
    generator.setViewBox(QRect(0, 0, widget.width(), widget.height()))
    generator.setTitle(title)
    generator.setDescription("Exported from Diffusion Lab")
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"Qt could not write {path.name} (is the folder writable?)")
    try:
        painter.fillRect(QRect(0, 0, widget.width(), widget.height()), widget.palette().window())
        widget.render(painter, QPoint())
    finally:
        painter.end()
    return path


def find_timeline(view: QWidget) -> TimelineScrubber | None:
    """The view's visible, usable timeline (the first one, e.g. Generate's run A)."""
    for scrubber in view.findChildren(TimelineScrubber):
        if scrubber.isVisible() and scrubber.isEnabled() and scrubber.maximum() > scrubber.minimum():
            return scrubber
    return None


def _picture(widget: QWidget) -> Image.Image:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    row = image.bytesPerLine()
    array = np.frombuffer(image.constBits(), dtype=np.uint8, count=row * height).reshape(height, row)
    picture = Image.fromarray(array[:, : width * 3].reshape(height, width, 3).copy())
    if width > MAX_ANIMATION_SIDE:
        picture = picture.resize((MAX_ANIMATION_SIDE, round(height * MAX_ANIMATION_SIDE / width)), Image.LANCZOS)
    return picture


def render_timeline_webp(view: QWidget, scrubber: TimelineScrubber, path: Path, frames: int = FRAMES) -> Path:
    """Move ``scrubber`` through ``frames`` positions and save what ``view`` shows at each as an animated WebP."""
    lo, hi = scrubber.minimum(), scrubber.maximum()
    positions = sorted({round(lo + (hi - lo) * i / max(1, frames - 1)) for i in range(frames)})
    if scrubber.isReversed():
        positions.reverse()
    start = scrubber.value()
    was_playing = scrubber.isPlaying()
    scrubber.pause()
    pictures = []
    try:
        for position in positions:
            scrubber.setValue(position)
            QApplication.processEvents()  # let the view draw the new frame
            pictures.append(_picture(view))
    finally:
        scrubber.setValue(start)
        if was_playing:
            scrubber.play()
    pictures[0].save(path, "WEBP", save_all=True, append_images=pictures[1:], duration=FRAME_MS, loop=0, quality=85)
    return path


def export_for_slides(view: QWidget, base: str | Path, title: str = "", frames: int = FRAMES) -> SlideFiles:
    """Write ``base``.png (2×), ``base``.svg and, where ``view`` has a timeline, ``base``.webp."""
    base = Path(base)
    if base.suffix.lower() in (".png", ".svg", ".webp"):
        base = base.with_suffix("")
    if view.size() == QSize(0, 0) or not view.isVisible():
        raise ValueError("Show the view first: only the view on screen can be exported.")
    png = render_png(view, base.with_suffix(".png"))
    svg = render_svg(view, base.with_suffix(".svg"), title)
    scrubber = find_timeline(view)
    webp = render_timeline_webp(view, scrubber, base.with_suffix(".webp"), frames) if scrubber is not None else None
    return SlideFiles(png, svg, webp)
