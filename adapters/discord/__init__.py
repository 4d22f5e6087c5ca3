"""Discord over the gateway with discord.py; importing this package imports discord.py.

``convert`` decides what to answer, ``format`` makes replies safe, ``adapter`` does the I/O.
"""

import warnings

# discord.py imports the standard library's ``audioop`` for voice, which the bot never uses;
# Python 3.11 deprecates that module, and a warning at import would fail runs with -W error.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="'audioop' is deprecated", category=DeprecationWarning
    )
    import discord  # noqa: F401
