"""plan_context over many random histories: the budget and the must-keep rules always hold."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from core.context.budget import (
    FACTS_TRUNCATED_NOTE,
    MESSAGE_OVERHEAD_TOKENS,
    PROMPT_OVERHEAD_TOKENS,
    BudgetedMessage,
    ContextOverflowError,
    budgeted,
    omitted_marker,
    plan_context,
)
from core.context.tokens import EstimateCounter, TiktokenCounter
from core.model import ChatMessage, Role

WORDS = [
    "order",
    "refund",
    "parcel",
    "when",
    "the",
    "my",
    "is",
    "it",
    "please",
    "thanks",
    "we",
    "will",
    "ship",
    "card",
    "balance",
]
COUNTER = EstimateCounter()
SYSTEM = "You are the support assistant of Acme. Answer briefly and only from the facts given."
CASES = 400


class CountingCounter:
    """Counts how often the budget asks for a count, to prove old messages are not re-counted."""

    def __init__(self) -> None:
        self.calls = 0

    def count(self, text: str) -> int:
        self.calls += 1
        return COUNTER.count(text)


def cost(messages: Sequence[ChatMessage]) -> int:
    return (
        sum(COUNTER.count(m.text) + MESSAGE_OVERHEAD_TOKENS for m in messages)
        + PROMPT_OVERHEAD_TOKENS
    )


def random_history(rng: random.Random, size: int) -> list[BudgetedMessage]:
    history = []
    for index in range(size):
        role = Role.USER if index == 0 or rng.random() < 0.5 else Role.ASSISTANT
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60)))
        # The index makes every text unique, so the output can be matched back to the input.
        text = f"m{index} {words}"
        history.append(
            BudgetedMessage(role, text, COUNTER.count(text), rng.choice([0.05, 0.2, 0.5, 0.9]))
        )
    return history


def turns(history: Sequence[BudgetedMessage]) -> list[list[int]]:
    """Indices of each turn (a user message and what follows it), newest turn first."""
    groups: list[list[int]] = []
    for index, message in enumerate(history):
        if message.role is Role.USER or not groups:
            groups.append([])
        groups[-1].append(index)
    return groups[::-1]


def kept_indices(output: Sequence[ChatMessage], history: Sequence[BudgetedMessage]) -> list[int]:
    position = {m.text: i for i, m in enumerate(history)}
    return [position[m.text] for m in output if m.text in position]


@pytest.mark.parametrize("seed", range(CASES))
def test_random_histories_keep_every_rule(seed: int) -> None:
    rng = random.Random(seed)
    history = random_history(rng, rng.choice([0, 1, 5, 30, 200]))
    budget = rng.randint(150, 3000)
    reserve = rng.randint(0, 100)
    keep_recent = rng.randint(0, 4)
    current = "m-current " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
    facts = "\n".join(f"fact {i}: value {rng.randint(0, 10**6)}" for i in range(rng.randint(0, 8)))

    try:
        output = fit(
            SYSTEM,
            facts,
            history,
            current,
            budget=budget,
            reply_reserve=reserve,
            keep_recent=keep_recent,
            counter=COUNTER,
        )
    except ContextOverflowError:
        bare = [ChatMessage(Role.SYSTEM, SYSTEM), ChatMessage(Role.USER, current)]
        assert cost(bare) > budget - reserve
        return

    # The budget is never exceeded, overheads and the omission marker included.
    assert cost(output) <= budget - reserve
    # The system prompt and the current message are always there, first and last.
    assert output[0].role is Role.SYSTEM
    assert output[0].text.startswith(SYSTEM)
    assert output[-1] == ChatMessage(Role.USER, current)
    # Chronological order is kept.
    kept = kept_indices(output, history)
    assert kept == sorted(kept)
    # Recent turns are kept whole, newest first, while each fits in what is left.
    room = budget - reserve - cost([output[0], output[-1]])
    if sum(m.tokens + MESSAGE_OVERHEAD_TOKENS for m in history) > room:
        for turn in turns(history)[:keep_recent]:
            turn_cost = sum(history[i].tokens + MESSAGE_OVERHEAD_TOKENS for i in turn)
            if turn_cost > room:
                break
            assert set(turn) <= set(kept)
            room -= turn_cost
    # A marker says how many history messages were left out, and only when some were (it
    # may itself be left out when even it does not fit).
    omitted = len(history) - len(kept)
    markers = [m.text for m in output if m.text.startswith("[") and "omitted]" in m.text]
    assert markers in ([omitted_marker(omitted)], []) if omitted else markers == []


@pytest.mark.parametrize("seed", range(100))
def test_important_old_messages_survive_over_unimportant_ones(seed: int) -> None:
    rng = random.Random(seed)
    # Equal sizes, so only importance (then recency) decides what stays.
    history = [
        BudgetedMessage(
            Role.USER if i % 2 == 0 else Role.ASSISTANT,
            f"m{i:04d} abcdefghij",
            5,
            rng.choice([0.1, 0.4, 0.8]),
        )
        for i in range(rng.randint(20, 300))
    ]
    output = fit(
        "sys",
        "",
        history,
        "now",
        budget=rng.randint(60, 600),
        reply_reserve=0,
        keep_recent=0,
        counter=COUNTER,
    )
    kept = set(kept_indices(output, history))
    dropped = set(range(len(history))) - kept
    if kept and dropped:
        weakest_kept = min((history[i].importance, i) for i in kept)
        strongest_dropped = max((history[i].importance, i) for i in dropped)
        assert weakest_kept > strongest_dropped


def test_everything_is_kept_when_it_fits_and_no_marker_is_added() -> None:
    history = [budgeted(Role.USER, "hi", COUNTER), budgeted(Role.ASSISTANT, "Hello!", COUNTER)]
    output = fit(
        "sys", "balance: $47.15", history, "What is my balance?",
        budget=1000, reply_reserve=200, keep_recent=2, counter=COUNTER,
    )  # fmt: skip
    assert output == (
        ChatMessage(Role.SYSTEM, "sys\n\nbalance: $47.15"),
        ChatMessage(Role.USER, "hi"),
        ChatMessage(Role.ASSISTANT, "Hello!"),
        ChatMessage(Role.USER, "What is my balance?"),
    )


def test_the_order_number_outlives_the_greetings() -> None:
    texts = [
        (Role.USER, "hi"),
        (Role.ASSISTANT, "Hello! How can I help?"),
        (Role.USER, "My order #A-483920 for $89.99 has not arrived. Where is it?"),
        (Role.ASSISTANT, "It ships on 28 March; we'll refund $89.99 if it is late."),
        (Role.USER, "ok thanks"),
        (Role.ASSISTANT, "You're welcome!"),
        (Role.USER, "great"),
        (Role.ASSISTANT, "Anything else?"),
    ]
    history = [budgeted(role, text, COUNTER) for role, text in texts]
    plan = plan_context(
        "sys", "", history, "So when does it arrive?",
        budget=100, reply_reserve=10, keep_recent=1, counter=COUNTER,
    )  # fmt: skip
    kept = [m.text for m in plan.messages]
    assert "great" in kept and "Anything else?" in kept  # the newest turn, whole
    assert texts[2][1] in kept and texts[3][1] in kept
    assert "hi" not in kept
    assert plan.dropped > 0 and plan.dropped_tokens > 0
    assert plan.tokens == cost(plan.messages) <= 90


def test_facts_are_cut_by_whole_lines_before_giving_up() -> None:
    facts = "\n".join(
        f"order {i}: total ${i * 11}.50, placed 2024-03-{i:02d}" for i in range(1, 30)
    )
    plan = plan_context(
        SYSTEM, facts, [], "What did I order?",
        budget=140, reply_reserve=0, keep_recent=2, counter=COUNTER,
    )  # fmt: skip
    system = plan.messages[0].text
    assert plan.facts_truncated
    assert system.startswith(SYSTEM) and system.endswith(FACTS_TRUNCATED_NOTE)
    kept_lines = system.removeprefix(SYSTEM).strip().splitlines()[:-1]
    assert kept_lines and set(kept_lines) <= set(facts.splitlines())  # no line cut in half
    assert plan.tokens <= 140


def test_facts_are_dropped_entirely_when_not_one_line_fits() -> None:
    output = fit(
        SYSTEM, "x" * 2000, [], "hi",
        budget=45, reply_reserve=0, keep_recent=2, counter=COUNTER,
    )  # fmt: skip
    assert output[0] == ChatMessage(Role.SYSTEM, SYSTEM)


def test_too_long_a_message_raises_a_typed_error_the_caller_can_answer() -> None:
    with pytest.raises(ContextOverflowError) as caught:
        fit(
            SYSTEM, "balance: $47.15", [], "word " * 10000,
            budget=8000, reply_reserve=1000, keep_recent=2, counter=COUNTER,
        )  # fmt: skip
    assert caught.value.available == 7000
    assert caught.value.needed > 7000


def test_old_messages_are_never_recounted() -> None:
    rng = random.Random(7)
    history = random_history(rng, 5000)
    counter = CountingCounter()
    fit(
        SYSTEM, "a: 1\nb: 2", history, "now?",
        budget=8000, reply_reserve=1000, keep_recent=3, counter=counter,
    )  # fmt: skip
    # The system text, the current message and the marker twice: never the 5,000 old ones.
    assert counter.calls <= 4


def test_exact_tiktoken_counts_respect_the_budget(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    counter = TiktokenCounter("o200k_base", tmp_path_factory.mktemp("tiktoken"))
    rng = random.Random(11)
    for _ in range(20):
        history = [
            budgeted(m.role, m.text, counter) for m in random_history(rng, rng.randint(0, 100))
        ]
        budget = rng.randint(200, 2000)
        output = fit(
            SYSTEM, "balance: $47.15", history, "and my balance?",
            budget=budget, reply_reserve=100, keep_recent=2, counter=counter,
        )  # fmt: skip
        total = sum(counter.count(m.text) + MESSAGE_OVERHEAD_TOKENS for m in output)
        assert total + PROMPT_OVERHEAD_TOKENS <= budget - 100
        assert output[-1] == ChatMessage(Role.USER, "and my balance?")


def fit(*args: Any, **kwargs: Any) -> tuple[ChatMessage, ...]:
    """Just the trimmed prompt: what most of these tests look at."""
    return plan_context(*args, **kwargs).messages
