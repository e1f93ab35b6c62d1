"""In-memory price sheet: what importers produce and what the store and the engine consume.

Prices are kept in USD per 1M tokens (`*_mtok`) as Decimal: that is how vendors quote them, and
DECIMAL(18,9) per 1M tokens holds every per-token price down to 1e-15 USD exactly (the smallest in
the shipped sheets is 3e-9 USD/token), so nothing rounds to zero. A per-request fee is plain USD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from llmledger.errors import PricingError

SERVICE_TIERS = ("standard", "batch", "flex", "priority")
PRICE_FIELDS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "reasoning_mtok",
    "request_usd",
)
#: Effective date of a version imported without one: it applies to all history.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_Q = Decimal("0.000000001")
_MAX = Decimal("999999999")


@dataclass
class PriceRow:
    """Prices of one model under one service tier, for calls above `above_input_tokens` input
    tokens (0 = base price). Long-context tiers are "cliff" tiers: once a call's total input
    crosses the threshold, all its tokens use that row (LiteLLM, Langfuse and genai-prices agree)."""

    service_tier: str = "standard"
    above_input_tokens: int = 0
    input_mtok: Decimal | None = None
    output_mtok: Decimal | None = None
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None  # 5-minute cache write (the default TTL)
    cache_write_1h_mtok: Decimal | None = None
    reasoning_mtok: Decimal | None = None  # only when billed differently from output
    request_usd: Decimal | None = None  # per-request fee

    def has_token_price(self) -> bool:
        return any(getattr(self, f) is not None for f in PRICE_FIELDS)


@dataclass
class ModelEntry:
    model_id: str
    provider: str | None = None
    prices: list[PriceRow] = field(default_factory=list)
    match_regex: str | None = None  # Langfuse matchPattern
    match_rule: dict | None = None  # genai-prices match clause
    mode: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
    input_modalities: list[str] | None = None
    output_modalities: list[str] | None = None
    deprecated: bool | None = None

    def row(self, service_tier: str = "standard", input_tokens: int = 0) -> PriceRow | None:
        rows = sorted((r for r in self.prices if r.service_tier == service_tier), key=lambda r: r.above_input_tokens)
        chosen = None
        for r in rows:
            if r.above_input_tokens == 0 or input_tokens > r.above_input_tokens:
                chosen = r
        return chosen


@dataclass
class SheetVersion:
    effective_from: datetime
    models: list[ModelEntry]


@dataclass
class Sheet:
    name: str
    kind: str  # litellm | langfuse | genai-prices | csv | yaml | self-hosted
    source: str
    versions: list[SheetVersion]
    #: genai-prices provider match rules (id, model_match, provider_match, fallback_model_providers)
    providers: list[dict] = field(default_factory=list)
    base_sheet: str | None = None
    discount_pct: Decimal | None = None

    def latest(self) -> SheetVersion:
        return max(self.versions, key=lambda v: v.effective_from)

    def version_at(self, when: datetime | None) -> SheetVersion | None:
        if when is None:
            return self.latest()
        ok = [v for v in self.versions if v.effective_from <= when]
        return max(ok, key=lambda v: v.effective_from) if ok else None


def money(value, what: str, per_million: bool = False) -> Decimal | None:
    """Parse a price (float, int, str or Decimal) into Decimal; reject negatives and junk.

    `per_million=True` turns a per-token price into USD per 1M tokens."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PricingError(f"{what}: expected a number, got {value!r}")
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except Exception:
        raise PricingError(f"{what}: {value!r} is not a number") from None
    if not d.is_finite():
        raise PricingError(f"{what}: {value!r} is not a finite number")
    if d < 0:
        raise PricingError(f"{what}: negative price {value!r}")
    if per_million:
        d = d * 1_000_000
    d = d.quantize(_Q)
    if d > _MAX:
        raise PricingError(f"{what}: price {value!r} is too large")
    return d
