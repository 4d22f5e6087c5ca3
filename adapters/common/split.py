"""Splitting a bot reply into chunks that each fit a chat platform's message limit.

Telegram takes 4,096 characters per message, Discord 2,000, a Slack text block about 3,000.
A reply from the model is markdown-ish text, so a cut should fall where a reader expects a
pause, and never break what the platform renders as one thing:

- cuts prefer, best first: a blank line (paragraph break), a line break, a sentence end
  (``.``, ``!``, ``?`` or ``…`` before whitespace, or a CJK full stop, exclamation or question
  mark), a space. A chunk ends at the last cut of the best kind within reach, even when that
  leaves it short, so paragraphs stay whole whenever they can;
- a word is cut only when no space is within reach, i.e. when a single "word" (a long URL, a
  token, CJK text without punctuation) is longer than the limit. Such a hard cut keeps
  combining marks, emoji sequences and flags with their base character;
- a fenced code block (three or more backticks or tildes, with an optional language) is never
  cut when it fits in a chunk. A longer one is cut between its lines (at a space, or hard, only
  when a single line is too long); each part is closed with the block's closing fence and the
  next part reopened with the block's opening line, so every chunk renders its code as code;
- a part must keep at least a quarter of the limit for code, or its fences would outweigh the
  code and multiply the messages. A block whose fence line is too long for that (say, a query
  written on the fence line) has its info string moved to a code line of its own, so that the
  parts reopen with the bare fence; if even the bare fence is too long (a run of hundreds of
  backticks or tildes), the block is cut like plain text, without added fences;
- whitespace inside an inline code span ("`like this`") is used only when nothing else is
  within reach.

Chunks are measured with ``size``, as the platform will count them (e.g. the length after HTML
escaping). ``size`` must be monotone: a longer piece never measures smaller. Where the limit
falls is found by trying ``limit`` characters first (exact when ``size`` is ``len``: about 3
calls a chunk), then by galloping or bisecting (about ``log2(limit)`` calls a chunk).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["split_text"]

Size = Callable[[str], int]

# Kinds of cut, best first; a chunk ends at the last cut of the best kind within reach.
_PARAGRAPH, _LINE, _SENTENCE, _SPACE, _IN_CODE_SPAN = range(5)
_KINDS = 5
# How many cuts of one kind to try when ``size`` turns out not quite monotone.
_TRIES_PER_KIND = 3
# How far a hard cut may back off to keep a grapheme whole or avoid making a fence.
_HARD_CUT_BACK_OFF = 64

_FENCE_LINE = re.compile(r"^( {0,3})(`{3,}|~{3,})([^\n]*)$", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_LINE_BREAK = re.compile(r"\n\s*")
_SENTENCE_END = re.compile(r"([.!?…]+[\"'”’»)\]]*)(\s+)")
_CJK_SENTENCE_END = re.compile(r"([。！？]+[」』）]*)(\s*)")
_WHITESPACE = re.compile(r"\s+")
# Blanks between two characters of a code line (not its indentation).
_CODE_BLANKS = re.compile(r"(?<=[^\s])[ \t]+(?=[^\s])")
_NON_SPACE = re.compile(r"\S")
# A backtick run, what it encloses (not crossing a blank line) and the same run again.
# (Bounded, so that stray backticks in a long paragraph cannot make it quadratic.)
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(?:[^\n]|\n(?![ \t]*\n)){1,1000}?(?<!`)\1(?!`)")

_ZWJ = "\u200d"


def split_text(text: str, limit: int, *, size: Size = len) -> list[str]:
    """Split ``text`` into chunks with ``size(chunk) <= limit``, in order, losing nothing but the
    whitespace at the cut points.

    - Empty or whitespace-only text gives ``[]``; text that fits gives ``[text]`` unchanged.
    - Otherwise CRLF line ends become LF, the whitespace at each cut is dropped (but not the
      indentation of a code line), and no chunk is empty or blank. The only additions are the
      fence lines that close and reopen a code block cut into parts, so every chunk has
      balanced fences (an unclosed block in the text is closed in its last part), and the line
      break that moves an overlong info string off its fence line. The one exception is a
      block whose bare fences alone would take over three quarters of a chunk: it is cut as
      plain text, so a chunk may then hold one of its fence lines without the other.
    - Words are never cut unless one alone is longer than the limit (a URL, a token): that one
      is hard-cut where the limit falls, backing off a little so as not to split a grapheme.
      See the module docstring for where cuts go.
    - ``size`` measures a chunk as the platform will (e.g. its length after HTML escaping, or
      in UTF-16 code units); it must not measure a longer piece smaller.

    A code block too long for one chunk is cut into fenced parts when its fences take at most
    three quarters of the limit (its opening line + newline + one character + newline + closing
    fence: 9 for a bare "```" fence, 15 for "```python"). Otherwise its info string becomes its
    first code line (adding a line break), and failing that the block is cut as plain text;
    see the module docstring. With room for only a few characters per part a code line holding
    a fence run of its own may be left alone on a line where it reads as a fence; real message
    limits are far above.

    Only a limit too small for a single character raises ``ValueError`` (its message never
    quotes the text, which may be private).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if not text.strip():
        return []
    if size(text) <= limit:
        return [text]
    text = _bare_crowded_openings(text.replace("\r\n", "\n"), limit, size)
    plain: set[int] = set()
    while True:
        try:
            return _Splitter(text, limit, size, frozenset(plain)).split()
        except _NoRoom as crowded:
            # ``size`` found a character wider than the one the fences were measured with:
            # split again with that block as plain text (each retry gives up one more block).
            plain.add(crowded.block_start)


