"""Splitting a reply into chunks that fit a platform's message limit."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable

import pytest

from adapters.common.split import split_text

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def escaped(text: str) -> int:
    """Like HTML escaping for Telegram: '&' becomes '&amp;', so it counts more."""
    return len(text) + 4 * text.count("&")


def fence_lines_removed(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not FENCE.match(line))


def fences_balanced(chunk: str) -> bool:
    """Whether every code block opened in ``chunk`` is closed in it (CommonMark rules)."""
    opened: str | None = None
    for line in chunk.split("\n"):
        fence = FENCE.match(line)
        if fence is None:
            continue
        run, rest = fence.groups()
        if opened is None:
            if not (run[0] == "`" and "`" in rest):
                opened = run
        elif run[0] == opened[0] and len(run) >= len(opened) and not rest.strip():
            opened = None
    return opened is None


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of ``text``, fence lines included (closed blocks only)."""
    blocks: list[str] = []
    lines: list[str] = []
    opened: str | None = None
    for line in text.split("\n"):
        fence = FENCE.match(line)
        if opened is None:
            if fence is not None:
                opened, lines = fence[1], [line]
            continue
        lines.append(line)
        if fence is not None and fence[1][0] == opened[0] and not fence[2].strip():
            blocks.append("\n".join(lines))
            opened = None
    return blocks


def check(text: str, limit: int, size: Callable[[str], int] = len) -> list[str]:
    """Split, and check what must hold of any split; returns the chunks."""
    chunks = split_text(text, limit, size=size)
    assert all(size(chunk) <= limit for chunk in chunks)
    assert all(chunk.strip() for chunk in chunks)
    if chunks != [text]:  # text that fits comes back as it was, even with a fence left open
        assert all(fences_balanced(chunk) for chunk in chunks)
    assert only_fences_added(text, chunks)
    return chunks


def only_fences_added(text: str, chunks: list[str]) -> bool:
    """Nothing lost, nothing reordered: whitespace aside, the chunks' lines are the text's, in
    order, plus fence lines (the added fences). A fence line may be either, so this follows
    every position in the text the lines so far could have reached."""
    wanted = "".join(text.split())
    reached = {0}
    for line in (line for chunk in chunks for line in chunk.split("\n")):
        piece = "".join(line.split())
        matched = {at + len(piece) for at in reached if wanted.startswith(piece, at)}
        reached = matched | reached if FENCE.match(line) else matched
    return len(wanted) in reached


# -- random replies ---------------------------------------------------------------------------

WORDS = [
    "the", "bot", "answers", "quickly", "and", "politely", "R&D", "<b>", "café", "naïve",
    "日本語", "😀", "👍🏽", "x", "configuration", "`inline code`", "`a b`", "**bold**", "_it_",
]  # fmt: skip


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(1, 14))
    return " ".join(words) + rng.choice([".", "!", "?", "…", ":", ""])


def paragraph(rng: random.Random) -> str:
    lines = [" ".join(sentence(rng) for _ in range(rng.randint(1, 6)))]
    lines += [f"- {sentence(rng)}" for _ in range(rng.choice([0, 0, 2, 5]))]
    return "\n".join(lines)


def code_block(rng: random.Random) -> str:
    fence = rng.choice(["```", "~~~"])
    language = rng.choice(["", "python", "sh"])
    body = [
        "    " * rng.randint(0, 2) + " ".join(rng.choices(["x", "=", "f(a)", "&&", "1"], k=5))
        for _ in range(rng.choice([1, 3, 10, 60]))
    ]
    return "\n".join([fence + language, *body, fence])


def reply(rng: random.Random) -> str:
    parts = [
        code_block(rng) if rng.random() < 0.2 else paragraph(rng)
        for _ in range(rng.randint(1, 30))
    ]
    return "".join(part + rng.choice(["\n\n", "\n", "\n\n\n"]) for part in parts).strip()


@pytest.mark.parametrize("seed", range(300))
def test_random_replies_split_into_fitting_balanced_chunks_in_order(seed: int) -> None:
    rng = random.Random(seed)
    text = reply(rng)
    limit = rng.choice([60, 100, 250, 500, 1000, 2000, 4096])
    size = escaped if seed % 3 == 0 else len
    chunks = check(text, limit, size)

    # No word is cut: every word is under the limit, so the words come back whole, in order.
    assert fence_lines_removed("\n".join(chunks)).split() == fence_lines_removed(text).split()
    # A code block that fits in a chunk is never cut.
    for block in code_blocks(text):
        if size(block) <= limit:
            assert any(block in chunk for chunk in chunks)


