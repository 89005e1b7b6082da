"""The panels of the Generate view (``desktop_app/views/generate_view.py`` composes and wires them):
``model_panel`` (the model list and Open checkpoint…), ``sampler_panel`` (sampler, steps, η, seed,
batch, class, guidance, compare mode and the Generate / Cancel / Export buttons, read as a
``SamplingSettings``), ``results_panel`` (each run's x_t, x̂₀ and ε̂ or 2-D clouds with its reverse
timeline, two of them synced by noise level in compare mode) and ``run_export`` (the PNG grid, strip
and animation of a run). Panels emit signals for what the user does and are fed through slots; the
view owns the sampling worker.
"""
