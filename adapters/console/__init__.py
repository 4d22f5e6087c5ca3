"""The console adapter: chat with the pipeline in a terminal (``bastion chat``)."""

from adapters.console.adapter import ConsoleChat

__all__ = ["ConsoleChat"]
