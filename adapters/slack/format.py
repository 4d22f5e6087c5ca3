"""The model's markdown as Slack mrkdwn that is safe to post, split into Slack-sized messages.

Safety comes first: ``&``, ``<`` and ``>`` are escaped everywhere, code included, because a
``<`` is where every Slack control sequence starts (``<!channel>``, ``<!here>``, ``<@U123>``,
``<url|label>``). After escaping, model output can only ever show those as text. The links this
module writes itself are the one exception, and their parts are escaped too.

Formatting is converted where mrkdwn differs from markdown (``**bold**`` -> ``*bold*``,
``*italic*`` -> ``_italic_``, ``~~strike~~`` -> ``~strike~``, ``[label](url)`` -> ``<url|label>``,
headings -> bold lines, ``-`` bullets -> ``•``); code spans and fenced blocks are kept as they
are (a fence's language tag is dropped: Slack would show it as the first line of code).
Fenced blocks are found as the shared splitter finds them (CommonMark: ``` or ~~~, 3 or more,
closed by a longer or equal run of the same character) and always sent with Slack's only fence,
```. Unbalanced markup stays literal text, and a fence the model never closed is closed.
"""

from __future__ import annotations

import re

from adapters.common.split import split_text

# Slack shows up to 4,000 characters of a message before "show more" and cuts at 40,000;
# 3,000 keeps every part readable in one screen and well inside both.
MAX_MESSAGE_CHARS = 3000

# Private-use characters mark spans protected from emphasis rules (code, links, URLs) and
# bold markers while the rules run; any the model wrote are removed first.
_OPEN, _CLOSE, _BOLD = "\ue000", "\ue001", "\ue002"
# What closing an unclosed fence can add: "\n" after an opening line that ended the text,
# then "```", or "\n```" after code that did.
_CLOSING_ALLOWANCE = 5
_PRIVATE = re.compile(f"[{_OPEN}{_CLOSE}{_BOLD}]")
_TOKEN = re.compile(f"{_OPEN}(\\d+){_CLOSE}")

# A fence line as adapters/common/split.py reads it (CommonMark's fenced code blocks): up to 3
# spaces, a run of 3+ backticks or tildes, an info string. The two must agree, or the splitter
# cuts inside what is converted as one block.
_FENCE = re.compile(r"^ {0,3}(?P<run>`{3,}|~{3,})(?P<info>.*)$")
_LANGUAGE_TAG = re.compile(r"^[\w+#.-]*$")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(?P<text>.+?)(?:[ \t]+#+)?[ \t]*$")
_BULLET = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+(?P<text>.*)$")
_QUOTE = re.compile(r"^[ \t]*>[ \t]?(?P<text>.*)$")
_CODE_SPAN = re.compile(r"`[^`\n]+`")
_LINK = re.compile(r"!?\[(?P<label>[^\]\n]+)\]\((?P<url>[^)\s]+)\)")
_BARE_URL = re.compile(r"\b(?:https?://|mailto:)[^\s<>]+")
_SAFE_URL = re.compile(r"^(?:https?://|mailto:)[^\s|<>]+$", re.I)
_STRONG_EMPHASIS = re.compile(r"\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*")
_STRONG_STARS = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
# "__x__" is strong only with no word character just outside it (CommonMark's rule for "_"),
# and not when x is one word: "__init__" is a Python name, far likelier than bold in a reply.
_STRONG_UNDERSCORES = re.compile(r"(?<!\w)__(?!\w+__(?!\w))(?=\S)(.+?)(?<=\S)__(?!\w)")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])")