@pytest.mark.parametrize("seed", range(40))
def test_random_characters_never_break_the_invariants(seed: int) -> None:
    """Unstructured text: stray fences, backticks, long runs without spaces."""
    rng = random.Random(seed)
    alphabet = ["a", "b", " ", "`", "```", "~~~", ".", "&", "é", "🇫🇷", "\t", "\u0301"]
    # Lines of up to 12 pieces, so that a fence line and its part fit in 60.
    lines = [
        "".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(rng.randint(1, 400))
    ]
    text = "".join(line + rng.choice(["\n", "\n\n", "\r\n"]) for line in lines)
    check(text, rng.choice([60, 80, 400]), escaped if seed % 2 else len)


# -- the simple cases --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\n", " \t\r\n "])
def test_empty_or_blank_text_gives_no_chunks(text: str) -> None:
    assert split_text(text, 10) == []


def test_text_that_fits_comes_back_unchanged() -> None:
    text = "  Hello\r\n\r\nworld  "
    assert split_text(text, len(text)) == [text]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_text("hello", 0)


def test_a_character_bigger_than_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        split_text("a&b", 3, size=escaped)


# -- where the cuts go -------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [2000, 4096])
def test_paragraphs_stay_whole(limit: int) -> None:
    rng = random.Random(limit)
    paragraphs: list[str] = []
    while sum(len(p) + 2 for p in paragraphs) < 10_000:
        paragraphs.append(" ".join(sentence(rng) for _ in range(rng.randint(3, 25))))
    text = "\n\n".join(paragraphs)

    chunks = check(text, limit)

    assert all(len(p) < limit for p in paragraphs)
    assert [p for chunk in chunks for p in chunk.split("\n\n")] == paragraphs
    # Greedy: each chunk could not take the next paragraph too.
    for chunk, following in itertools.pairwise(chunks):
        assert len(chunk) + 2 + len(following.split("\n\n")[0]) > limit


def test_line_breaks_come_before_sentence_ends_and_those_before_spaces() -> None:
    text = "one two. three four\nfive six. seven eight nine"
    assert split_text(text, 30) == ["one two. three four", "five six. seven eight nine"]
    assert split_text("one two. three four five six", 22) == ["one two.", "three four five six"]
    assert split_text("alpha beta gamma delta", 12) == ["alpha beta", "gamma delta"]


def test_sentence_ends_include_the_ellipsis_and_cjk_marks() -> None:
    assert split_text("Wait… then go on", 14) == ["Wait…", "then go on"]
    text = "今日は晴れです。明日は雨が降るでしょう。"
    assert split_text(text, 12) == ["今日は晴れです。", "明日は雨が降るでしょう。"]


def test_a_very_long_url_is_hard_cut_and_only_it() -> None:
    url = "https://example.com/" + "a1b2c3" * 1000
    text = f"See this link: {url} for details."

    chunks = check(text, 2000)

    assert chunks[0] == "See this link:"
    assert chunks[-1].endswith(" for details.")
    assert "".join(chunks)[len("See this link:") : -len(" for details.")] == url
    assert all(len(chunk) == 2000 for chunk in chunks[1:-2])


def test_a_hard_cut_keeps_emoji_sequences_whole() -> None:
    family = "👨\u200d👩\u200d👧"  # one grapheme, five code points
    text = family * 10
    chunks = check(text, 7)
    assert all(chunk == family for chunk in chunks)
    flags = "🇫🇷🇩🇪🇯🇵"
    assert split_text(flags, 3) == ["🇫🇷", "🇩🇪", "🇯🇵"]


def test_inline_code_is_not_cut_when_a_space_outside_it_will_do() -> None:
    text = "run the command `git commit --amend --no-edit` to fix it"
    chunks = split_text(text, 40)
    assert chunks == ["run the command", "`git commit --amend --no-edit` to fix it"]


def test_inline_code_longer_than_the_limit_is_cut_at_its_spaces() -> None:
    text = "`" + " ".join(["word"] * 30) + "`"
    chunks = check(text, 50)
    assert all(not chunk.startswith(" ") and "wor d" not in chunk for chunk in chunks)


def test_crlf_line_ends_are_cut_like_lf() -> None:
    text = "First paragraph here.\r\n\r\nSecond one.\r\nWith a second line."
    assert split_text(text, 40) == [
        "First paragraph here.",
        "Second one.\nWith a second line.",
    ]


