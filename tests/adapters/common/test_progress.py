"""SentParts: the one loop that resumes a reply after the parts already delivered."""

from __future__ import annotations

import pytest

from adapters.common.progress import SentParts
from core.model import IncomingMessage
from tests.fakes import message


class Refused(Exception):
    pass


class Platform:
    """Posts parts, refusing the ones listed (once each)."""

    def __init__(self, refuse: set[int] | None = None) -> None:
        self.posted: list[tuple[int, str]] = []
        self.refuse = set(refuse or ())

    async def post(self, index: int, part: str) -> None:
        if index in self.refuse:
            self.refuse.discard(index)
            raise Refused(index)
        self.posted.append((index, part))


def _message() -> IncomingMessage:
    return message("a long question")


async def test_a_resend_posts_only_the_parts_not_delivered() -> None:
    sent, incoming, platform = SentParts(), _message(), Platform(refuse={2})
    with pytest.raises(Refused):
        await sent.send(incoming, ["a", "b", "c", "d"], platform.post)
    await sent.send(incoming, ["a", "b", "c", "d"], platform.post)
    assert platform.posted == [(0, "a"), (1, "b"), (2, "c"), (3, "d")]


async def test_a_reply_sent_whole_is_forgotten() -> None:
    sent, incoming, platform = SentParts(), _message(), Platform()
    await sent.send(incoming, ["a", "b"], platform.post)
    await sent.send(incoming, ["a", "b"], platform.post)  # another send: all of it again
    assert [index for index, _ in platform.posted] == [0, 1, 0, 1]


async def test_a_reply_no_longer_than_the_parts_delivered_starts_over() -> None:
    sent, incoming, platform = SentParts(), _message(), Platform(refuse={3})
    with pytest.raises(Refused):
        await sent.send(incoming, ["a", "b", "c", "d"], platform.post)
    platform.posted.clear()
    # Three parts are recorded and the reply now has three: not the one cut off.
    await sent.send(incoming, ["x", "y", "z"], platform.post)
    assert platform.posted == [(0, "x"), (1, "y"), (2, "z")]


async def test_replies_to_different_messages_are_kept_apart() -> None:
    sent, platform = SentParts(), Platform(refuse={1})
    first, second = message("one"), message("two")
    with pytest.raises(Refused):
        await sent.send(first, ["a", "b"], platform.post)
    await sent.send(second, ["c", "d"], platform.post)
    assert platform.posted == [(0, "a"), (0, "c"), (1, "d")]
