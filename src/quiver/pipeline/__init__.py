"""Pipelines: working folder, steps, infos."""
