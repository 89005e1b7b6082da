"""Panels of the Fast sampling view: the controls, the transport paths and the few-step quality plot."""
