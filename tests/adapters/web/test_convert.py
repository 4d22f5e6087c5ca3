"""Pure conversion of web chat requests and replies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.web.convert import BadChatRequest, parse_chat_request, reply_body
from core.model import Command, Reply, ReplyKind

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def parse(body: bytes, content_type: str = "application/json") -> object:
    return parse_chat_request(body, content_type, max_chars=100, now=NOW)


def test_a_request_becomes_a_web_message_in_the_users_own_conversation() -> None:
    message = parse_chat_request(
        b'{"user_id": " u1 ", "text": " hello ", "message_id": "abc"}',
        "application/json; charset=utf-8",
        max_chars=100,
        now=NOW,
    )
    assert (message.user.key, message.chat.key) == ("web:u1", "web:u1:")
    assert (message.text, message.message_id, message.sent_at) == ("hello", "abc", NOW)
    assert message.command is None


def test_slash_text_is_parsed_into_a_command() -> None:
    message = parse_chat_request(
        b'{"user_id": "u1", "text": "/reset"}', "application/json", 100, NOW
    )
    assert message.command == Command("reset")


def test_each_request_without_an_id_gets_a_fresh_one() -> None:
    body = b'{"user_id": "u1", "text": "hi"}'
    first = parse_chat_request(body, "application/json", 100, NOW)
    second = parse_chat_request(body, "application/json", 100, NOW)
    assert first.message_id != second.message_id


@pytest.mark.parametrize("user_id", ['"a\\u0000b"', '"' + "x" * 129 + '"', '"   "'])
def test_unusable_user_ids_are_refused(user_id: str) -> None:
    with pytest.raises(BadChatRequest) as caught:
        parse(b'{"user_id": ' + user_id.encode() + b', "text": "hi"}')
    assert caught.value.status == 422


def test_reply_kinds_reach_the_client() -> None:
    body = reply_body([Reply("hello"), Reply("slow down", kind=ReplyKind.NOTICE)])
    assert body == {
        "replies": [{"text": "hello", "kind": "answer"}, {"text": "slow down", "kind": "notice"}]
    }
