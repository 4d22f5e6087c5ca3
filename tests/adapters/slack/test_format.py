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
        "[`<!here>`](https://x.example)",
        "[a `<@U1>` b](javascript:x)",
        "~~~\n<!here>\n~~~",
        "````\n```\n<!channel>\n```\n````",
        "    ```\n    <@U1>\n    ```",
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


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("[`pip install`](https://pip.pypa.io)", "<https://pip.pypa.io|pip install>"),
        ("[the `requests` docs](https://x)", "<https://x|the requests docs>"),
        ("[**`a|b`** <c>](https://x)", "<https://x|a¦b &lt;c&gt;>"),
        ("[`a <b>`](javascript:x)", "a &lt;b&gt; (javascript:x)"),
    ],
)
def test_code_in_a_link_label_shows_as_its_plain_text(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        (
            'Define __init__ and check __name__ == "__main__"',
            'Define __init__ and check __name__ == "__main__"',
        ),
        ("foo__bar__baz", "foo__bar__baz"),
        ("a__b c__d", "a__b c__d"),
        ("# The __init__ method", "*The __init__ method*"),
        ("# The __real__ deal", "*The __real__ deal*"),
        ("# __Two words__ here", "*Two words here*"),
        ("(__also bold__)", "(*also bold*)"),
    ],
)
def test_underscores_are_strong_only_around_more_than_one_word(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("~~~\n# comment\n- x\n~~~\nafter", "```\n# comment\n- x\n```\nafter"),
        ("~~~python\na <b>", "```\na &lt;b&gt;\n```"),
        (
            "````\n```python\nx = 1\n```\n````\n**after**",
            "```\n```python\nx = 1\n```\n```\n*after*",
        ),
        ("```\ncode\n`````\n**after**", "```\ncode\n```\n*after*"),
        ("  ```\ncode\n~~~\n```  \n**after**", "```\ncode\n~~~\n```\n*after*"),
        ("\t```\n- x", "\t```\n• x"),
        (
            "- step\n    ```\n    - x\n    ```\n**after**",
            "• step\n    ```\n    • x\n    ```\n*after*",
        ),
    ],
)
def test_code_blocks_are_found_by_the_splitters_fence_rules(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_a_long_tilde_block_is_split_into_closed_backtick_blocks() -> None:
    code = "\n".join(f"# step {n}\n- item_{n} < {n + 1}" for n in range(200))
    parts = format_reply(f"Here:\n~~~python\n{code}\n~~~\nThat's **all**.", limit=1000)
    assert len(parts) > 2
    for part in parts:
        assert len(part) <= 1000
        assert "~~~" not in part and "•" not in part
        assert part.count("```") % 2 == 0, part
    assert parts[-1].endswith("```\nThat's *all*.")


def test_a_list_indented_fence_cut_by_the_splitter_opens_no_block_in_the_next_part() -> None:
    # The splitter does not see a fence indented 4 spaces: nor may the converter, or the
    # closing line in a later part opens a block that swallows the rest of the reply.
    lines = "\n".join(f"    pip install package-{n}" for n in range(60))
    markdown = f"1. Install:\n    ```\n{lines}\n    ```\n2. Then **run** it."
    parts = format_reply(markdown, limit=500)
    assert len(parts) > 2
    assert all(len(part) <= 500 for part in parts)
    assert sum(part.count("```") for part in parts) == 2
    assert parts[-1].endswith("    ```\n2. Then *run* it.")


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
        *("~~~", "````", "    ", "__init__", "[`c` d](https://x.example)", "\r\n", "\t"),
    ]
    rng = random.Random(7)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        assert len(to_mrkdwn(text)) <= sent_size(text), repr(text)
