"""The panels of the Guidance view (``desktop_app/views/guidance_view.py`` composes and wires them):
``setup_panel`` (model, class, w, guidance interval, steps, seed, Run / Cancel), ``components_panel``
(ε_u, ε_c, their difference, ε̃ and the x̂₀ each implies at one recorded step; lines on the point
cloud for 2-D models) and ``sweep_panel`` (the class × scale grid and the fidelity/diversity curves).
"""
