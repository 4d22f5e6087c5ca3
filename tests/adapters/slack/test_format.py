"""Markdown to Slack mrkdwn: formatting kept, mentions and control sequences never formed."""

from __future__ import annotations

import random
import re

import pytest

from adapters.slack.format import MAX_MESSAGE_CHARS, escape, format_reply, sent_size, to_mrkdwn

# A "<" that is not one of the links the formatter writes itself.
_RAW_CONTROL = re.compile(r"<(?!(?:https?://|mailto:)[^\s|<>]+\|[^<>]*>)")


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and __also bold__", "*bold* and *also bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("***both***", "*_both_*"),
        ("~~gone~~", "~gone~"),
        ("# Opening hours", "*Opening hours*"),
        ("## **Returns** policy ##", "*Returns policy*"),
        ("- one\n* two\n  + three", "• one\n• two\n  • three"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted <b>", ">quoted &lt;b&gt;"),
        (
            "see [our page](https://shop.example/a?b=1&c=2)",
            "see <https://shop.example/a?b=1&amp;c=2|our page>",
        ),
        ("[mail us](mailto:help@shop.example)", "<mailto:help@shop.example|mail us>"),
        ("a [bad](javascript:alert(1)) link", "a bad (javascript:alert(1)) link"),
        ("https://shop.example/some_path_name_here", "https://shop.example/some_path_name_here"),
        ("use `a **b** <c>` here", "use `a **b** &lt;c&gt;` here"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("2 * 3 * 4 = 24", "2 * 3 * 4 = 24"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


@pytest.mark.parametrize(
    "dangerous",
    [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U123ABC>",
        "<@U123ABC|boss>",
        "<#C123|general>",
        "<!subteam^S123|@admins>",
        "<!date^1392734382^{date}|fallback>",
        "<https://evil.example|https://bank.example>",
        "[<!channel>](https://x.example)",
        "[click](https://x.example|<!here>)",
        "`<!channel>`",
        "```\n<!here>\n```",
        "# <!everyone>",
        "> <@U1>",
    ],
)
def test_no_mention_or_control_sequence_can_form(dangerous: str) -> None:
    posted = to_mrkdwn(f"Hello {dangerous} there")
    assert "<!" not in posted
    assert "<@" not in posted
    assert "<#" not in posted
    assert not _RAW_CONTROL.search(posted), posted


def test_escaped_entities_in_model_output_stay_literal() -> None:
    # The model wrote "&lt;": the user must see "&lt;", never a "<" Slack would parse.
    assert to_mrkdwn("a &lt;!channel&gt; b &amp; c") == "a &amp;lt;!channel&amp;gt; b &amp;amp; c"
    assert escape("<&>") == "&lt;&amp;&gt;"


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**never closed", "**never closed"),
        ("*half", "*half"),
        ("_half", "_half"),
        ("`half", "`half"),
        ("~~half", "~~half"),
        ("[label](", "[label]("),
        ("```python\nprint('hi')", "```\nprint('hi')\n```"),
        ("text\n```\ncode <b>\n", "text\n```\ncode &lt;b&gt;\n```"),
    ],
)
def test_unbalanced_markup_stays_harmless(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_code_blocks_are_kept_verbatim_apart_from_escaping_and_the_language_tag() -> None:
    markdown = "Try:\n```python\nx = a**b  # *not* bold\nif x < 3 and y > 1: pass\n```\nDone."
    assert to_mrkdwn(markdown) == (
        "Try:\n```\nx = a**b  # *not* bold\nif x &lt; 3 and y &gt; 1: pass\n```\nDone."
    )


def test_a_one_line_code_block_is_kept() -> None:
    assert to_mrkdwn("```ls -la <dir>```") == "```ls -la &lt;dir&gt;```"


def test_private_use_markers_in_model_output_cannot_inject_anything() -> None:
    assert to_mrkdwn("a\ue0000\ue001b \ue002x\ue002") == "a0b x"


def test_a_short_reply_is_one_message() -> None:
    assert format_reply("**Hi** there") == ["*Hi* there"]


def test_an_empty_reply_is_no_message() -> None:
    assert format_reply("  \n ") == []


def test_a_long_reply_is_split_in_order_within_the_limit_as_sent() -> None:
    # "&" triples in length when escaped: the limit must hold for the escaped text.
    paragraphs = [f"Part {n}: " + "fish & chips " * 60 for n in range(12)]
    parts = format_reply("\n\n".join(paragraphs), limit=MAX_MESSAGE_CHARS)
    assert len(parts) > 1
    assert all(len(part) <= MAX_MESSAGE_CHARS for part in parts)
    joined = "\n\n".join(parts)
    positions = [joined.index(f"Part {n}:") for n in range(12)]
    assert positions == sorted(positions)
    assert joined.count("fish &amp; chips") == 12 * 60


def test_a_long_code_block_is_split_into_closed_blocks() -> None:
    code = "\n".join(f"line_{n} = {n} < {n + 1}" for n in range(400))
    parts = format_reply(f"Here:\n```python\n{code}\n```\nThat's all.", limit=1000)
    assert len(parts) > 2
    for part in parts:
        assert len(part) <= 1000
        assert part.count("```") % 2 == 0, part
        assert "python" not in part
    assert "line_399 = 399 &lt; 400" in "".join(parts)


def test_sent_size_bounds_the_converted_length() -> None:
    # The splitter measures chunks with sent_size: it must never be less than what is sent.
    pieces = [
        *("**", "*", "_", "__", "~~", "`", "```", "```python", "# ", "- ", "> ", "<", ">", "&"),
        *("[a](https://x.example/a_b)", "[b](javascript:x)", "![i](https://x.example)"),
        *("<!here>", "\n", "\n\n", " ", "word", "***", "|", "\ue000", "\ue001", "\ue002"),
    ]
    rng = random.Random(7)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        assert len(to_mrkdwn(text)) <= sent_size(text), repr(text)
