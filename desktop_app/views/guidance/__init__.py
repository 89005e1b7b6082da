"""The panels of the Guidance view (``desktop_app/views/guidance_view.py`` composes and wires them):
``setup_panel`` (model, kind of guidance, class, w or s, guidance interval, steps, seed, Run / Cancel),
``components_panel`` (ε_u, ε_c, their difference, the guided ε and the x̂₀ each implies at one recorded
step; lines on the point cloud for 2-D models, and the classifier's gradient for classifier guidance),
``sweep_panel`` (the class × scale grid and the fidelity/diversity curves), ``compare_panel``
(classifier-free vs classifier guidance from one x_T, with the gradient as an image or arrows) and
``model_choice`` (the chosen model, its noisy classifier, and why a kind of guidance cannot be used).
"""
