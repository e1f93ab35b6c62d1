"""Monthly bill projection for one model: tokens per request x requests per month, priced with
a sheet (cache reads, batch share, long-context tiers and per-request fees included); the checks
on a calculator's inputs, and the tables the Estimate page shows (a bill per month, counted
tokens priced per model and sheet)."""

from __future__ import annotations

import threading
import weakref
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable

import pandas as pd

from llmledger.errors import LedgerError, PricingError
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
    #: first-party | cloud | reseller: whose entry prices the model (matching.route_of)
    route: str = "first-party"
    priced_provider: str | None = None
    #: Requests the provider would refuse (context window, max output), each naming the limit.
    warnings: list[str] = field(default_factory=list)

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


def monthly_bill(
    model: str,
    input_tokens,
    output_tokens,
    requests,
    sheet: str | Sheet = DEFAULT_SHEET,
    cached_input_share=0,
    batch_share=0,
    growth_pct=0,
    months: int = 1,
    con=None,
    provider: str | None = None,
) -> MonthlyBill:
    """Bill for `requests` per month, each with `input_tokens` in and `output_tokens` out.

    cached_input_share: fraction of input tokens read from the prompt cache (cache read price).
    batch_share: fraction of requests sent through the batch API (the sheet's batch prices).
    growth_pct: month-over-month growth of requests; months: how many months to project."""
    n_in, n_out, n_req = (
        _count(input_tokens, "input tokens"),
        _count(output_tokens, "output tokens"),
        _count(requests, "requests"),
    )
    cached, batch = _frac(cached_input_share, "cached input share"), _frac(batch_share, "batch share")
    growth = Decimal(str(growth_pct))
    if growth <= -100:
        raise PricingError("growth_pct must be above -100")
    if int(months) < 1:
        raise PricingError("months must be at least 1")
    sheet_obj = _sheet(sheet, con)
    hit = matcher_for(sheet_obj).resolve(model, provider)
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
    bill = MonthlyBill(
        model,
        sheet_obj.name,
        hit.model_id,
        hit.kind,
        {k: v for k, v in asdict(base).items() if v is not None} if base else {},
    )
    bill.route, bill.priced_provider = hit.route, hit.provider
    if hit.kind in ("snapshot", "normalized", "regex", "rule", "prefixed", "provider") and hit.model_id != model:
        via = f", {hit.note}" if hit.note else ""
        bill.notes.append(f"{model!r} priced as {hit.model_id!r} ({hit.kind} match{via})")
    bill.warnings = limit_warnings(entry, n_in, n_out, sheet_obj.name)
    factor = Decimal(1) + growth / Decimal(100)
    for m in range(int(months)):
        req = n_req * factor**m
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


def limit_warnings(entry: ModelEntry, input_tokens, output_tokens, sheet: str) -> list[str]:
    """What the provider would refuse: more input tokens per request than the model's context
    window (max_input_tokens in the sheet), or more output than its max_output_tokens."""
    out = []
    n_in, n_out = Decimal(str(input_tokens)), Decimal(str(output_tokens))
    if entry.context_window and n_in > entry.context_window:
        out.append(
            f"{n_in:,.0f} input tokens per request exceed {entry.model_id}'s context window of "
            f"{entry.context_window:,} input tokens (max_input_tokens in sheet {sheet!r}): the provider "
            "would reject these requests, so this bill cannot happen as typed."
        )
    if entry.max_output_tokens and n_out > entry.max_output_tokens:
        out.append(
            f"{n_out:,.0f} output tokens per request exceed {entry.model_id}'s limit of "
            f"{entry.max_output_tokens:,} output tokens (max_output_tokens in sheet {sheet!r})."
        )
    return out


def context_check(model: str, input_tokens, output_tokens, sheet: Sheet, provider: str | None = None) -> list[str]:
    """limit_warnings for a model name as the sheet resolves it (empty when it has no price)."""
    hit = matcher_for(sheet).resolve(model, provider)
    if hit is None:
        return []
    entry = next(m for m in sheet.latest().models if m.model_id == hit.model_id)
    return limit_warnings(entry, input_tokens, output_tokens, sheet.name)


_MATCHERS: dict[int, tuple[weakref.ref, tuple, Matcher]] = {}
_MATCHERS_LOCK = threading.RLock()  # re-entrant: a weakref callback may run during a GC inside it


def matcher_for(sheet: Sheet) -> Matcher:
    """The name matcher of `sheet`'s latest version, built once per sheet object (a sheet of
    thousands of names takes tens of milliseconds to index, and the Estimate page prices every
    model under every sheet). Rebuilt when the sheet changes: another object (callers reload a
    sheet when its versions change), or its latest models or provider rules replaced or resized."""
    models = sheet.latest().models
    shape = (id(models), len(models), id(sheet.providers), len(sheet.providers))
    with _MATCHERS_LOCK:
        hit = _MATCHERS.get(id(sheet))
        if hit is not None and hit[0]() is sheet and hit[1] == shape:
            return hit[2]
    matcher = Matcher(sheet)

    def forget(ref: weakref.ref, key: int = id(sheet)) -> None:
        with _MATCHERS_LOCK:
            if key in _MATCHERS and _MATCHERS[key][0] is ref:
                del _MATCHERS[key]

    with _MATCHERS_LOCK:
        _MATCHERS[id(sheet)] = (weakref.ref(sheet, forget), shape, matcher)
    return matcher


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


