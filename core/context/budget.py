"""Fits system prompt, user facts, history and the current message into a token budget.

What is kept, in order of precedence:

1. the system prompt and the current user message, always (never dropped, never cut);
2. the user facts, appended to the system prompt; when even (1) plus the facts do not fit,
   whole fact lines are dropped from the end, never cut mid-line (half a figure is a wrong
   figure). If (1) alone does not fit, ``ContextOverflowError`` is raised;
3. the newest ``keep_recent`` turns (a user message and the replies that follow it), whole,
   newest first, as long as each fits entirely;
4. older messages by importance, highest first, newer first on ties; a message that does not
   fit in what is left is skipped and smaller ones may still fill the space. The dropped ones
   are optionally replaced by one marker line, ``[n earlier messages omitted]``.

The output keeps chronological order. Every message costs its text's tokens plus
``MESSAGE_OVERHEAD_TOKENS``, and the prompt as a whole ``PROMPT_OVERHEAD_TOKENS`` more; the total
never exceeds ``budget - reply_reserve``. History token counts and importance come from
``BudgetedMessage`` (computed once, when stored), so trimming only counts the system text, the
current message and the marker: O(n log n) in the history length for the sort, no re-counting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

from core.context.importance import importance
from core.context.tokens import TokenCounter
from core.errors import BastionError
from core.model import ChatMessage, Role

# OpenAI's chat format spends 3 tokens framing each message (role and separators) and 3 more
# priming the reply; 4 per message leaves a token of slack for other providers' framing.
MESSAGE_OVERHEAD_TOKENS = 4
PROMPT_OVERHEAD_TOKENS = 3

FACTS_SEPARATOR = "\n\n"
FACTS_TRUNCATED_NOTE = "[some facts were left out to fit the context]"


class ContextOverflowError(BastionError):
    """The system prompt and the current message alone exceed the budget.

    The caller should answer without calling a model, e.g. "Your message is too long for me
    to handle; please send a shorter one." ``needed`` and ``available`` are in tokens.
    """

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"system prompt and current message need {needed} tokens, {available} available"
        )
        self.needed = needed
        self.available = available


@dataclass(frozen=True, slots=True)
class BudgetedMessage:
    """A history message with its token count (text only) and importance, both fixed at store."""

    role: Role
    text: str
    tokens: int
    importance: float


def budgeted(role: Role, text: str, counter: TokenCounter) -> BudgetedMessage:
    """Score and count a message once, as it is stored."""
    return BudgetedMessage(role, text, counter.count(text), importance(text, role))


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """The trimmed prompt and what trimming did, for metrics ("tokens saved by trimming")."""

    messages: tuple[ChatMessage, ...]
    tokens: int  # total cost of ``messages``, overheads included
    kept: int  # history messages kept
    dropped: int  # history messages left out
    dropped_tokens: int  # what the left-out history would have cost
    facts_truncated: bool


def omitted_marker(count: int) -> str:
    return f"[{count} earlier message{'s' if count != 1 else ''} omitted]"


def plan_context(
    system: str,
    facts_text: str,
    history: Sequence[BudgetedMessage],
    current: str,
    *,
    budget: int,
    reply_reserve: int,
    keep_recent: int,
    counter: TokenCounter,
) -> ContextPlan:
    """The prompt for one turn within ``budget - reply_reserve`` tokens, and what was trimmed.

    See the module docstring for the rules. Raises ``ContextOverflowError`` when the system
    prompt and ``current`` cannot fit.
    """
    available = budget - reply_reserve - PROMPT_OVERHEAD_TOKENS
    current_cost = counter.count(current) + MESSAGE_OVERHEAD_TOKENS
    system_text, system_cost, facts_truncated = _system_part(
        system, facts_text, available - current_cost, counter
    )
    if system_cost + current_cost > available:
        raise ContextOverflowError(
            system_cost + current_cost + PROMPT_OVERHEAD_TOKENS, budget - reply_reserve
        )
    room = available - system_cost - current_cost
    keep, marker, marker_cost, total_history = _choose_history(history, room, keep_recent, counter)

    messages: list[ChatMessage] = []
    if system_text:
        messages.append(ChatMessage(Role.SYSTEM, system_text))
    used = system_cost + current_cost
    if marker:
        messages.append(ChatMessage(Role.SYSTEM, marker))
        used += marker_cost
    kept_tokens = 0
    for message in compress(history, keep):
        messages.append(ChatMessage(message.role, message.text))
        kept_tokens += message.tokens
    messages.append(ChatMessage(Role.USER, current))
    kept = sum(keep)
    kept_tokens += MESSAGE_OVERHEAD_TOKENS * kept
    return ContextPlan(
        messages=tuple(messages),
        tokens=used + kept_tokens + PROMPT_OVERHEAD_TOKENS,
        kept=kept,
        dropped=len(history) - kept,
        dropped_tokens=total_history - kept_tokens,
        facts_truncated=facts_truncated,
    )


def _system_part(
    system: str, facts_text: str, room: int, counter: TokenCounter
) -> tuple[str, int, bool]:
    """The system message's text and cost, dropping trailing fact lines until it fits ``room``.

    Returns the full text when it fits, and the bare system prompt (which may still be too
    big: the caller checks) when not even one fact line does.
    """

    def cost(text: str) -> int:
        return counter.count(text) + MESSAGE_OVERHEAD_TOKENS if text else 0

    def join(facts: str) -> str:
        return f"{system}{FACTS_SEPARATOR}{facts}" if system and facts else system or facts

    full = join(facts_text.strip())
    full_cost = cost(full)
    if full_cost <= room or not facts_text.strip():
        return full, full_cost, False
    lines = [line for line in facts_text.strip().splitlines() if line.strip()]

    def with_lines(count: int) -> str:
        return join("\n".join([*lines[:count], FACTS_TRUNCATED_NOTE]))

    # Binary search for the most leading lines that fit: O(log lines) counts, not one per line.
    low, high = 0, len(lines) - 1
    best: tuple[str, int] | None = None
    while low <= high:
        middle = (low + high) // 2
        text = with_lines(middle)
        text_cost = cost(text)
        if text_cost <= room:
            best = (text, text_cost)
            low = middle + 1
        else:
            high = middle - 1
    if best is not None and low > 0:
        return best[0], best[1], True
    return system, cost(system), True


def _choose_history(
    history: Sequence[BudgetedMessage],
    room: int,
    keep_recent: int,
    counter: TokenCounter,
) -> tuple[list[bool], str, int, int]:
    """Which history messages fit in ``room`` tokens, the omission marker and its cost, and
    what the whole history would have cost."""
    summarize = True  # an omission marker, unless there turns out to be no room for one
    count = len(history)
    keep = [False] * count
    costs = [m.tokens + MESSAGE_OVERHEAD_TOKENS for m in history]
    total = sum(costs)
    if total <= room:
        return [True] * count, "", 0, total

    # Recent turns, newest first, each whole or not at all; the first that does not fit ends
    # the protection and joins the older messages below.
    end = count
    turns = 0
    while end > 0 and turns < keep_recent:
        start = end - 1
        while start > 0 and history[start].role is not Role.USER:
            start -= 1
        turn_cost = sum(costs[start:end])
        if turn_cost > room:
            break
        room -= turn_cost
        keep[start:end] = [True] * (end - start)
        end = start
        turns += 1

    pool = end  # messages [0, end) compete on importance
    marker_cost = 0
    if summarize and pool:
        # Reserve the marker at its longest (every pooled message omitted); the real one,
        # with a count no larger, cannot cost more.
        marker_cost = counter.count(omitted_marker(pool)) + MESSAGE_OVERHEAD_TOKENS
        if marker_cost <= room:
            room -= marker_cost
        else:
            summarize = False
    # Most important first, newest first on ties. Each message becomes one int, importance
    # (to a millionth) then position, so the sort runs in C and allocates no tuples (which
    # would wake the garbage collector thousands of times on a long history).
    stride = pool
    order = sorted(
        (int(history[i].importance * 1_000_000) * stride + i for i in range(pool)),
        reverse=True,
    )
    cheapest = min(costs[:pool], default=0)
    for key in order:
        if room < cheapest:
            break  # nothing left can fit
        index = key % stride
        if costs[index] <= room:
            keep[index] = True
            room -= costs[index]
    omitted = pool - sum(keep[:pool])
    if not (summarize and omitted):
        return keep, "", 0, total
    marker = omitted_marker(omitted)
    actual_cost = counter.count(marker) + MESSAGE_OVERHEAD_TOKENS
    # Only a counter that charges fewer digits more would get here; drop the note, not budget.
    if actual_cost > marker_cost:
        return keep, "", 0, total
    return keep, marker, actual_cost, total
