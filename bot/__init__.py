"""Bastion's composition root: settings, wiring, the CLI and the application lifecycle."""