class _NoRoom(Exception):
    """A part of the code block starting at ``block_start`` cannot fit with its fences."""

    def __init__(self, block_start: int) -> None:
        super().__init__(block_start)
        self.block_start = block_start


@dataclass(frozen=True, slots=True)
class _Block:
    """A fenced code block; positions index the text."""

    start: int  # first character of the opening fence line
    body_start: int  # first character after the opening line
    body_end: int  # first character of the closing fence line (the text's end when unclosed)
    end: int  # just past the closing fence line
    opening: str  # the opening line, repeated to reopen a part
    fence: str  # the opening line's indentation and fence run, without its info string
    # The block's own closing line, which also closes each part: a shorter one in its place
    # would leave the last part no room for the original (the fence when unclosed).
    closing: str
    run: str  # the fence's backticks or tildes


@dataclass(slots=True)
class _Cuts:
    """Cut points of one kind, sorted: a chunk ends at ``ends[i]``, the next resumes at
    ``resumes[i]`` (the whitespace between is dropped)."""

    ends: list[int]
    resumes: list[int]


def _find_blocks(text: str) -> list[_Block]:
    """Fenced code blocks, CommonMark style: a closing fence uses the same character, at least
    as many of them, and nothing else; an unclosed block runs to the end of the text."""
    blocks: list[_Block] = []
    opened: re.Match[str] | None = None
    for line in _FENCE_LINE.finditer(text):
        _, fence, rest = line.groups()
        if opened is None:
            # A backtick fence's info string cannot hold a backtick (it would be inline code).
            if not (fence[0] == "`" and "`" in rest):
                opened = line
        elif fence[0] == opened[2][0] and len(fence) >= len(opened[2]) and not rest.strip():
            blocks.append(_block(text, opened, line.start(), line.end()))
            opened = None
    if opened is not None:
        blocks.append(_block(text, opened, len(text), len(text)))
    return blocks


def _least_part(opening: str, first: str, closing: str) -> str:
    """The smallest part of a block cut into parts: its fences around one character."""
    return f"{opening}\n{first}\n{closing}"


