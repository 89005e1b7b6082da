"""Panels of the Sampler race view: the race form, the lanes, the error plot and quality vs NFE."""
