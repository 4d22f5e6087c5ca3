"""Model output (markdown-ish text) as Telegram HTML that can never break a message.

Telegram rejects a whole message whose HTML does not parse, and turns ``@name`` in a bot's text
into a mention that notifies that person. So a reply is rendered, not passed through:

- everything is HTML-escaped; the only tags we emit are ``<b>``, ``<i>``, ``<code>`` and
  ``<pre>``, each opened and closed by us, so model output cannot add a tag or unbalance one;
- a safe subset of markdown becomes those tags: ``**bold**``/``__bold__``, ``*italic*``/
  ``_italic_``, ```inline code```, fenced code blocks and ``#`` headings (bold). A marker
  without its partner stays a literal character;
- an ``@`` that could start a mention gets an invisible word joiner after it, so the text
  reads the same but Telegram does not link or notify anyone. Telegram looks for mentions in
  the text as shown, after the markers are gone (``_@name_`` shows ``@name``), so that is the
  text checked: every ``@`` before a letter, digit or ``_`` is defused, except one glued to an
  ASCII word in the same run of text (``mail@shop.example``, never a mention). Code is left as
  written: Telegram finds no mentions in it, and a hidden character would break a copied
  snippet. ``Rendered.unformatted``, the fallback sent without a parse mode, has no code, so
  there an ``@`` in code is defused too. Links are left as text;
- a reply longer than one message is split by the shared splitter *before* rendering, so every
  message is well-formed on its own, at ``MAX_MESSAGE_LENGTH`` measured as Telegram counts it.
"""

from __future__ import annotations

import bisect
import html
import itertools
import re
from dataclasses import dataclass

from adapters.common.split import split_text
from adapters.common.text import utf16_length

# Telegram's limit for a message's text, "after entities parsing", in UTF-16 code units.
MAX_MESSAGE_LENGTH = 4096
WORD_JOINER = "\u2060"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^\n`]*?)[ \t]*$")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
# An "@" that could start a mention in the text as shown: before a username character, and not
# right after an ASCII word character (Telegram does not see "mail@shop.example" as a mention).
# The exception is judged within one run of text only (see ``_defused``).
_MENTION_AT = re.compile(r"(?<![A-Za-z0-9_])@(?=[A-Za-z0-9_])")
# Any "@" before a username character, whatever comes before it.
_ANY_AT = re.compile(r"@(?=[A-Za-z0-9_])")
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
        return utf16_length(self.plain)

    @property
    def unformatted(self) -> str:
        """The message to send without a parse mode, should Telegram refuse the HTML.

        There nothing is code and all is one run of text, so an ``@`` in code is defused too.
        Within the same bound as the HTML: each ``@`` still gets at most one word joiner.
        """
        return _MENTION_AT.sub("@" + WORD_JOINER, self.plain.replace("@" + WORD_JOINER, "@"))


def size_bound(markdown: str) -> int:
    """An upper bound of ``render(markdown).length``, monotone in the text as the splitter needs.

    Rendering only removes characters (markers, fences), except the one word joiner an ``@`` may
    get, so the raw length plus one per ``@`` is never below the rendered length.
    """
    return utf16_length(markdown) + markdown.count("@")


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
    return out.finish()


class _Output:
    """The message as pieces: visible text, code, or markup; rendered by ``finish``."""

    __slots__ = ("code", "markup", "plain")

    def __init__(self) -> None:
        # Index-aligned: a piece's visible text, its tag (None for text) and whether it is code.
        self.plain: list[str] = []
        self.markup: list[str | None] = []
        self.code: list[bool] = []

    def text(self, value: str, *, code: bool = False) -> None:
        self.plain.append(value)
        self.markup.append(None)
        self.code.append(code)

    def tag(self, markup: str) -> None:
        self.plain.append("")
        self.markup.append(markup)
        self.code.append(False)

    def retag(self, index: int, markup: str) -> None:
        """The literal piece at ``index`` (an emphasis marker) becomes ``markup``."""
        self.plain[index] = ""
        self.markup[index] = markup

    def finish(self) -> Rendered:
        """The HTML and the visible text, mentions defused in the text as Telegram shows it."""
        plain = _defused(self.plain, self.code)
        markup = (
            tag if tag is not None else html.escape(piece, quote=False)
            for piece, tag in zip(plain, self.markup, strict=True)
        )
        return Rendered("".join(markup), "".join(plain))


def _defused(pieces: list[str], code: list[bool]) -> list[str]:
    """``pieces`` with a word joiner after each ``@`` that would start a mention in their
    concatenation.

    The joiner goes right after the ``@`` when both it and the next character are in the same
    piece; across pieces (markup between them) it goes before the next character, unless that
    one is code. Nothing is added inside code, where Telegram finds no mentions, except when
    an ``@`` ending a code span is followed by more code: safety first.
    """
    text = "".join(pieces)
    if "@" not in text:
        return pieces
    starts: list[int] = []
    position = 0
    for piece in pieces:
        starts.append(position)
        position += len(piece)
    # Where a joiner goes: piece index -> offsets in that piece.
    inserts: dict[int, list[int]] = {}
    for match in _ANY_AT.finditer(text):
        at = match.start()
        here = _piece_at(starts, pieces, at)
        after = _piece_at(starts, pieces, at + 1)
        if here == after:
            if code[here]:
                continue
            offset = at - starts[here]
            if offset and _MENTION_AT.match(pieces[here], offset) is None:
                continue  # glued to a word in the same text: "mail@shop.example"
        target = here if code[after] else after
        inserts.setdefault(target, []).append(at + 1 - starts[target])
    result = list(pieces)
    for index, offsets in inserts.items():
        piece = pieces[index]
        cuts = [0, *offsets, len(piece)]
        result[index] = WORD_JOINER.join(piece[a:b] for a, b in itertools.pairwise(cuts))
    return result


def _piece_at(starts: list[int], pieces: list[str], position: int) -> int:
    """The index of the non-empty piece holding the character at ``position``."""
    index = bisect.bisect_right(starts, position) - 1
    while not pieces[index] or starts[index] + len(pieces[index]) <= position:
        index += 1
    return index


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
        out.text(code, code=True)
        out.tag("</code></pre>")
    else:
        out.tag("<pre>")
        out.text(code, code=True)
        out.tag("</pre>")


def _line(line: str, out: _Output) -> None:
    heading = _HEADING.match(line)
    if heading is not None and heading.group(1).strip():
        out.tag("<b>")
        _inline(heading.group(1), out, in_bold=True)
        out.tag("</b>")
    else:
        _inline(line, out)


def _inline(line: str, out: _Output, *, in_bold: bool = False) -> None:
    """Emphasis and inline code in one line, always well-nested.

    An opening marker is written as literal text and remembered; when its partner comes, the
    literal becomes the opening tag. Openers above it on the stack that never closed stay
    literal, so every pair of tags encloses only complete pairs. Inside a heading (already
    bold) a bold pair only loses its markers.
    """
    # (marker, index in out's pieces of its literal)
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
                out.text(_trim_code(line[pos:close]), code=True)
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
                out.retag(index, "" if bare else f"<{tag}>")
                out.tag("" if bare else f"</{tag}>")
                continue
        if _can_open(run, before, after):
            stack.append((run, len(out.plain)))
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