def _fences_leave_room(least: str, limit: int, size: Size) -> bool:
    """Whether parts like ``least`` keep a quarter of ``limit`` for code."""
    return 4 * size(least) <= 3 * limit


def _part_fits(text: str, block: _Block, limit: int, size: Size) -> bool:
    """Whether ``block`` can be cut into parts that each reopen it and close it."""
    first = text[block.body_start : block.body_start + 1]
    return _fences_leave_room(_least_part(block.opening, first, block.closing), limit, size)


def _bare_crowded_openings(text: str, limit: int, size: Size) -> str:
    """``text`` with the info string of each crowded block moved to a line of its own.

    A block is crowded when it is too long for one chunk and its opening line is too long to
    reopen every part with (see ``_part_fits``). Without its info string the opening is the
    bare fence; the info string, now the first code line, is cut like any long code line. A
    block whose bare fences do not fit either is left as it is (it will be cut as plain text).
    """
    for block in reversed(_find_blocks(text)):  # from the end: earlier positions stay valid
        info = block.opening[len(block.fence) :]
        if not info.strip() or info.lstrip()[0] == block.run[0]:
            continue  # nothing to move, or its line would then close the block
        if size(text[block.start : block.end]) <= limit or _part_fits(text, block, limit, size):
            continue
        if not _fences_leave_room(_least_part(block.fence, info[0], block.closing), limit, size):
            continue
        at = block.start + len(block.fence)
        text = f"{text[:at]}\n{text[at:]}"
    return text


def _block(text: str, opening: re.Match[str], body_end: int, end: int) -> _Block:
    body_start = min(opening.end() + 1, len(text))
    return _Block(
        start=opening.start(),
        body_start=min(body_start, body_end),
        body_end=body_end,
        end=end,
        opening=opening[0].rstrip(),
        fence=opening[1] + opening[2],
        closing=text[body_end:end].rstrip() or opening[1] + opening[2],
        run=opening[2],
    )


def _may_be_fence(text: str, start: int) -> bool:
    """A cheap first check: whether a line starting at ``start`` could be a fence line."""
    return text[start : start + 6].lstrip(" ").startswith(("```", "~~~"))


def _fence_role(line: str, block: _Block | None) -> bool:
    """Whether ``line`` opens a code block (in prose: ``block`` is None) or closes ``block``."""
    fence = _FENCE_LINE.fullmatch(line)
    if fence is None:
        return False
    _, run, rest = fence.groups()
    if block is None:
        return not (run[0] == "`" and "`" in rest)
    return run[0] == block.run[0] and len(run) >= len(block.run) and not rest.strip()


def _joins(text: str, at: int) -> bool:
    """Whether ``text[at - 1]`` and ``text[at]`` belong to one grapheme (a hard cut between them
    would split an accent from its letter, an emoji sequence, or a flag)."""
    before, char = text[at - 1], text[at]
    if _ZWJ in (char, before) or unicodedata.combining(char):
        return True
    code = ord(char)
    if 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
        return True  # variation selector, skin tone, emoji tag
    if _regional(char) and _regional(before):
        run = at
        while run > 0 and _regional(text[run - 1]):
            run -= 1
        return (at - run) % 2 == 1  # flags are pairs: an odd run before means mid-flag
    return unicodedata.category(char) in ("Mn", "Me", "Mc")


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


