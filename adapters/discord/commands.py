"""The slash commands Discord shows in its command picker: the core's commands, by name.

Each one is handed to the core as ``Command(name)``, so ``/help`` typed in Discord's picker and
``/help`` typed as text on another platform are answered by the same code.
"""

from __future__ import annotations

from core.stages.commands import COMMANDS

# Discord allows 1-100 characters of description; /start is not in /help's list, but Discord
# users expect it too.
SLASH_COMMANDS: dict[str, str] = {
    "start": "say hello and see what I can do",
    **COMMANDS,
}
