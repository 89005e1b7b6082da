"""Panels of the Schedules view: the log-SNR editor."""