class _Splitter:
    """One split: the text's code blocks and cut points, found once, then greedy chunks."""

    def __init__(self, text: str, limit: int, size: Size, plain: frozenset[int]) -> None:
        """``plain``: the starts of code blocks to cut as plain text."""
        self.text = text
        self.limit = limit
        self.size = size
        self.blocks: list[_Block] = []
        # Blocks too long for one chunk, by start: these are cut into fenced parts.
        self.long_blocks: set[int] = set()
        for block in _find_blocks(text):
            if block.start in plain:
                continue
            if size(text[block.start : block.end]) <= limit:
                self.blocks.append(block)
            elif _part_fits(text, block, limit, size):
                self.blocks.append(block)
                self.long_blocks.add(block.start)
            # Else its fences would crowd out the code: its lines are cut like any other text.
        self.newlines = [newline.start() for newline in re.finditer("\n", text)]
        self.block_starts = [block.start for block in self.blocks]
        self.cuts = [_Cuts([], []) for _ in range(_SPACE + 1)]
        self.span_starts: list[int] = []
        self.span_ends: list[int] = []
        self._collect_cuts()

    # -- cut points ------------------------------------------------------------------------

    def _collect_cuts(self) -> None:
        """Every cut point, by kind. They are checked (code spans, fences) only when a chunk
        considers them: a few per chunk rather than one per space in the text."""
        raw: list[list[tuple[int, int]]] = [[] for _ in range(_SPACE + 1)]
        prose_start = 0
        for block in self.blocks:
            self._prose_cuts(prose_start, block.start, raw)
            if block.start in self.long_blocks:
                self._code_cuts(block, raw)
            prose_start = block.end
        self._prose_cuts(prose_start, len(self.text), raw)
        for kind, found in enumerate(raw):
            found.sort()
            self.cuts[kind] = _Cuts([end for end, _ in found], [resume for _, resume in found])

    def _prose_cuts(self, start: int, stop: int, raw: list[list[tuple[int, int]]]) -> None:
        """Cuts in text outside code blocks, and the inline code spans there."""
        text = self.text
        for span in _CODE_SPAN.finditer(text, start, stop):
            self.span_starts.append(span.start())
            self.span_ends.append(span.end())
        raw[_PARAGRAPH] += [gap.span() for gap in _PARAGRAPH_BREAK.finditer(text, start, stop)]
        raw[_LINE] += [gap.span() for gap in _LINE_BREAK.finditer(text, start, stop)]
        for pattern in (_SENTENCE_END, _CJK_SENTENCE_END):
            raw[_SENTENCE] += [
                (end.end(1), end.end(2)) for end in pattern.finditer(text, start, stop)
            ]
        raw[_SPACE] += [gap.span() for gap in _WHITESPACE.finditer(text, start, stop)]

    def _code_cuts(self, block: _Block, raw: list[list[tuple[int, int]]]) -> None:
        """Cuts inside a block too long for one chunk: between lines, else between words.

        A part always keeps at least one character of the first line, so no part is empty.
        """
        text = self.text
        # Not after the last line: cutting after the closing line keeps the block's own fence.
        last = block.body_end - 1
        newline = text.find("\n", block.body_start + 1, last)
        while newline != -1:
            raw[_LINE].append((newline, newline + 1))
            newline = text.find("\n", newline + 1, last)
        raw[_SPACE] += [
            gap.span() for gap in _CODE_BLANKS.finditer(text, block.body_start, block.body_end)
        ]

    def _in_code_span(self, pos: int) -> bool:
        i = bisect.bisect_right(self.span_starts, pos) - 1
        return i >= 0 and pos < self.span_ends[i]

    def _fake_fence(self, end: int, resume: int, chunk_start: int = 0) -> bool:
        """Whether a cut would give a line a fence's role it does not have in the text (opening
        a block in prose, closing the block in code): the chunk's last line, cut short, or the
        next chunk's first line, starting mid-line."""
        return self._shortened_fence(chunk_start, end) or self._moved_fence(resume)

    def _shortened_fence(self, chunk_start: int, end: int) -> bool:
        line_start, line_end = self._line_around(end)
        if not _may_be_fence(self.text, max(line_start, chunk_start)):
            return False
        if not self.text[end:line_end].strip():
            return False  # only trailing whitespace is cut off: the line is unchanged
        context = self._in_body(line_start)
        shortened = self.text[max(line_start, chunk_start) : end]
        return _fence_role(shortened, context) and not self._line_role(line_start, line_end)

    def _moved_fence(self, start: int) -> bool:
        if not _may_be_fence(self.text, start):
            return False
        line_start, line_end = self._line_around(start)
        if start == line_start:
            return False
        moved = self.text[start:line_end]
        return _fence_role(moved, self._in_body(start)) and not self._line_role(
            line_start, line_end
        )

    def _line_role(self, line_start: int, line_end: int) -> bool:
        text = self.text[line_start:line_end]
        return _fence_role(text, self._in_body(line_start))

    def _line_around(self, pos: int) -> tuple[int, int]:
        """Start and end (before its newline) of the line holding ``pos``."""
        i = bisect.bisect_left(self.newlines, pos)
        start = self.newlines[i - 1] + 1 if i > 0 else 0
        return start, self.newlines[i] if i < len(self.newlines) else len(self.text)

    # -- positions -------------------------------------------------------------------------

    def _block_at(self, pos: int) -> _Block | None:
        """The code block whose lines hold ``text[pos]``."""
        i = bisect.bisect_right(self.block_starts, pos) - 1
        if i >= 0 and pos < self.blocks[i].end:
            return self.blocks[i]
        return None

    def _in_body(self, pos: int) -> _Block | None:
        block = self._block_at(pos)
        if block is not None and block.body_start <= pos < block.body_end:
            return block
        return None

    def _next_start(self, resume: int) -> int:
        """Where the next chunk starts: past a closing fence the last part already has (its own),
        and past whitespace, except inside code where indentation matters."""
        block = self._block_at(resume)
        if block is not None and resume >= block.body_end:
            resume = block.end
        if self._in_body(resume) is not None:
            return resume
        space = _NON_SPACE.search(self.text, resume)
        start = space.start() if space else len(self.text)
        if self._moved_fence(start):
            # Without its indentation the line would read as a fence: keep the indentation.
            start = max(resume, self.text.rfind("\n", 0, start) + 1)
        return start

    # -- rendering and measuring -----------------------------------------------------------

    def _render(self, pos: int, end: int) -> str:
        """The chunk for ``text[pos:end]``, with the fences a part of a code block needs."""
        text = self.text
        reopened = self._in_body(pos)
        head = reopened.opening + "\n" if reopened is not None else ""
        block = self._block_at(end - 1)
        if block is not None:
            # Inside a fence line, measure the whole line: keeps the measure monotone in ``end``.
            if end < block.body_start:
                end = block.body_start
            elif end > block.body_end:
                end = block.end
        chunk = (head + text[pos:end]).rstrip()
        if block is not None and block.body_start <= end <= block.body_end:
            chunk += "\n" + block.closing
        return chunk

    def _fits(self, pos: int, end: int) -> bool:
        return self.size(self._render(pos, end)) <= self.limit

    def _reach(self, pos: int) -> int:
        """The furthest ``end`` whose chunk fits (``pos`` when not even one character does;
        the text's length when the rest fits).

        ``pos + limit`` is the answer when ``size`` is ``len``, so it is tried first; from there
        the search gallops up (``size`` measuring less than ``len``) or bisects down (more),
        calling ``size`` about ``log2(limit)`` times at most, and never on the whole rest unless
        it is near the limit.
        """
        length = len(self.text)
        guess = min(pos + self.limit, length)
        # ``low`` fits, ``high`` does not (``length + 1``: nothing known not to fit).
        low, high = (guess, length + 1) if self._fits(pos, guess) else (pos, guess)
        step = 1
        while high > length and low < length:
            probe = min(low + step, length)
            if self._fits(pos, probe):
                low, step = probe, step * 2
            else:
                high = probe
        while high - low > 1:
            middle = (low + high) // 2
            if self._fits(pos, middle):
                low = middle
            else:
                high = middle
        return low

    # -- choosing cuts ---------------------------------------------------------------------

    def split(self) -> list[str]:
        chunks: list[str] = []
        pos = self._next_start(0)
        while pos < len(self.text):
            reach = self._reach(pos)
            if reach == len(self.text):  # the rest fits
                last = self._render(pos, reach)
                if last.strip():
                    chunks.append(last)
                break
            end, resume = self._cut(pos, reach)
            chunks.append(self._render(pos, end))
            pos = self._next_start(resume)
        return chunks

    def _cut(self, pos: int, reach: int) -> tuple[int, int]:
        """The best cut for a chunk starting at ``pos``: ``(end, resume)``."""
        for kind in range(_KINDS):
            cut = self._last_cut(kind, pos, reach)
            if cut is not None:
                return cut
        return self._hard_cut(pos, reach)

    def _last_cut(self, kind: int, pos: int, reach: int) -> tuple[int, int] | None:
        """The last cut of ``kind`` in the chunk that keeps code spans and fences intact.

        Cuts inside an inline code span are their own, last kind, taken from the spaces.
        """
        in_span = kind == _IN_CODE_SPAN
        cuts = self.cuts[_SPACE if in_span else kind]
        i = bisect.bisect_right(cuts.ends, reach) - 1
        tries = 0
        while i >= 0 and cuts.ends[i] > pos and tries < _TRIES_PER_KIND:
            end, resume = cuts.ends[i], cuts.resumes[i]
            i -= 1
            if self._in_code_span(end) != in_span or self._fake_fence(end, resume, pos):
                continue
            if self._fits(pos, end):
                return end, resume
            tries += 1  # ``size`` is not quite monotone: try a few earlier cuts
        return None

    def _hard_cut(self, pos: int, reach: int) -> tuple[int, int]:
        """Cut inside a word (or code line) that alone is longer than the limit."""
        if reach <= pos:
            crowded = self._block_at(pos)
            if crowded is not None:
                raise _NoRoom(crowded.start)
            # Never quote the text here: the message may end up in a log.
            raise ValueError(
                f"limit {self.limit} is too small: the character at {pos} does not fit in a chunk"
            )
        end = self._hard_cut_end(pos, reach)
        block = self._block_at(end - 1)
        if block is not None and end <= block.body_start:
            raise _NoRoom(block.start)  # a part could not hold its opening line
        if (
            block is not None
            and end >= block.body_end
            and (end > block.body_end or self._fits(pos, block.end))
        ):
            end = block.end  # keep the block's own closing line rather than add one
        return end, end

    def _hard_cut_end(self, pos: int, reach: int) -> int:
        """Back off from ``reach`` to a place that neither splits a grapheme nor starts the next
        chunk at a backtick or tilde; else to one that at least makes no fence (which would
        break the rendering of every chunk after); else cut at ``reach``. The back-off is
        bounded, so a huge run of backticks stays linear."""

        def makes_fence(end: int) -> bool:
            return self._fake_fence(end, self._next_start(end), pos)

        def splits_or_makes_fence(end: int) -> bool:
            return _joins(self.text, end) or self._bad_start(end) or makes_fence(end)

        lowest = max(pos + 1, reach - _HARD_CUT_BACK_OFF, self._region_start(reach))
        for bad in (splits_or_makes_fence, makes_fence):
            end = reach
            while end > lowest and bad(end):
                end -= 1
            if not bad(end):
                return end
        return reach

    def _region_start(self, end: int) -> int:
        """The lowest hard cut in the region of ``end``: past the previous code block in prose,
        past one character of the body in a block's body."""
        i = bisect.bisect_right(self.block_starts, end - 1) - 1
        if i < 0:
            return 0
        block = self.blocks[i]
        return block.body_start + 1 if end <= block.end else block.end

    def _bad_start(self, pos: int) -> bool:
        """Whether the next chunk starting at ``pos`` could begin with a fence run: at a backtick
        or tilde, or (outside code, where it is skipped) at whitespace before one."""
        char = self.text[pos]
        return char in "`~" or (char.isspace() and self._in_body(pos) is None)
