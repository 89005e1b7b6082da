"""The texts of the Help menu: keyboard shortcuts and About."""

from __future__ import annotations

from desktop_app import APP_NAME, __version__


def shortcuts_help(titles: list[str]) -> str:
    """The shortcuts table; the Ctrl+number lines follow the window's views."""
    view_keys = "".join(f"<tr><td><b>Ctrl+{i + 1}</b></td><td>{title}</td></tr>" for i, title in enumerate(titles[:9]))
    return SHORTCUTS_TEMPLATE.replace("{view_keys}", view_keys)


SHORTCUTS_TEMPLATE = """
<h3>Keyboard shortcuts</h3>
<table cellspacing="6">
{view_keys}
<tr><td><b>Ctrl+O</b></td><td>open an image as x<sub>0</sub> (Forward process)</td></tr>
<tr><td><b>Ctrl+Shift+O</b></td><td>open a checkpoint (Generate)</td></tr>
<tr><td><b>Ctrl+E</b></td><td>export what the current view shows (also File ▸ Export)</td></tr>
<tr><td><b>Ctrl+Q</b></td><td>quit</td></tr>
<tr><td colspan="2"><br><b>Teaching</b></td></tr>
<tr><td><b>F2</b></td><td>the lesson panel: the guided tour, live numbers, predict-then-reveal questions</td></tr>
<tr><td><b>Alt+← / Alt+→</b></td><td>previous / next step of the tour (while the lesson panel is shown)</td></tr>
<tr><td><b>Ctrl+Shift+T</b></td><td>teacher mode: large text, high contrast, thick curves, fewer controls</td></tr>
<tr><td><b>F11</b></td><td>full screen</td></tr>
<tr><td><b>Ctrl+Shift+S / Ctrl+Shift+L</b></td><td>save / open a session (resources/sessions has lesson presets)</td></tr>
<tr><td><b>Ctrl+Shift+E</b></td><td>export the view for slides (2× PNG, SVG, timeline WebP)</td></tr>
<tr><td><b>Ctrl+Shift+U</b></td><td>the pipeline and U-Net diagram</td></tr>
<tr><td colspan="2"><br><b>On a timeline</b> (click it first)</td></tr>
<tr><td><b>← / →</b></td><td>one step back / forward</td></tr>
<tr><td><b>Shift+← / →</b></td><td>ten steps</td></tr>
<tr><td><b>Home / End</b></td><td>first / last step</td></tr>
<tr><td><b>Space</b></td><td>play / pause</td></tr>
</table>
<p>Drop an image file onto the window to see it noised; drop a <i>.safetensors</i> checkpoint to sample from it.</p>
"""

ABOUT_TEXT = f"""
<h3>{APP_NAME} {__version__}</h3>
<p>Learn how diffusion models work by watching them: scrub the forward process, compare noise
schedules, train a small denoiser live and step through sampling.</p>
<p>Built on PyTorch, PySide6 and pyqtgraph. Follows Ho et al. 2020 (DDPM), Song et al. 2021 (DDIM),
Nichol &amp; Dhariwal 2021 (Improved DDPM) and Karras et al. 2022 (EDM).</p>
"""