# ------------------------------------------------------------------ the Estimate page's inputs and tables

#: The largest monthly volume the calculator accepts: past a trillion requests a month the input
#: is a typo, not a plan.
MAX_REQUESTS_PER_MONTH = 1e12
#: No model reads or writes more (the largest context windows are ~10M tokens; the cost engine
#: refuses calls above the same bound). Below it, each model's own window is checked by
#: limit_warnings against the sheet.
MAX_TOKENS_PER_REQUEST = 1e8


def check_plan(requests: float, input_tokens: float, output_tokens: float, growth_pct: float, months: int) -> None:
    """Reject absurd calculator inputs with one clear sentence."""
    if requests is None or requests < 0:
        raise PricingError("Requests per month cannot be negative.", "Check the inputs")
    if requests > MAX_REQUESTS_PER_MONTH:
        raise PricingError(
            f"{requests:,.0f} requests a month is more than a trillion: check the number.", "Check the inputs"
        )
    for what, v in (("Input tokens per request", input_tokens), ("Output tokens per request", output_tokens)):
        if v is None or v < 0:
            raise PricingError(f"{what} cannot be negative.", "Check the inputs")
        if v > MAX_TOKENS_PER_REQUEST:
            raise PricingError(
                f"{what} above {MAX_TOKENS_PER_REQUEST:,.0f} is beyond any model's context.", "Check the inputs"
            )
    if growth_pct is None or growth_pct <= -100 or growth_pct > 1000:
        raise PricingError("Monthly growth must be above −100% and at most 1000%.", "Check the inputs")
    if not 1 <= int(months) <= 120:
        raise PricingError("Project between 1 and 120 months.", "Check the inputs")


def bill_frame(b: MonthlyBill) -> pd.DataFrame:
    """One row per month of a MonthlyBill, money as float for charts and tables."""
    rows = [
        {
            "month": f"Month {m.month}",
            "requests": float(m.requests),
            "input_usd": float(m.input_usd),
            "cached_input_usd": float(m.cache_usd),
            "output_usd": float(m.output_usd),
            "request_usd": float(m.request_fee_usd),
            "cost_usd": float(m.total_usd),
        }
        for m in b.months
    ]
    df = pd.DataFrame(rows)
    if not df.empty:
        df["cumulative_usd"] = df["cost_usd"].cumsum()
        df = df.drop(columns=[c for c in ("request_usd",) if not df[c].any()])
    return df


COST_TABLE_COLUMNS = [
    "model",
    "sheet",
    "cost_usd",
    "per_request_usd",
    "input_tokens",
    "output_tokens",
    "requests",
    "tokenizer",
    "estimate",
    "priced_as",
    "route",
    "note",
]


def cost_table(
    rows: list[tuple[str, float, int, str, bool]],
    output_per_request: float,
    sheets: list[str],
    sheet_for: Callable[[str], Sheet],
) -> pd.DataFrame:
    """Cost of the counted input under each model × sheet.

    `rows` = (model, input tokens in total, requests, tokenizer, tokenizer is the model's own);
    `sheet_for(name)` gives the loaded sheet. Output tokens are the user's assumption per request.
    A model a sheet cannot price gets cost_usd None and the reason, never $0."""
    out = []
    for model, n_in, requests, tokenizer, own in rows:
        for sheet in sheets:
            rec = {
                "model": model,
                "sheet": sheet,
                "input_tokens": int(n_in),
                "requests": int(requests),
                "output_tokens": int(round(output_per_request * requests)),
                "tokenizer": tokenizer,
                "estimate": "counted with the model's tokenizer"
                if own
                else f"approximate: {tokenizer} stands in for {model}'s tokenizer",
                "priced_as": None,
                "route": None,
                "cost_usd": None,
                "per_request_usd": None,
                "note": "",
            }
            try:
                b = monthly_bill(model, n_in / max(requests, 1), output_per_request, requests, sheet=sheet_for(sheet))
            except LedgerError as exc:
                rec["note"] = f"no price: {exc.msg}"
            else:
                rec["priced_as"] = b.priced_model
                rec["route"] = b.route
                rec["cost_usd"] = float(b.total_usd)
                rec["per_request_usd"] = float(b.total_usd) / max(requests, 1)
                rec["note"] = "; ".join(b.warnings + b.notes)
            out.append(rec)
    return pd.DataFrame(out, columns=COST_TABLE_COLUMNS)