def escape(text: str) -> str:
    """Text Slack shows exactly as written: no mention, link or command can form from it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """``markdown`` as safe Slack mrkdwn (see the module docstring for what changes)."""
    text = _PRIVATE.sub("", markdown)
    out: list[str] = []
    run: str | None = None  # the open code block's fence run ("```", "~~~~"...)
    # Lines end at "\n" only, as for the splitter's fences; a "\r" before it stays.
    for line in text.split("\n"):
        body = line.rstrip("\r")
        ending = line[len(body) :]
        fence = _FENCE.match(body)
        if run is None and fence is not None and _opens(fence):
            run = fence["run"]
            out.append(_opening(fence["info"]) + ending)
        elif run is not None and fence is not None and _closes(fence, run):
            run = None
            out.append("```" + ending)
        elif run is not None:
            out.append(escape(line))
        elif fence is not None and fence["info"].rstrip().endswith("```"):
            out.append(escape(body.strip()) + ending)  # a one-line block: ```code```
        else:
            out.append(_prose_line(body) + ending)
    if run is not None:
        # The model never closed it: closed here, so the rest of Slack's layout stays intact.
        if out[-1]:
            out.append("```")
        else:
            out[-1] = "```"  # the text ended with a newline: the fence takes that last line
    return "\n".join(out)


def format_reply(markdown: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """The messages to post for one reply, in order, each at most ``limit`` characters as sent.

    Split by the shared splitter on the markdown (so it sees the fences), each chunk measured
    by ``sent_size``, then converted.
    """
    parts = (to_mrkdwn(chunk).strip() for chunk in split_text(markdown, limit, size=sent_size))
    return [part for part in parts if part]


def sent_size(markdown: str) -> int:
    """An upper bound of ``len(to_mrkdwn(markdown))``, monotone and cheap for the splitter.

    Conversion only ever shortens text, apart from escaping and the fence it may close, so
    this bound holds; it is exact for plain text. Measuring by the conversion itself cost a
    full conversion per step of the splitter's search (tens of ms for a long reply).
    """
    return len(escape(markdown)) + _CLOSING_ALLOWANCE


def _opens(fence: re.Match[str]) -> bool:
    """Whether a fence line in prose opens a block: not when a backtick fence's info string
    holds a backtick (CommonMark reads that line as inline code)."""
    return not (fence["run"][0] == "`" and "`" in fence["info"])


def _closes(fence: re.Match[str], run: str) -> bool:
    """Whether a fence line closes the block ``run`` opened: the same character, at least as
    many of them, and nothing else."""
    same = fence["run"][0] == run[0] and len(fence["run"]) >= len(run)
    return same and not fence["info"].strip()


def _opening(info: str) -> str:
    """Slack's only fence; text after it stays (code written on the fence line) unless it is
    a language tag, which Slack would show as the first line of code."""
    info = info.strip()
    return "```" if _LANGUAGE_TAG.match(info) else "```" + escape(info)


def _prose_line(line: str) -> str:
    if heading := _HEADING.match(line):
        # Slack has no headings; a bold line reads as one. Inner bold would end it early.
        text = _STRONG_UNDERSCORES.sub(r"\1", heading["text"].replace("**", ""))
        return f"*{_inline(text)}*"
    if bullet := _BULLET.match(line):
        return f"{bullet['indent']}• {_inline(bullet['text'])}"
    if quote := _QUOTE.match(line):
        # A literal ">" only opens a quote at the start of a line; no "<" can pair with it.
        return f">{_inline(quote['text'])}" if quote["text"] else ">"
    return _inline(line)


def _inline(text: str) -> str:
    """One line of prose: code spans and links protected, the rest escaped and converted."""
    kept: list[str] = []

    def protect(rendered: str) -> str:
        kept.append(rendered)
        return f"{_OPEN}{len(kept) - 1}{_CLOSE}"

    code: dict[int, str] = {}  # a code span's token -> its text, for a link label holding it

    def protect_code(span: re.Match[str]) -> str:
        code[len(kept)] = span[0][1:-1]
        return protect(escape(span[0]))

    text = _CODE_SPAN.sub(protect_code, text)
    text = _LINK.sub(lambda m: protect(_link(m["label"], m["url"], code)), text)
    text = _BARE_URL.sub(lambda m: protect(escape(m[0])), text)
    text = escape(text)
    text = _STRONG_EMPHASIS.sub(lambda m: f"{_BOLD}_{m[1]}_{_BOLD}", text)
    text = _STRONG_STARS.sub(lambda m: f"{_BOLD}{m[1]}{_BOLD}", text)
    text = _STRONG_UNDERSCORES.sub(lambda m: f"{_BOLD}{m[1]}{_BOLD}", text)
    text = _STRIKE.sub(r"~\1~", text)
    text = _EMPHASIS.sub(r"_\1_", text)
    text = text.replace(_BOLD, "*")
    return _TOKEN.sub(lambda m: kept[int(m[1])], text)


def _link(label: str, url: str, code: dict[int, str]) -> str:
    """``<url|label>`` for web and mail links; anything else (``javascript:``...) as text.

    ``label`` may hold tokens of code spans (``code`` maps them to their text): a Slack label
    cannot be formatted, so a code span shows as its plain text.
    """
    label = label.replace("**", "").replace("`", "")
    label = _TOKEN.sub(lambda m: code[int(m[1])], label)
    if not _SAFE_URL.match(url):
        return escape(f"{label} ({url})")
    # "|" in the label would end it early in Slack's syntax: shown as a look-alike instead.
    return f"<{escape(url)}|{escape(label).replace('|', '¦')}>"
