"""Monthly bill projection for one model: tokens per request x requests per month, priced with
a sheet (cache reads, batch share, long-context tiers and per-request fees included)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from llmledger.errors import PricingError
from llmledger.pricing.engine import DEFAULT_SHEET, Usage, cost_of_usage
from llmledger.pricing.matching import Matcher
from llmledger.pricing.model import ModelEntry, Sheet

CENT = Decimal("0.01")


@dataclass
class MonthLine:
    month: int
    requests: Decimal
    input_usd: Decimal
    cache_usd: Decimal
    output_usd: Decimal
    request_fee_usd: Decimal
    total_usd: Decimal


@dataclass
class MonthlyBill:
    model: str
    sheet: str
    priced_model: str
    match_kind: str
    prices: dict  # the standard base row, USD per 1M tokens
    months: list[MonthLine] = field(default_factory=list)
    total_usd: Decimal = Decimal(0)
    notes: list[str] = field(default_factory=list)

    @property
    def first_month_usd(self) -> Decimal:
        return self.months[0].total_usd

    def as_dict(self) -> dict:
        d = asdict(self)
        d["total_usd_rounded"] = self.total_usd.quantize(CENT, rounding=ROUND_HALF_UP)
        return d


def _frac(v, what: str) -> Decimal:
    d = Decimal(str(v))
    if not d.is_finite() or d < 0 or d > 1:
        raise PricingError(f"{what} must be between 0 and 1 (got {v})")
    return d


def _count(v, what: str) -> Decimal:
    try:
        d = Decimal(str(v))
    except Exception:
        raise PricingError(f"{what}: {v!r} is not a number") from None
    if not d.is_finite() or d < 0:
        raise PricingError(f"{what} must be a non-negative number (got {v})")
    return d


def monthly_bill(model: str, input_tokens, output_tokens, requests, sheet: str | Sheet = DEFAULT_SHEET,
                 cached_input_share=0, batch_share=0, growth_pct=0, months: int = 1, con=None,
                 provider: str | None = None) -> MonthlyBill:
    """Bill for `requests` per month, each with `input_tokens` in and `output_tokens` out.

    cached_input_share: fraction of input tokens read from the prompt cache (cache read price).
    batch_share: fraction of requests sent through the batch API (the sheet's batch prices).
    growth_pct: month-over-month growth of requests; months: how many months to project."""
    n_in, n_out, n_req = (_count(input_tokens, "input tokens"), _count(output_tokens, "output tokens"),
                          _count(requests, "requests"))
    cached, batch = _frac(cached_input_share, "cached input share"), _frac(batch_share, "batch share")
    growth = Decimal(str(growth_pct))
    if growth <= -100:
        raise PricingError("growth_pct must be above -100")
    if int(months) < 1:
        raise PricingError("months must be at least 1")
    sheet_obj = _sheet(sheet, con)
    hit = Matcher(sheet_obj).resolve(model, provider)
    if hit is None:
        raise PricingError(f"model {model!r} has no price in sheet {sheet_obj.name!r}")
    entry: ModelEntry = next(m for m in sheet_obj.latest().models if m.model_id == hit.model_id)
    per_tier = {}
    for tier, share in (("standard", Decimal(1) - batch), ("batch", batch)):
        if share == 0:
            continue
        row = entry.row(tier, int(n_in))
        if row is None:
            raise PricingError(f"sheet {sheet_obj.name!r} has no {tier} price for {hit.model_id!r}")
        usage = Usage(input_tokens=n_in, output_tokens=n_out, cache_read_tokens=n_in * cached)
        per_tier[tier] = (share, cost_of_usage(row, usage))
    base = entry.row("standard", 0)
    bill = MonthlyBill(model, sheet_obj.name, hit.model_id, hit.kind,
                       {k: v for k, v in asdict(base).items() if v is not None} if base else {})
    if hit.kind in ("snapshot", "normalized", "regex", "rule", "prefixed", "provider") and hit.model_id != model:
        bill.notes.append(f"{model!r} priced as {hit.model_id!r} ({hit.kind} match)")
    factor = Decimal(1) + growth / Decimal(100)
    for m in range(int(months)):
        req = n_req * factor ** m
        parts = {"input": Decimal(0), "cache": Decimal(0), "output": Decimal(0), "fee": Decimal(0)}
        for share, b in per_tier.values():
            r = req * share
            parts["input"] += b.input_usd * r
            parts["cache"] += b.cache_usd * r
            parts["output"] += (b.output_usd + b.reasoning_usd) * r
            parts["fee"] += b.request_usd * r
        total = sum(parts.values(), Decimal(0))
        bill.months.append(MonthLine(m + 1, req, parts["input"], parts["cache"], parts["output"], parts["fee"], total))
        bill.total_usd += total
    return bill


def _sheet(sheet: str | Sheet, con) -> Sheet:
    if isinstance(sheet, Sheet):
        return sheet
    if con is None:
        if sheet != DEFAULT_SHEET:
            raise PricingError(f"sheet {sheet!r} lives in the ledger database: pass a connection")
        from llmledger.pricing.importers import litellm_sheet

        return litellm_sheet()
    from llmledger.pricing.sheets import load_sheet

    return load_sheet(con, sheet)
