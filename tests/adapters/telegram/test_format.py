"""Model output -> Telegram HTML: the subset that renders, and nothing that can break or ping."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from adapters.common.text import utf16_length
from adapters.telegram.format import (
    MAX_MESSAGE_LENGTH,
    WORD_JOINER,
    format_reply,
    render,
    size_bound,
)
from tests.platforms.telegram_server import MENTION, mentions_in, visible_text


def telegram_would_accept(html: str) -> str:
    """The text Telegram shows for ``html``; fails the test where Telegram would refuse it."""
    try:
        return visible_text(html)
    except ValueError as exc:
        pytest.fail(f"Telegram would refuse {html!r}: {exc}")


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("**bold** and __bold__", "<b>bold</b> and <b>bold</b>"),
        ("*italic* and _italic_", "<i>italic</i> and <i>italic</i>"),
        ("**bold with *italic* inside**", "<b>bold with <i>italic</i> inside</b>"),
        ("use `a < b` here", "use <code>a &lt; b</code> here"),
        ("``code with ` inside``", "<code>code with ` inside</code>"),
        (
            "```python\nif a < b:\n    print('x')\n```",
            "<pre><code class=\"language-python\">if a &lt; b:\n    print('x')</code></pre>",
        ),
        ("```\nplain block\n```", "<pre>plain block</pre>"),
        ("## Returns\nWithin 30 days.", "<b>Returns</b>\nWithin 30 days."),
        ("# **Shipping**", "<b>Shipping</b>"),
    ],
)
def test_the_markdown_subset_becomes_telegram_html(markdown: str, html: str) -> None:
    assert render(markdown).html == html


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        ("snake_case_name stays", "snake_case_name stays"),
        ("* a list item", "* a list item"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("**never closed", "**never closed"),
        ("*a **b* c**", "a **b c**"),
        ("***three***", "***three***"),
        ("a ` lone backtick", "a ` lone backtick"),
    ],
)
def test_markers_without_a_partner_stay_literal(markdown: str, shown: str) -> None:
    assert telegram_would_accept(render(markdown).html) == shown


def test_html_in_model_output_is_shown_as_text_never_parsed() -> None:
    nasty = '<b>unclosed <script>alert("x")</script> <a href="tg://user?id=1">you</a> &amp;'
    rendered = render(nasty)
    assert "<script" not in rendered.html and "<a " not in rendered.html
    assert telegram_would_accept(rendered.html) == nasty


def test_mentions_are_defused_but_email_addresses_are_left_alone() -> None:
    shown = telegram_would_accept(
        render("Hey @everyone, ask @shop_admin or *@support_team*; mail support@shop.example").html
    )
    assert MENTION.findall(shown) == []
    assert shown.replace(WORD_JOINER, "") == (
        "Hey @everyone, ask @shop_admin or @support_team; mail support@shop.example"
    )


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        ("Ask _@shop_admin_", "Ask @shop_admin"),
        ("__@shop_admin__", "@shop_admin"),
        ("@@shop_admin", "@@shop_admin"),
        ("**@shop_admin**", "@shop_admin"),
        ("*@shop_admin* now", "@shop_admin now"),
        ("x _@shop_admin_", "x @shop_admin"),
        ("# @shop_admin", "@shop_admin"),
        ("@**shop_admin**", "@shop_admin"),
        ("@_shop_ admin", "@shop admin"),
        ("[@shop_admin](tg://user?id=1)", "[@shop_admin](tg://user?id=1)"),
        ("mail@@shop_admin", "mail@@shop_admin"),
        ("`a@`shop_admin", "a@shop_admin"),
        ("`@`__shop_admin__", "@shop_admin"),
    ],
)
def test_no_mention_survives_the_markup_around_it(markdown: str, shown: str) -> None:
    # Mentions are found in the text as shown, after the markers are gone: "_@x_" is "@x".
    rendered = render(markdown)
    text = telegram_would_accept(rendered.html)
    assert mentions_in(rendered.html) == []
    assert mentions_in(rendered.unformatted, parse_mode=None) == []
    assert text.replace(WORD_JOINER, "") == shown


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("use `@property` here", "use <code>@property</code> here"),
        ("`mail me@example.com`", "<code>mail me@example.com</code>"),
        (
            "```python\n@dataclass\nclass Order: ...\n```",
            '<pre><code class="language-python">@dataclass\nclass Order: ...</code></pre>',
        ),
        ("```\nping @shop_admin\n```", "<pre>ping @shop_admin</pre>"),
    ],
)
def test_code_is_left_exactly_as_written(markdown: str, html: str) -> None:
    # Telegram finds no mentions inside code, and an invisible character would break a copy.
    rendered = render(markdown)
    assert rendered.html == html
    assert mentions_in(rendered.html) == []


def test_the_unformatted_fallback_defuses_code_too() -> None:
    # Sent without a parse mode, code is plain text where Telegram does find mentions.
    rendered = render("Use `@shop_admin`:\n```\n@everyone look\n```\nmail a@shop.example")
    assert MENTION.findall(rendered.plain)  # the code in the HTML version is untouched
    assert MENTION.findall(rendered.unformatted) == []
    assert rendered.unformatted.replace(WORD_JOINER, "") == rendered.plain
    assert "a@shop.example" in rendered.unformatted
    assert utf16_length(rendered.unformatted) <= size_bound(
        "Use `@shop_admin`:\n```\n@everyone look\n```\nmail a@shop.example"
    )


def test_any_mix_of_markers_renders_to_html_telegram_accepts() -> None:
    pieces = [
        "*",
        "**",
        "_",
        "__",
        "`",
        "```",
        "<b>",
        "</i>",
        "&",
        "@x_y",
        "@",
        "a",
        " ",
        "\n",
        "#",
    ]
    rng = random.Random(7)
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))
        rendered = render(text)
        assert telegram_would_accept(rendered.html) == rendered.plain, text
        assert rendered.length <= size_bound(text), text
        assert utf16_length(rendered.unformatted) <= size_bound(text), text
        assert mentions_in(rendered.html) == [], text
        assert mentions_in(rendered.unformatted, parse_mode=None) == [], text


def test_a_long_reply_splits_into_messages_that_each_fit_and_parse_in_order() -> None:
    paragraphs = [
        f"**Part {n}.** " + " ".join(f"Sentence {n}.{k} has *some* words." for k in range(12))
        for n in range(40)
    ]
    paragraphs.insert(20, "```python\n" + "\n".join(f"x_{i} = {i}" for i in range(60)) + "\n```")
    text = "\n\n".join(paragraphs)
    assert len(text) > 10_000
    messages = format_reply(text)
    assert len(messages) >= 3
    shown = [telegram_would_accept(m.html) for m in messages]
    assert all(0 < utf16_length(s) <= MAX_MESSAGE_LENGTH for s in shown)
    parts = [int(n) for s in shown for n in re.findall(r"Part (\d+)\.", s)]
    assert parts == list(range(40))  # every paragraph, once, in order
    code = "".join(shown)
    assert all(f"x_{i} = {i}" in code for i in range(60))


def test_a_code_block_longer_than_a_message_is_split_into_code_blocks() -> None:
    code = "\n".join(f"line_{i:04d} = compute({i}, 'padding padding padding')" for i in range(200))
    messages = format_reply(f"```python\n{code}\n```")
    assert len(messages) >= 2
    for message in messages:
        assert message.html.startswith('<pre><code class="language-python">')
        assert message.html.endswith("</code></pre>")
        assert utf16_length(telegram_would_accept(message.html)) <= MAX_MESSAGE_LENGTH


def test_the_limit_counts_utf16_units_as_telegram_does() -> None:
    text = "🙂" * 3000  # 3,000 characters but 6,000 UTF-16 units
    messages = format_reply(text)
    assert len(messages) == 2
    assert all(m.length <= MAX_MESSAGE_LENGTH for m in messages)
    assert "".join(m.plain for m in messages) == text


def test_a_reply_with_nothing_visible_sends_nothing() -> None:
    assert format_reply("   \n\n ") == []
    assert format_reply("``` \n```") == []


def test_rendering_every_small_combination_is_well_formed() -> None:
    alphabet = ["*", "_", "`", "a", " "]
    for size in range(1, 7):
        for combo in itertools.product(alphabet, repeat=size):
            text = "".join(combo)
            assert telegram_would_accept(render(text).html) == render(text).plain, text


def test_a_word_longer_than_a_message_is_cut_hard_rather_than_refused() -> None:
    messages = format_reply("https://example.com/" + "a" * 9000)
    assert len(messages) == 3
    assert all(m.length <= MAX_MESSAGE_LENGTH for m in messages)