def test_unicode_is_measured_in_characters_with_len() -> None:
    text = " ".join(["😀日本"] * 500)
    chunks = check(text, 100)
    assert all(len(chunk) <= 100 for chunk in chunks)
    assert len(chunks) == 20  # 4 characters a word, 5 with the space: 20 words a chunk


def test_size_is_respected_not_just_len() -> None:
    def doubled(text: str) -> int:  # '&' counts twice
        return len(text) + text.count("&")

    text = " ".join(["R&D"] * 1000)
    chunks = check(text, 100, doubled)
    assert all(doubled(chunk) <= 100 for chunk in chunks)
    assert max(doubled(chunk) for chunk in chunks) > 95  # still filled, by the right measure
    assert len(chunks) > len(split_text(text, 100))


@pytest.mark.parametrize(("size", "per_chunk"), [(len, 4), (escaped, 16)])
def test_size_is_called_a_few_times_per_chunk(size: Callable[[str], int], per_chunk: int) -> None:
    calls = 0

    def counted(text: str) -> int:
        nonlocal calls
        calls += 1
        return size(text)

    text = " ".join(["word", "R&D"] * 10_000)  # 80,000 characters
    chunks = split_text(text, 2000, size=counted)
    assert calls <= per_chunk * len(chunks)


# -- code blocks -------------------------------------------------------------------------------

CODE_LINES = [f"    result_{i} = compute(value_{i}, factor={i})" for i in range(100)]
LONG_CODE = "```python\n" + "\n".join(CODE_LINES) + "\n```"


def test_a_code_block_that_fits_moves_whole_to_the_next_chunk() -> None:
    block = "```sh\necho one\necho two\n```"
    text = "Some words before it all.\n" + block + "\nAnd after."
    assert split_text(text, len(block) + 12) == [
        "Some words before it all.",
        f"{block}\nAnd after.",
    ]


def test_a_long_code_block_is_cut_between_lines_and_reopened() -> None:
    chunks = check("Here is the code:\n" + LONG_CODE + "\nThat is all.", 500)

    assert chunks[0].startswith("Here is the code:\n```python\n")
    assert all(chunk.endswith("\n```") for chunk in chunks[:-1])
    assert all(chunk.startswith("```python\n") for chunk in chunks[1:])
    # Every line whole, indentation kept, in order.
    body = [line for chunk in chunks for line in chunk.split("\n") if line.startswith("    ")]
    assert body == CODE_LINES
    assert chunks[-1].endswith("```\nThat is all.")


def test_tilde_fences_and_longer_fences_are_reopened_as_they_were() -> None:
    text = "~~~~ruby\n" + "\n".join(f"puts {i}" for i in range(200)) + "\n~~~~"
    chunks = check(text, 120)
    assert all(c.startswith("~~~~ruby\n") and c.endswith("\n~~~~") for c in chunks)


def test_an_unclosed_code_block_is_closed_in_every_part() -> None:
    text = "```\n" + "\n".join(f"line {i}" for i in range(100))
    chunks = check(text, 100)
    assert all(chunk.startswith("```\n") and chunk.endswith("\n```") for chunk in chunks)


def test_a_code_line_longer_than_the_limit_is_cut_at_a_space_inside_the_block() -> None:
    line = " ".join(f"arg{i}" for i in range(100))
    chunks = check(f"```\n{line}\n```", 80)
    assert all(chunk.startswith("```\n") and chunk.endswith("\n```") for chunk in chunks)
    assert " ".join(chunk[4:-4] for chunk in chunks) == line


def test_fences_that_would_crowd_out_the_code_lose_the_info_string_then_go() -> None:
    # "```python\nx\n```" is 15 characters: fenced parts need a limit of 20, so that the
    # fences take at most three quarters of it.
    text = "```python\n" + "x" * 100 + "\n```"
    assert all(c.startswith("```python\n") and c.endswith("\n```") for c in check(text, 20))
    # Below that the parts reopen with the bare fence, and "python" is the first code line.
    bare = check(text, 19)
    assert bare[0] == "```\npython\n```"
    assert all(chunk.startswith("```\n") and chunk.endswith("\n```") for chunk in bare)
    # Not even the bare fences leave room: the block is cut as plain text, nothing added.
    plain = split_text(text, 10)
    assert all(len(chunk) <= 10 for chunk in plain)
    assert "".join(plain) == "".join(text.split())


