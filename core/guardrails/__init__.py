"""Guardrails on model output: personal data, grounded figures, leaks and reply shape."""

from __future__ import annotations

from core.guardrails.facts import FileFactsProvider
from core.guardrails.rules import Action, Reason, ValidatorRules, load_validator_rules
from core.guardrails.validator import OutputValidator, Problem, Review

__all__ = [
    "Action",
    "FileFactsProvider",
    "OutputValidator",
    "Problem",
    "Reason",
    "Review",
    "ValidatorRules",
    "load_validator_rules",
]
