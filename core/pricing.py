"""What a provider call cost, from its token usage and a price table operators edit (YAML)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from loguru import logger

from core.errors import ConfigurationError
from core.model import Usage

SETTING = "PRICING_PATH"
_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float


class PricingTable:
    """Prices by provider and model; a dated name matches its base name, ``*`` any model."""

    def __init__(self, prices: Mapping[str, Mapping[str, Price]]) -> None:
        self._prices = {provider: dict(models) for provider, models in prices.items()}
        self._warned: set[str] = set()

    def price(self, provider: str, model: str, usage: Usage) -> Usage:
        """``usage`` with its cost filled in (0 and one warning for a model not in the table)."""
        price = self.price_of(provider, model)
        if price is None:
            if f"{provider}/{model}" not in self._warned:
                self._warned.add(f"{provider}/{model}")
                logger.warning("no price for {}/{}: its cost is counted as 0", provider, model)
            return usage
        cost = (usage.input_tokens * price.input + usage.output_tokens * price.output) / 1e6
        return replace(usage, cost_usd=round(cost, 8))

    def price_of(self, provider: str, model: str) -> Price | None:
        """The table's price for ``model`` (by the same matching as ``price``), None if unknown.

        For comparing models before any call (the budgets pick the cheapest); says nothing in
        the log, since not knowing is an answer here.
        """
        models = self._prices.get(provider, {})
        # "gpt-4o-mini-2024-07-18" and "claude-haiku-4-5-20251001" are priced by their base
        # name; only a date or "-latest" is stripped, so "gpt-4.1-nano" never passes as "gpt-4.1".
        return models.get(model) or models.get(_DATED.sub("", model)) or models.get("*")


def load_pricing(path: Path) -> PricingTable:
    """Read ``provider: {model: {input: $, output: $}}`` (per million tokens) from YAML."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(SETTING, f"cannot read {path}: {exc}") from exc
    prices: dict[str, dict[str, Price]] = {}
    if not isinstance(document, dict):
        raise ConfigurationError(SETTING, f"{path}: expected provider: {{model: prices}}")
    for provider, models in document.items():
        if not isinstance(models, dict):
            raise ConfigurationError(SETTING, f"{path}: {provider} must map models to prices")
        for model, entry in models.items():
            try:
                prices.setdefault(str(provider), {})[str(model)] = Price(
                    float(entry["input"]), float(entry["output"])
                )
            except (TypeError, KeyError, ValueError) as exc:
                raise ConfigurationError(
                    SETTING, f"{path}: {provider}/{model} needs numeric input and output prices"
                ) from exc
    return PricingTable(prices)
