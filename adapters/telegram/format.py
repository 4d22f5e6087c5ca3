"""Model output (markdown-ish text) as Telegram HTML that can never break a message.

Telegram rejects a whole message whose HTML does not parse, and turns ``@name`` in a bot's text
into a mention that notifies that person. So a reply is rendered, not passed through:

- everything is HTML-escaped; the only tags we emit are ``<b>``, ``<i>``, ``<code>`` and
  ``<pre>``, each opened and closed by us, so model output cannot add a tag or unbalance one;
- a safe subset of markdown becomes those tags: ``**bold**``/``__bold__``, ``*italic*``/
  ``_italic_``, ```inline code```, fenced code blocks and ``#`` headings (bold). A marker
  without its partner stays a literal character;
- an ``@`` that could start a mention gets an invisible word joiner after it, so the text
  reads the same but Telegram does not link or notify anyone; links are left as text;
- a reply longer than one message is split by the shared splitter *before* rendering, so every
  message is well-formed on its own, at ``MAX_MESSAGE_LENGTH`` measured as Telegram counts it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from adapters.common.split import split_text

# Telegram's limit for a message's text, "after entities parsing", in UTF-16 code units.
MAX_MESSAGE_LENGTH = 4096
WORD_JOINER = "\u2060"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^\n`]*?)[ \t]*$")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
# An "@" not glued to a word (so e-mail addresses stay intact) with something after it.
_MENTION_AT = re.compile(r"(?<![\w@])@(?=\S)")
# Backtick runs (inline code) and runs of * or _ (emphasis), everything else is text.
_INLINE = re.compile(r"`+|\*+|_+")
_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,32}")
_TAGS = {"**": "b", "__": "b", "*": "i", "_": "i"}


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message: its HTML (``parse_mode=HTML``) and its text as Telegram will show it."""

    html: str
    plain: str

    @property
    def length(self) -> int:
        """The length Telegram checks against its limit."""
        return telegram_length(self.plain)


def telegram_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def size_bound(markdown: str) -> int:
    """An upper bound of ``render(markdown).length``, monotone in the text as the splitter needs.

    Rendering only removes characters (markers, fences), except the one word joiner an ``@`` may
    get, so the raw length plus one per ``@`` is never below the rendered length.
    """
    return telegram_length(markdown) + markdown.count("@")


def format_reply(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[Rendered]:
    """``text`` as the messages to send, in order; none empty, each within ``limit``."""
    messages: list[Rendered] = []
    for chunk in split_text(text, limit, size=size_bound):
        rendered = render(chunk)
        if rendered.plain.strip():
            messages.append(rendered)
    return messages


def render(markdown: str) -> Rendered:
    """The HTML for one message's worth of markdown, and its visible text."""
    out = _Output()
    lines = markdown.split("\n")
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            if i:
                out.text("\n")
            _line(lines[i], out)
            i += 1
            continue
        marker, language = fence.group(1), fence.group(2)
        body: list[str] = []
        i += 1
        while i < len(lines) and not _closes(lines[i], marker):
            body.append(lines[i])
            i += 1
        i += 1  # past the closing fence (an unclosed block runs to the end)
        if out.plain:
            out.text("\n")
        _code_block("\n".join(body), language, out)
    return Rendered("".join(out.html), "".join(out.plain))


def plain_text(text: str) -> str:
    """``text`` escaped for HTML and with mentions defused, for messages we write ourselves."""
    return html.escape(_defuse(text), quote=False)


class _Output:
    """The HTML and the visible text, built side by side."""

    __slots__ = ("html", "plain")

    def __init__(self) -> None:
        self.html: list[str] = []
        self.plain: list[str] = []

    def text(self, value: str) -> None:
        self.html.append(html.escape(value, quote=False))
        self.plain.append(value)

    def tag(self, markup: str) -> None:
        # An empty visible part keeps both lists index-aligned (the emphasis stack needs it).
        self.html.append(markup)
        self.plain.append("")


def _closes(line: str, marker: str) -> bool:
    stripped = line.strip()
    return (
        len(stripped) >= len(marker)
        and set(stripped) == {marker[0]}
        and len(line) - len(line.lstrip(" ")) <= 3
    )


def _code_block(code: str, language: str, out: _Output) -> None:
    if not code.strip():
        out.text(code)
        return
    lang = language.split(maxsplit=1)[0] if language.strip() else ""
    if _LANGUAGE.fullmatch(lang):
        out.tag(f'<pre><code class="language-{lang}">')
        out.text(code)
        out.tag("</code></pre>")
    else:
        out.tag("<pre>")
        out.text(code)
        out.tag("</pre>")


def _line(line: str, out: _Output) -> None:
    heading = _HEADING.match(line)
    if heading is not None and heading.group(1).strip():
        out.tag("<b>")
        _inline(heading.group(1), out, in_bold=True)
        out.tag("</b>")
    else:
        _inline(line, out)


def _defuse(text: str) -> str:
    return _MENTION_AT.sub("@" + WORD_JOINER, text)


def _inline(line: str, out: _Output, *, in_bold: bool = False) -> None:
    """Emphasis and inline code in one line, always well-nested.

    An opening marker is written as literal text and remembered; when its partner comes, the
    literal becomes the opening tag. Openers above it on the stack that never closed stay
    literal, so every pair of tags encloses only complete pairs. Inside a heading (already
    bold) a bold pair only loses its markers.
    """
    line = _defuse(line)
    # (marker, index in out.html / out.plain of its literal)
    stack: list[tuple[str, int]] = []
    pos = 0
    for match in _INLINE.finditer(line):
        if match.start() < pos:
            continue  # inside a code span already written
        if match.start() > pos:
            out.text(line[pos : match.start()])
        run = match.group()
        pos = match.end()
        if run[0] == "`":
            close = _closing_backticks(line, run, pos)
            if close is not None and line[pos:close].strip():
                out.tag("<code>")
                out.text(_trim_code(line[pos:close]))
                out.tag("</code>")
                pos = close + len(run)
            else:
                out.text(run)
            continue
        before = line[match.start() - 1] if match.start() else " "
        after = line[pos] if pos < len(line) else " "
        if run not in _TAGS:
            out.text(run)  # *** and longer runs: not worth guessing
            continue
        if _can_close(run, before, after):
            opener = next((k for k in range(len(stack) - 1, -1, -1) if stack[k][0] == run), None)
            if opener is not None:
                index = stack[opener][1]
                del stack[opener:]
                tag = _TAGS[run]
                bare = in_bold and tag == "b"
                out.html[index] = "" if bare else f"<{tag}>"
                out.plain[index] = ""
                out.tag("" if bare else f"</{tag}>")
                continue
        if _can_open(run, before, after):
            stack.append((run, len(out.html)))
        out.text(run)
    if pos < len(line):
        out.text(line[pos:])


def _closing_backticks(line: str, run: str, start: int) -> int | None:
    """Where the same run of backticks closes the span opened at ``start``, if it does."""
    for match in re.finditer("`+", line[start:]):
        if match.group() == run:
            return start + match.start()
    return None


def _trim_code(code: str) -> str:
    # Markdown strips one space on each side of `` ` code ` `` so backticks can be quoted.
    if len(code) > 2 and code[0] == " " and code[-1] == " ":
        return code[1:-1]
    return code


def _can_open(run: str, before: str, after: str) -> bool:
    if after.isspace():
        return False
    return not (run[0] == "_" and before.isalnum())  # snake_case is not emphasis


def _can_close(run: str, before: str, after: str) -> bool:
    if before.isspace():
        return False
    return not (run[0] == "_" and after.isalnum())
