"""Imports discord.py through ``adapters.discord``, before any test module imports it directly.

discord.py imports ``audioop`` (deprecated since Python 3.11) for voice; the package silences
exactly that warning, which the suite's ``filterwarnings = error`` would otherwise turn into a
collection error.
"""

import adapters.discord  # noqa: F401
