"""Money amounts and calendar dates found in free text, normalised so they can be compared.

"$47.15", "€4,95", "4.95 EUR", "USD 1,200.00", "127,549.32 dollars" and "€50,-" all become a
``Money``; "2026-11-03", "3 November 2026", "Nov 3rd, 2026" and "03/11/2026" become a ``Day``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar

# A number as people write prices: thousands grouped by "," "." or a (thin) non-breaking space,
# then at most two decimals after "," or ".". Which separator is the decimal one is decided later.
_NUMBER = r"\d{1,3}(?:[,.\u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_PREFIX = r"US\$|CA\$|A\$|USD|EUR|GBP|CHF|CAD|AUD|JPY|[$€£¥]"
_SUFFIX = r"€|\$|£|EUR|USD|GBP|CHF|CAD|AUD|JPY|euros?|dollars?|cents?"
_MONEY = re.compile(
    rf"(?<![\w.,])(?:(?P<pre>{_PREFIX})\s?(?P<num1>{_NUMBER})(?![\d])"
    rf"|(?P<num2>{_NUMBER})\s?(?P<suf>{_SUFFIX})(?![\w]))",
    re.IGNORECASE,
)
_CURRENCIES = {
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "ca$": "CAD",
    "cad": "CAD",
    "a$": "AUD",
    "aud": "AUD",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "¥": "JPY",
    "jpy": "JPY",
    "chf": "CHF",
}

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th)?"
# Three patterns rather than one alternation: each then fails fast at most positions.
_NUMERIC_DATE = re.compile(
    r"(?<![\w./-])(?:(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
    r"|(?P<na>\d{1,2})(?P<sep>[./-])(?P<nb>\d{1,2})(?P=sep)(?P<ny>\d{4}))(?![\w-])"
)
_DAY_MONTH = re.compile(
    rf"\b(?P<day>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?(?P<month>{_MONTH})\.?"
    r"(?:,?\s+(?P<year>\d{4}))?\b",
    re.IGNORECASE,
)
_MONTH_DAY = re.compile(
    # The lookahead skips most positions before twenty month names are tried.
    r"\b(?=[adfjmnos][a-z]{2}[a-z]*\.?\s+\d)"
    rf"(?P<month>{_MONTH})\.?\s+(?P<day>\d{{1,2}}){_ORDINAL}(?:,?\s+(?P<year>\d{{4}}))?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount; ``currency`` is an ISO code, or None when the text did not say."""

    currency: str | None
    value: Decimal

    def same_as(self, other: Money) -> bool:
        """Equal values, in the same currency when both name one."""
        if self.value != other.value:
            return False
        return self.currency is None or other.currency is None or self.currency == other.currency

    def __str__(self) -> str:
        return f"{self.currency or ''} {self.value:f}".strip()


@dataclass(frozen=True, slots=True)
class Day:
    """A calendar day; ``year`` is None for "3 November", which matches any year."""

    year: int | None
    month: int
    day: int

    def same_as(self, other: Day) -> bool:
        if (self.month, self.day) != (other.month, other.day):
            return False
        return self.year is None or other.year is None or self.year == other.year

    def __str__(self) -> str:
        return f"{self.year or '????'}-{self.month:02d}-{self.day:02d}"


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Found(Generic[T]):
    """Something found in a text, with where it is."""

    value: T
    start: int
    end: int


def to_decimal(number: str) -> Decimal | None:
    """ "1,200.00" → 1200.00, "4,95" → 4.95, "1.250,00" → 1250.00, "1,200" → 1200."""
    number = number.replace("\u00a0", ",").replace("\u202f", ",")
    last = max(number.rfind(","), number.rfind("."))
    if last >= 0 and len(number) - last - 1 <= 2:
        whole, decimals = number[:last], number[last + 1 :]
    else:
        whole, decimals = number, ""
    whole = whole.replace(",", "").replace(".", "")
    try:
        return Decimal(f"{whole}.{decimals}" if decimals else whole)
    except InvalidOperation:
        return None


def find_money(text: str) -> list[Found[Money]]:
    """Every money amount in ``text``, in order."""
    found: list[Found[Money]] = []
    for match in _MONEY.finditer(text):
        number = match["num1"] or match["num2"]
        unit = (match["pre"] or match["suf"]).lower()
        value = to_decimal(number)
        if value is None:
            continue
        if unit.startswith("cent"):
            value, currency = value / 100, None
        else:
            currency = _CURRENCIES.get(unit, unit.upper())
        found.append(Found(Money(currency, value.normalize()), match.start(), match.end()))
    return found


def parse_money(value: str) -> Money | None:
    """A fact's value as money, if the whole value is one amount ("$47.15", "89.90 EUR")."""
    found = find_money(value.strip())
    if len(found) == 1 and found[0].start == 0 and found[0].end == len(value.strip()):
        return found[0].value
    return None


def _day(year: int | None, month: int, day: int) -> Day | None:
    try:
        date(year or 2000, month, day)  # 2000 is a leap year, so "29 February" stays valid
    except ValueError:
        return None
    return Day(year, month, day)


def find_days(text: str, *, day_first: bool) -> list[Found[Day]]:
    """Every calendar date in ``text``; "03/11/2026" is read day first unless told otherwise."""
    found: list[Found[Day]] = []
    for match in _NUMERIC_DATE.finditer(text):
        if match["iy"]:
            parsed = _day(int(match["iy"]), int(match["im"]), int(match["id"]))
        else:
            first, second, year = int(match["na"]), int(match["nb"]), int(match["ny"])
            day, month = (first, second) if day_first else (second, first)
            parsed = _day(year, month, day) or _day(year, day, month)
        if parsed is not None:
            found.append(Found(parsed, match.start(), match.end()))
    for pattern in (_DAY_MONTH, _MONTH_DAY):
        for match in pattern.finditer(text):
            named_year = int(match["year"]) if match["year"] else None
            parsed = _day(named_year, _MONTHS[match["month"].lower()], int(match["day"]))
            if parsed is not None:
                found.append(Found(parsed, match.start(), match.end()))
    found.sort(key=lambda f: f.start)
    return found


def parse_day(value: str, *, day_first: bool) -> Day | None:
    """A fact's value as a date, if the whole value is one date (read as replies are)."""
    found = find_days(value.strip(), day_first=day_first)
    if len(found) == 1 and found[0].start == 0 and found[0].end == len(value.strip()):
        return found[0].value
    return None
