"""Panels and workers of the Stable Diffusion view (a diffusers pipeline loaded from a local folder)."""
