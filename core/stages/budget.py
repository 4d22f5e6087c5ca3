"""Keeps each user, and the bot as a whole, within their token and cost budgets.

Before the turn it reads what was spent and sets ``turn.spend``, which the ladder obeys:
FULL under the warn fraction of every budget, ECONOMY at or past it for any (the rules first,
then only the cheapest model), FREE once any budget is spent (no model at all; the bot's own
day spent means FREE for everyone). After the turn it counts the reply's usage, warns the user
once per allowance per period, and turns a FREE turn the rules could not answer into a notice
saying when the allowance resets.

It sits right before the cache (bot/wiring.py says why): a cached answer passes through it
at no cost. Users hear only about their own allowance; the bot's daily budget is logged for
operators, and a user is told no more than that the assistant reached its limit for today.
The budgets guard money, not the answer: if the ledger or storage fails, the turn goes on at
FULL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, datetime

from loguru import logger

from core.budget import (
    BudgetLedger,
    Scope,
    Snapshot,
    Verdict,
    assess,
    describe_reset,
    next_reset,
)
from core.logref import pseudonym
from core.model import Reply, ReplyKind, Spend, Turn, TurnOutcome, UserRef
from core.ports import Next

PROVIDER = "budget"
_ALLOWANCE = {Scope.USER_DAY: "today's allowance", Scope.USER_MONTH: "this month's allowance"}
WARNING = (
    "Heads-up: you've used {percent}% or more of {allowance} for answers from our AI "
    "assistant. It resets {when}."
)
USED_UP = (
    "Sorry, I couldn't find an answer to that in our help pages, and you've used up "
    "{allowance} for answers from our AI assistant. It resets {when}."
)
BOT_USED_UP = (
    "Sorry, I couldn't find an answer to that in our help pages, and our AI assistant has "
    "reached its limit for today. It resets {when}."
)
HUMAN = " Type /human to reach a person from our team."


@dataclass
class BudgetCounters:
    """What the stage did, for a metrics exporter."""

    warnings: int = 0
    economy_turns: int = 0
    free_turns: int = 0
    over_budget_notices: int = 0
    failures: int = 0  # the ledger or storage failed; those turns went on at FULL


class BudgetStage:
    """Sets each turn's ``spend`` from the budgets and accounts for what the reply cost."""

    def __init__(self, ledger: BudgetLedger, *, handoff_enabled: bool = False) -> None:
        self._ledger = ledger
        self._limits = limits = ledger.limits
        self._handoff = handoff_enabled
        # Limits are fixed for the stage's life: asked once, not on every turn.
        self._enabled = limits.any
        self.counters = BudgetCounters()
        self._spent_logged_on: date | None = None

    async def __call__(self, turn: Turn, call_next: Next) -> Reply:
        if not self._enabled:
            return await call_next(turn)
        user = turn.message.user
        try:
            before: Snapshot | None = await self._ledger.snapshot(user)
        except Exception as exc:  # a budget must never cost the user their answer
            self._failed(exc, user)
            before = None
        verdict = Verdict(Spend.FULL)
        if before is not None:
            verdict = assess(self._limits, before.by_scope())
        if verdict.spend is Spend.ECONOMY:
            self.counters.economy_turns += 1
        elif verdict.spend is Spend.FREE:
            self.counters.free_turns += 1
            if before is not None and Scope.GLOBAL_DAY in verdict.exhausted:
                self._bot_budget_spent(before.at)
        reply = await call_next(replace(turn, spend=verdict.spend))
        try:
            return self._settled(user, before, verdict, reply)
        except Exception as exc:
            self._failed(exc, user)
            return reply

    def _bot_budget_spent(self, at: datetime) -> None:
        """Tell the operators, once a UTC day, that only free answers are left for everyone."""
        day = at.date()
        if self._spent_logged_on == day:
            return
        self._spent_logged_on = day
        logger.error(
            "the bot's daily budget is spent: only free answers (the rules) until {}",
            _resets(Scope.GLOBAL_DAY, at),
        )

    def metrics(self) -> dict[str, float]:
        """The stage's counters and the ledger's memory, flat, for a metrics exporter."""
        return {
            **asdict(self.counters),
            "users_in_memory": len(self._ledger),
            "user_evictions": self._ledger.evictions,
            "storage_reads": self._ledger.loads,
        }

    def _settled(
        self, user: UserRef, before: Snapshot | None, verdict: Verdict, reply: Reply
    ) -> Reply:
        """The reply once its cost is counted: a notice if nothing free could answer, and
        a warning line the first time an allowance is nearly used."""
        self._ledger.add(user, reply.usage)
        if before is None:
            return reply
        if verdict.spend is Spend.FREE and reply.outcome is TurnOutcome.UNKNOWN:
            self.counters.over_budget_notices += 1
            reply = self._used_up(reply, verdict.exhausted, before)
        # Warned by the figures after this turn, so the turn that crosses the line says so.
        after = assess(self._limits, before.plus(reply.usage).by_scope())
        warning = self._warning(user, after.near, before)
        if not warning or reply.outcome is TurnOutcome.OVER_BUDGET:
            return reply  # the notice already says more than the warning would
        self.counters.warnings += 1
        return replace(reply, text=f"{reply.text}\n\n{warning}")

    def _used_up(self, reply: Reply, exhausted: tuple[Scope, ...], now: Snapshot) -> Reply:
        # Name the budget that resets last: until then something is still spent. On a tie the
        # user's own allowance, which is the one they can do something about.
        scope = max(
            exhausted,
            key=lambda s: (next_reset(s.period, now.at), s is not Scope.GLOBAL_DAY),
        )
        when = _resets(scope, now.at)
        if scope is Scope.GLOBAL_DAY:
            text = BOT_USED_UP.format(when=when)
        else:
            text = USED_UP.format(allowance=_ALLOWANCE[scope], when=when)
        return Reply(
            text + (HUMAN if self._handoff else ""),
            kind=ReplyKind.NOTICE,
            outcome=TurnOutcome.OVER_BUDGET,
            provider=PROVIDER,
            usage=reply.usage,
            trail=reply.trail,
        )

    def _warning(self, user: UserRef, near: tuple[Scope, ...], now: Snapshot) -> str:
        """The warning line for the user's allowances newly near; empty when none is."""
        # Every scope is asked, so each is marked warned even when another one is named.
        fresh = [scope for scope in near if self._ledger.first_warning(scope, user)]
        if Scope.GLOBAL_DAY in fresh:
            logger.warning(
                "the bot's daily budget is {:.0%} used; turns now prefer cheaper rungs",
                self._limits.used(Scope.GLOBAL_DAY, now.global_day),
            )
        theirs = [scope for scope in fresh if scope is not Scope.GLOBAL_DAY]
        if not theirs:
            return ""
        # The month, when both: near the month's limit, tomorrow's fresh day will not help much.
        scope = Scope.USER_MONTH if Scope.USER_MONTH in theirs else Scope.USER_DAY
        return WARNING.format(
            percent=round(self._limits.warn_fraction * 100),
            allowance=_ALLOWANCE[scope],
            when=_resets(scope, now.at),
        )

    def _failed(self, exc: Exception, user: UserRef) -> None:
        self.counters.failures += 1
        # A pseudonym only: user ids are personal data.
        logger.opt(exception=exc).error(
            "budget ledger failed ({}) for user {}; the turn goes on at full spend",
            type(exc).__name__,
            pseudonym(user.key),
        )


def _resets(scope: Scope, at: datetime) -> str:
    """When ``scope``'s budget starts afresh, said for a user."""
    return describe_reset(next_reset(scope.period, at), at)
