"""Replays a seeded trace of shop FAQ traffic through the response cache and reports savings.

The trace: ``--users`` people send ``--messages`` messages in visits spread over two days. A
visit opens with a question (most often one of 20 common shop questions, picked Zipf-like, in
one of several phrasings, with case, spacing and punctuation noise and the odd typo), then has
follow-ups in the same conversation. Some users are known customers whose turns carry facts.

The cache alone, isolated: ``ContextStage`` on SQLite without the idle reset, ``CacheStage``,
then a counting provider that reports 300 input / 80 output tokens per call, priced at
gpt-4o-mini ($0.15 / $0.60 per million tokens). ``bench/trace.py`` runs the whole bot (idle
reset, rules first, budget) on the same trace. Four runs:

- *as wired here*: history is everything since the last ``/reset``, so only a user's very
  first message can ever be cached;
- *fresh context per visit*: the context reset at each new visit, as the production idle reset
  (CONTEXT_IDLE_RESET_MINUTES) does;
- each of the two again with *oracle paraphrase matching*: every phrasing of a common question
  keyed as its canonical text. Not an implementation: the ceiling a safe semantic match could
  approach on this trace.

    python bench/cache_trace.py
    python bench/cache_trace.py --seed 7 --users 400 --messages 2000 --visits 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.logs import configure_logging
from core.cache import ResponseCache
from core.model import (
    ChatMessage,
    ChatRef,
    Completion,
    IncomingMessage,
    Reply,
    ReplyKind,
    Turn,
    TurnOutcome,
    Usage,
    UserRef,
)
from core.pipeline import compose
from core.ports import Next
from core.stages.cache import CacheStage
from core.stages.context import ContextStage
from core.storage.sqlite import SqliteStore

PRICE_IN, PRICE_OUT = 0.15, 0.60  # gpt-4o-mini, US dollars per million tokens
TOKENS_IN, TOKENS_OUT = 300, 80
CALL_COST = (TOKENS_IN * PRICE_IN + TOKENS_OUT * PRICE_OUT) / 1e6
SPAN_SECONDS = 48 * 3600
TTL_SECONDS = 24 * 3600

# Common questions, most frequent first; the first phrasing of each is the canonical one.
FAQ: tuple[tuple[str, ...], ...] = (
    (
        "What are your opening hours?",
        "When are you open?",
        "What time do you open?",
        "Opening hours?",
        "Are you open today?",
        "What are the store hours?",
    ),
    (
        "How long does shipping take?",
        "How long does delivery take?",
        "When will my order arrive?",
        "How fast do you ship?",
        "Shipping time?",
    ),
    (
        "What is your return policy?",
        "Can I return an item?",
        "How do I return something?",
        "Returns?",
        "Can I send it back?",
        "How many days do I have to return?",
    ),
    (
        "Do you ship internationally?",
        "Do you ship abroad?",
        "Do you deliver outside the US?",
        "International shipping?",
    ),
    (
        "How much is shipping?",
        "What does shipping cost?",
        "Is shipping free?",
        "Shipping cost?",
        "Do you have free delivery?",
    ),
    ("Where is my order?", "Where's my order?", "Has my order shipped?", "Track my order"),
    (
        "What payment methods do you accept?",
        "Can I pay with PayPal?",
        "Do you take credit cards?",
        "Payment options?",
    ),
    (
        "How can I contact you?",
        "How do I reach customer service?",
        "Phone number?",
        "Can I talk to someone?",
    ),
    ("Can I cancel my order?", "How do I cancel an order?", "Cancel order"),
    ("Do you have a physical store?", "Where is your shop?", "Store address?"),
    ("How do I use a discount code?", "Where do I enter a coupon?", "Promo code?"),
    ("Do you sell gift cards?", "Can I buy a gift card?", "Gift cards?"),
    ("How do I reset my password?", "I forgot my password", "Password reset?"),
    ("Can I change my delivery address?", "How do I change the shipping address?"),
    ("Do you offer express delivery?", "Is there next day delivery?", "Express shipping?"),
    ("How long is the warranty?", "Is there a warranty?", "Warranty?"),
    ("Do you price match?", "Will you match a lower price?"),
    ("How do I know my size?", "Do you have a size guide?", "Size chart?"),
    ("Is my payment secure?", "Is it safe to pay on your site?"),
    ("Do you have a loyalty program?", "Do you have rewards points?"),
)
RARE = (
    "Do you sell left-handed scissors?",
    "Is the blue kettle dishwasher safe?",
    "Can I order 40 mugs for a wedding?",
    "Do the headphones work with a PS5?",
    "Is the oak table solid wood?",
    "What is the battery life of the speaker?",
    "Do you restock the green hoodie?",
    "Are your candles vegan?",
)
FOLLOW_UPS = (
    "And for express?",
    "What about to Canada?",
    "thanks!",
    "ok",
    "How much would that be?",
    "Can you explain that again?",
    "Does that apply to sale items too?",
    "great, thank you",
    "And on weekends?",
    "What if it is damaged?",
)
PERSONAL = (
    "What is my balance?",
    "Where is my last order?",
    "When will my order arrive?",
    "Did you get my return?",
    "What did I order last time?",
)


@dataclass(frozen=True, slots=True)
class Event:
    at: float
    user: int
    text: str
    canonical: str  # the common question's first phrasing, or the text itself
    visit_start: bool
    facts: bool


def zipf_weights(n: int, exponent: float) -> list[float]:
    return [1 / (rank + 1) ** exponent for rank in range(n)]


def noisy(text: str, rng: random.Random) -> str:
    """Surface noise the normalisation folds (case, spaces, trailing marks), and some it cannot."""
    roll = rng.random()
    if roll < 0.2:
        text = text.lower()
    elif roll < 0.3:
        text = text.lower().rstrip("?")
    elif roll < 0.35:
        text = text + "?"
    elif roll < 0.4:
        text = "  " + text.replace(" ", "  ", 1)
    if rng.random() < 0.05 and len(text) > 8:  # a typo: two letters swapped
        at = rng.randrange(1, len(text) - 2)
        text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
    return text


def generate(seed: int, users: int, messages: int, visits_total: int) -> list[Event]:
    rng = random.Random(seed)
    faq_weights = zipf_weights(len(FAQ), 1.1)
    known = {u for u in range(users) if rng.random() < 0.25}  # customers with facts
    # Visits: one or more per user; follow-ups fill up the rest of the message budget.
    visits = [(u, rng.uniform(0, SPAN_SECONDS)) for u in range(users)]
    visits += [
        (rng.randrange(users), rng.uniform(0, SPAN_SECONDS)) for _ in range(visits_total - users)
    ]
    follow_ups = [0] * len(visits)
    for _ in range(messages - len(visits)):
        follow_ups[rng.randrange(len(visits))] += 1
    events: list[Event] = []
    for (user, start), extra in zip(visits, follow_ups, strict=True):
        facts = user in known
        roll = rng.random()
        if facts and roll < 0.3:
            first = canonical = rng.choice(PERSONAL)
        elif roll < 0.88:
            phrasings = rng.choices(FAQ, faq_weights)[0]
            canonical = phrasings[0]
            first = noisy(rng.choices(phrasings, zipf_weights(len(phrasings), 1.0))[0], rng)
        else:
            first = canonical = rng.choice(RARE)
        events.append(Event(start, user, first, canonical, True, facts))
        at = start
        for _ in range(extra):
            at += rng.uniform(20, 180)
            text = rng.choice(FOLLOW_UPS)
            events.append(Event(at, user, text, text, False, facts))
    events.sort(key=lambda e: e.at)
    # Visits of one user may overlap in time; order within the conversation is what matters.
    return events


@dataclass
class CountingProvider:
    """Counts calls and reports fixed usage, priced like gpt-4o-mini."""

    calls: int = 0

    async def answer(self, turn: Turn) -> Reply:
        self.calls += 1
        completion = await self.complete(turn.prompt(), turn.message.user)
        return Reply(
            completion.text,
            kind=ReplyKind.ANSWER,
            outcome=TurnOutcome.ANSWERED,
            provider=completion.provider,
            model=completion.model,
            usage=completion.usage,
        )

    async def complete(self, prompt: Sequence[ChatMessage], user: UserRef) -> Completion:
        return Completion(
            f"Here is what you asked about: {prompt[-1].text}",
            provider="openai",
            model="gpt-4o-mini",
            usage=Usage(TOKENS_IN, TOKENS_OUT, cost_usd=CALL_COST),
        )


@dataclass
class SimClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Result:
    label: str
    messages: int
    calls: int
    metrics: dict[str, float] = field(default_factory=dict)


async def replay(
    events: list[Event], folder: Path, label: str, *, fresh_visits: bool, oracle: bool
) -> Result:
    clock = SimClock()
    provider = CountingProvider()
    stage = CacheStage(ResponseCache(10_000, TTL_SECONDS, clock=clock), "bench|gpt-4o-mini|kb1")

    async def terminal(turn: Turn) -> Reply:
        return await provider.answer(turn)

    async with SqliteStore(folder / f"{label}.db") as store:
        inner: Next = compose([stage], terminal)
        pipeline = compose([ContextStage(store, history_limit=20)], inner)
        for n, event in enumerate(events):
            clock.now = event.at
            chat = ChatRef("bench", f"user{event.user}")
            if fresh_visits and event.visit_start:
                await store.reset_context(chat)
            text = event.canonical if oracle else event.text
            incoming = IncomingMessage(
                message_id=f"t{n}",
                user=UserRef("bench", f"user{event.user}"),
                chat=chat,
                text=text,
                sent_at=datetime.now(UTC),
            )
            facts = {"balance": "$47.15", "last_order": "48213"} if event.facts else {}
            turn = replace(Turn(incoming, system_prompt="You answer for Acme Shop."), facts=facts)
            await pipeline(turn)
    return Result(label, len(events), provider.calls, stage.metrics())


def report(results: list[Result]) -> None:
    print(
        f"{'run':44} {'calls':>6} {'saved':>7} {'hit rate':>9} {'tokens saved':>13} {'$ saved':>9}"
    )
    for r in results:
        saved = r.messages - r.calls
        tokens = int(r.metrics["saved_input_tokens"] + r.metrics["saved_output_tokens"])
        total_tokens = r.messages * (TOKENS_IN + TOKENS_OUT)
        print(
            f"{r.label:44} {r.calls:>6} {saved / r.messages:>7.1%} "
            f"{r.metrics['hit_rate']:>9.1%} {tokens:>7} ({tokens / total_tokens:.1%}) "
            f"{r.metrics['saved_cost_usd']:>9.5f}"
        )
    base = results[0]
    bypassed = {k[9:]: int(v) for k, v in base.metrics.items() if k.startswith("bypassed_")}
    print(
        f"\n{base.messages} messages; without a cache each is one provider call "
        f"(${base.messages * CALL_COST:.4f} at {TOKENS_IN} in / {TOKENS_OUT} out tokens)."
    )
    print(f"as wired, turns that bypass the cache, by reason: {bypassed}")
    print("hit rate = hits / cache lookups; 'saved' = provider calls avoided / all messages.")


async def main(args: argparse.Namespace) -> None:
    configure_logging("ERROR", "text")
    events = generate(args.seed, args.users, args.messages, args.visits)
    with tempfile.TemporaryDirectory() as folder:
        results = [
            await replay(events, Path(folder), label, fresh_visits=fresh, oracle=oracle)
            for label, fresh, oracle in (
                ("as wired (exact match)", False, False),
                ("fresh context per visit (exact match)", True, False),
                ("as wired, oracle paraphrase matching", False, True),
                ("fresh per visit, oracle paraphrase matching", True, True),
            )
        ]
    first_questions = sum(e.visit_start for e in events)
    print(
        f"trace: seed {args.seed}, {len(events)} messages, {args.users} users, "
        f"{first_questions} visits ({first_questions / len(events):.0%} of messages open one)\n"
    )
    report(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument(
        "--visits", type=int, default=600, help="visits in all (each user has at least one)"
    )
    asyncio.run(main(parser.parse_args()))
