"""Personal data in a reply: e-mail addresses, phone numbers, card numbers, national ids, IBANs.

Each finding carries a ``key``, the value normalised (digits only, upper case, no spaces), so the
validator can tell data the user or the context already holds from data the model produced.
Checksums (Luhn for cards, mod 97 for IBANs) and issuer prefixes keep order numbers, tracking
codes and references that merely look like personal data from being flagged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.guardrails.rules import Reason

_EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")
# UK National Insurance number; the prefixes HMRC never issues are left out.
_NINO = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
# International: "+" or the "00" exit code, then the country code.
_PHONE_INTL = re.compile(
    r"(?<![\w+])(?:\+|00(?=[1-9]))\d{1,3}[\s.-]?(?:\(0?\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{1,4}){1,5}(?![\w])"
)
# A national number starts with a trunk 0 (Europe) ...
_PHONE_NATIONAL = re.compile(
    r"(?<![\w+.,/:-])\(?0\d{1,4}\)?[\s.-]?\d{2,4}(?:[\s.-]?\d{2,4}){0,4}(?![\w/:-]|[.,]\d)"
)
# ... or has the North American 3-3-4 shape.
_PHONE_NANP = re.compile(
    r"(?<![\w+.-])(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[\s.-])\d{3}[\s.-]\d{4}(?![\w-])"
)

_IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26,
    "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MT": 31, "NL": 18, "NO": 15, "PL": 28,
    "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24,
}  # fmt: skip


_LONG = range(16, 20)
# (lowest prefix, highest prefix, prefix digits, card lengths)
_NETWORKS: tuple[tuple[int, int, int, Sequence[int]], ...] = (
    (4, 4, 1, (13, 16, 19)),  # Visa
    (51, 55, 2, (16,)),  # Mastercard
    (2221, 2720, 4, (16,)),  # Mastercard, 2-series
    (34, 34, 2, (15,)),  # American Express
    (37, 37, 2, (15,)),
    (6011, 6011, 4, _LONG),  # Discover
    (644, 649, 3, _LONG),
    (65, 65, 2, _LONG),
    (3528, 3589, 4, _LONG),  # JCB
    (300, 305, 3, range(14, 20)),  # Diners Club
    (36, 36, 2, range(14, 20)),
    (38, 39, 2, range(14, 20)),
    (62, 62, 2, _LONG),  # UnionPay
)


@dataclass(frozen=True, slots=True)
class PiiHit:
    """One piece of personal data: what kind, where, and its normalised value."""

    reason: Reason
    start: int
    end: int
    key: str


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _issuer_known(number: str) -> bool:
    """A prefix and length of a card network people actually carry."""
    return any(
        low <= int(number[:width]) <= high and len(number) in lengths
        for low, high, width, lengths in _NETWORKS
    )


def iban_valid(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1
    except ValueError:
        return False


def _iban(match: re.Match[str]) -> PiiHit | None:
    raw = match.group()
    compact = raw.replace(" ", "")
    expected = _IBAN_LENGTHS.get(compact[:2])
    # The pattern may run on into a following code; try the country's length, else shorter.
    lengths = [expected] if expected else range(len(compact), 14, -1)
    for length in lengths:
        if length > len(compact) or not iban_valid(compact[:length]):
            continue
        seen, end = 0, match.start()
        for offset, char in enumerate(raw):
            if char != " ":
                seen += 1
            if seen == length:
                end = match.start() + offset + 1
                break
        return PiiHit(Reason.PII_IBAN, match.start(), end, compact[:length])
    return None


def find_emails(text: str) -> frozenset[str]:
    """Every e-mail address in ``text``, lower case."""
    return (
        frozenset(m.group().lower() for m in _EMAIL.finditer(text)) if "@" in text else frozenset()
    )


def find_pii(text: str) -> list[PiiHit]:
    """Every piece of personal data in ``text``; the first kind to claim a span keeps it."""
    hits: list[PiiHit] = []

    def free(start: int, end: int) -> bool:
        return all(end <= h.start or start >= h.end for h in hits)

    for match in _IBAN.finditer(text):
        hit = _iban(match)
        if hit is not None:
            hits.append(hit)
    for match in _CARD.finditer(text):
        number = digits(match.group())
        if _issuer_known(number) and luhn_valid(number) and free(*match.span()):
            hits.append(PiiHit(Reason.PII_CARD, *match.span(), number))
    for pattern in (_SSN, _NINO):
        for match in pattern.finditer(text):
            if free(*match.span()):
                key = match.group().replace(" ", "").replace("-", "").upper()
                hits.append(PiiHit(Reason.PII_NATIONAL_ID, *match.span(), key))
    for match in _EMAIL.finditer(text) if "@" in text else ():
        if free(*match.span()):
            hits.append(PiiHit(Reason.PII_EMAIL, *match.span(), match.group().lower()))
    for pattern, shortest, longest in (
        (_PHONE_INTL, 8, 15),
        (_PHONE_NANP, 10, 10),
        (_PHONE_NATIONAL, 10, 12),
    ):
        for match in pattern.finditer(text):
            number = digits(match.group())
            if shortest <= len(number) <= longest and free(*match.span()):
                hits.append(PiiHit(Reason.PII_PHONE, *match.span(), number))
    hits.sort(key=lambda h: h.start)
    return hits