def test_a_cut_never_turns_text_into_a_fence() -> None:
    # Cut before "```", the next chunk would open a code block ("and" its language).
    prose = "Type ``` and the language name, then your code on the lines after it."
    for limit in range(12, len(prose)):
        assert not any(chunk.startswith("```") for chunk in check(prose, limit))
    # Cut before "~~~", a part's line would read as the closing fence of its block.
    code = "~~~\n" + "\n".join(f"echo {i:02} ~~~ done" for i in range(30)) + "\n~~~"
    for limit in range(14, 80):
        check(code, limit)


# -- fence lines too long for a part ---------------------------------------------------------

DISCORD_LIMIT = 1984  # Discord's 2,000 less the room its adapter keeps for repairs
TELEGRAM_LIMIT = 4096
SQL = "SELECT " + ", ".join(f"orders.column_{i}" for i in range(200)) + " FROM orders;"


def fence_free_words(text: str) -> list[str]:
    """The words of ``text`` with every run of backticks or tildes taken for a space."""
    return re.sub(r"[`~]+", " ", text).split()


def crowded_block(rng: random.Random, limit: int) -> str:
    """A reply with a code block too long for one message whose fence line is itself long."""
    char = rng.choice("`~")
    run = char * rng.choice([3, 4, limit // 2 - 2, limit // 2 + 1, limit - 1, limit + 300])
    info = rng.choice(["", "sql", " " + SQL[: rng.randint(limit // 2, len(SQL))], SQL])
    body = [
        rng.choice(["    ", ""]) + " ".join(rng.choices(["x", "=", "f(a)", "&", "1"], k=6))
        for _ in range(rng.choice([1, 40, 400]))
    ]
    closing = rng.choice([run, run + char, ""])  # "" leaves the block unclosed
    before = rng.choice(["", "Here is the query:\n", "Run this.\n\n"])
    after = rng.choice(["", "\nThat is all.", "\n\nDone & dusted."])
    block = "\n".join([run + info, *body, *([closing] if closing else [])])
    return before + block + (after if closing else "")


@pytest.mark.parametrize("limit", [DISCORD_LIMIT, TELEGRAM_LIMIT])
@pytest.mark.parametrize("seed", range(60))
def test_a_code_block_with_a_very_long_fence_line_is_still_split_whole(
    seed: int, limit: int
) -> None:
    rng = random.Random(seed)
    text = crowded_block(rng, limit)
    size = escaped if seed % 2 else len

    chunks = split_text(text, limit, size=size)  # never raises

    assert all(size(chunk) <= limit for chunk in chunks)
    assert all(chunk.strip() for chunk in chunks)
    assert only_fences_added(text, chunks)
    # Words are cut only where one is longer than the limit (a fence run, or one glued to it):
    # each word sent is one of the text's (an info string may be repeated in every part).
    if all(len(word) < limit // 2 for word in text.split()):
        assert set(fence_free_words("\n".join(chunks))) <= set(fence_free_words(text))


def test_an_overlong_info_string_becomes_the_first_code_line_of_every_part() -> None:
    text = "Here:\n```" + SQL + "\n" + "\n".join(f"line {i}" for i in range(300)) + "\n```"
    assert len("```" + SQL) > DISCORD_LIMIT

    chunks = check(text, DISCORD_LIMIT)

    assert chunks[0] == "Here:"
    assert all(c.startswith("```\n") and c.endswith("\n```") for c in chunks[1:])
    assert fence_free_words("\n".join(chunks)) == fence_free_words(text)


@pytest.mark.parametrize("char", "`~")
def test_a_fence_run_too_long_for_a_part_is_cut_as_plain_text(char: str) -> None:
    fence = char * 1000
    text = fence + "\n" + "\n".join(f"line {i}" for i in range(500)) + "\n" + fence

    chunks = split_text(text, DISCORD_LIMIT)

    assert all(len(chunk) <= DISCORD_LIMIT for chunk in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())  # no fence added


def test_a_closing_fence_longer_than_the_opening_one_is_never_lost() -> None:
    text = "~~~\n" + " ".join(["echo"] * 8) + "\n" + "~" * 20
    for limit in range(20, 90):
        chunks = split_text(text, limit)
        assert all(len(chunk) <= limit for chunk in chunks)
        assert only_fences_added(text, chunks)  # not swapped for a shorter "~~~"


def test_an_error_about_the_limit_never_quotes_the_text() -> None:
    with pytest.raises(ValueError, match="too small") as refused:
        split_text("secret & private", 3, size=escaped)
    assert "secret" not in str(refused.value) and "&" not in str(refused.value)
