"""What the known Kimi models cost, so the meter shows a cost out of the box.

USD per million tokens, Moonshot's international platform (api.moonshot.ai),
tax included as Moonshot lists it. Prices change: each row says when and where
it was read, and ``[prices]`` in config.toml overrides the table for any model.
A model not listed here (or served elsewhere, e.g. through OpenRouter, at
another price) shows its cost as unknown until ``[prices]`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from kimitui.core.budget import Prices

OFFICIAL = "platform.moonshot.ai/docs/pricing/chat"
# A dated third-party summary of Moonshot's price list, for models newer than the
# copy of the official page these were checked against.
SUMMARY = "developer.puter.com/tutorials/kimi-api-pricing"


@dataclass(frozen=True)
class KnownPrice:
    input: float  # a cache miss
    cached_input: float  # a cache hit
    output: float
    as_of: str
    source: str


KNOWN_PRICES: dict[str, KnownPrice] = {
    "kimi-k2.7-code": KnownPrice(0.95, 0.19, 4.00, "2026-06", SUMMARY),
    "kimi-k2.6": KnownPrice(0.95, 0.16, 4.00, "2026-06", SUMMARY),
    "kimi-k2.5": KnownPrice(0.60, 0.10, 3.00, "2026-03-26", OFFICIAL),
    "kimi-k2-0905-preview": KnownPrice(0.60, 0.15, 2.50, "2026-03-26", OFFICIAL),
    "kimi-k2-0711-preview": KnownPrice(0.60, 0.15, 2.50, "2026-03-26", OFFICIAL),
}


def known_prices(model: str) -> Prices | None:
    """The table's prices for ``model`` (its exact id), in USD; None when not listed."""
    known = KNOWN_PRICES.get(model)
    if known is None:
        return None
    return Prices(
        input=known.input,
        cached_input=known.cached_input,
        output=known.output,
        currency="USD",
        source=f"{model} list prices as of {known.as_of} ({known.source}); [prices] overrides",
    )
