"""Bastion's domain: the normalized model, errors, ports, the turn pipeline and its stages.

Nothing here imports from ``bot`` or ``adapters``; ``tests/test_layering.py`` holds that line.
"""
