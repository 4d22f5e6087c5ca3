"""The short notes an adapter answers itself, and how often a chat may get one.

A note answers what never reaches the core (a sticker, an edited message). A user sending a
burst of stickers gets one note, not one per sticker: ``note_throttle`` allows one note per
chat per ``NOTE_INTERVAL_SECONDS``, remembering the last ``NOTE_MEMORY`` chats noted (a chat
forgotten early may get its next note sooner, one extra message, never a flood).
"""

from __future__ import annotations

from core.ratelimit.adaptive import SlowDownNotices

TEXT_ONLY = "I can read text only. Please type your question as a message."
NO_EDITS = "I only read new messages, not edits. Please send the corrected text as a new message."

NOTE_INTERVAL_SECONDS = 60.0
NOTE_MEMORY = 10_000


def note_throttle() -> SlowDownNotices:
    """A fresh throttle: ``should_notify(chat_key)`` is True for a chat's first note in
    ``NOTE_INTERVAL_SECONDS`` (and remembers it), False for the others."""
    return SlowDownNotices(NOTE_INTERVAL_SECONDS, NOTE_MEMORY)
