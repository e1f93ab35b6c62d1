"""Validation: clear messages for impossible or suspicious requirement values.

`validate()` returns every problem at once (errors block saving, warnings do not), each naming
the use case and the field by its label, so the page can show them beside the form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmledger.errors import PlanningError
from llmledger.planning.prices import ModelPrice
from llmledger.planning.requirements import LOCK_IN, MAX_CANDIDATES, MODALITIES, PRIVACY, RequirementSet, UseCase


@dataclass(frozen=True)
class Issue:
    level: str  # 'error' | 'warning'
    where: str  # "plan" or the use case name
    field: str  # field name (for the page to point at)
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


#: Beyond these a figure is a typo, and the bill would overflow into infinity: refused as errors.
LIMITS = {
    "requests_per_day": 1e11,
    "input_tokens": 1e8,
    "output_tokens": 1e8,
    "growth_pct_per_month": 1000.0,
    "fixed_monthly_usd": 1e12,
    "one_off_usd": 1e12,
    "min_context_window": 1e9,
    "peak_to_avg": 1e6,
}


def _label(name: str) -> str:
    from llmledger.planning.requirements import use_case_fields

    for f in use_case_fields():
        if f.name == name:
            return f.metadata["label"]
    return name


def _bad_number(v) -> bool:
    return v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v))


def validate(rs: RequirementSet, prices: dict[str, ModelPrice] | None = None) -> list[Issue]:
    prices = prices or {}
    out: list[Issue] = []

    def err(where, fld, msg):
        out.append(Issue("error", where, fld, msg))

    def warn(where, fld, msg):
        out.append(Issue("warning", where, fld, msg))

    if not str(rs.name).strip():
        err("plan", "name", "the plan needs a name")
    try:
        y, m = (int(x) for x in str(rs.start_month).split("-"))
        if not (1 <= m <= 12 and 1900 < y < 3000):
            raise ValueError
    except ValueError:
        err("plan", "start_month", f"start month '{rs.start_month}' is not YYYY-MM")
    if not isinstance(rs.horizon_months, int) or not 12 <= rs.horizon_months <= 24:
        err("plan", "horizon_months", f"horizon must be 12 to 24 months, not {rs.horizon_months}")
    if len(rs.candidates) > MAX_CANDIDATES:
        err("plan", "candidates", f"compare at most {MAX_CANDIDATES} candidate models, not {len(rs.candidates)}")
    if len(set(rs.candidates)) != len(rs.candidates):
        err("plan", "candidates", "a candidate model is listed twice")
    if not rs.use_cases:
        warn("plan", "use_cases", "no use cases yet: add one to get a bill")
    names = [u.name.strip() for u in rs.use_cases]
    for n in {n for n in names if names.count(n) > 1}:
        err(n or "plan", "name", f"two use cases are both called '{n}'")
    for uc in rs.use_cases:
        _use_case(uc, prices, err, warn)
    return out


def _use_case(uc: UseCase, prices, err, warn) -> None:
    w = uc.name.strip() or "(unnamed use case)"
    if not uc.name.strip():
        err(w, "name", "a use case needs a name")
    numeric = (
        "value_per_success_usd",
        "roi_target",
        "cost_per_txn_target_usd",
        "monthly_budget_usd",
        "min_quality",
        "p95_latency_ms",
        "ttft_ms",
        "peak_rps",
        "requests_per_day",
        "input_tokens",
        "output_tokens",
        "growth_pct_per_month",
        "peak_to_avg",
        "availability_pct",
        "cached_input_share",
        "batch_share",
        "fixed_monthly_usd",
        "one_off_usd",
        "min_context_window",
    )
    bad = [f for f in numeric if _bad_number(getattr(uc, f))]
    for f in bad:
        err(w, f, f"{_label(f)} must be a finite number, not {getattr(uc, f)!r}")
    if bad:
        return

    def neg(fld, what=None):
        v = getattr(uc, fld)
        if v is not None and v < 0:
            err(w, fld, f"{what or _label(fld)} cannot be negative ({v:g})")

    for f in (
        "requests_per_day",
        "input_tokens",
        "output_tokens",
        "value_per_success_usd",
        "cost_per_txn_target_usd",
        "monthly_budget_usd",
        "fixed_monthly_usd",
        "one_off_usd",
        "peak_rps",
        "roi_target",
    ):
        neg(f)
    for f in ("p95_latency_ms", "ttft_ms", "min_context_window"):
        v = getattr(uc, f)
        if v is not None and v <= 0:
            err(w, f, f"{_label(f)} must be above zero ({v:g})")
    for f, lo, hi in (("cached_input_share", 0, 1), ("batch_share", 0, 1), ("min_quality", 0, 1)):
        v = getattr(uc, f)
        if v is not None and not lo <= v <= hi:
            hint = f" (enter {v / 100:g} for {v:g}%)" if 2 <= v <= 100 else ""
            err(w, f, f"{_label(f)} must be between {lo} and {hi}, not {v:g}{hint}")
    for f, cap in LIMITS.items():
        v = getattr(uc, f)
        if v is not None and v > cap:
            err(w, f, f"{_label(f)} of {v:,.6g} is above {cap:,.0f}, more than any service handles: a typo?")
    if uc.growth_pct_per_month <= -100:
        err(
            w,
            "growth_pct_per_month",
            f"growth of {uc.growth_pct_per_month:g}%/month would drive volume to zero or below",
        )
    elif uc.growth_pct_per_month > 100:
        yearly = math.exp(min(11 * math.log1p(uc.growth_pct_per_month / 100), 700))  # no float overflow
        warn(
            w,
            "growth_pct_per_month",
            f"growth of {uc.growth_pct_per_month:g}% every month multiplies volume "
            f"{yearly:,.0f}× in a year: is that per year?"
            if yearly < 1e15
            else f"{yearly:.3g}× in a year: is that per year?",
        )
    if not 0 < uc.availability_pct <= 100:
        err(w, "availability_pct", f"availability must be above 0% and at most 100%, not {uc.availability_pct:g}%")
    if uc.peak_to_avg < 1:
        err(w, "peak_to_avg", f"peak-to-average ratio must be at least 1 (peak ≥ average), not {uc.peak_to_avg:g}")
    season = list(uc.seasonality or [])
    if len(season) != 12:
        err(w, "seasonality", f"seasonality needs 12 monthly multipliers (Jan…Dec), got {len(season)}")
    elif any(_bad_number(s) or s < 0 or s > 1000 for s in season):
        err(w, "seasonality", "seasonality multipliers must be numbers from 0 to 1,000")
    elif abs(sum(season) / 12 - 1) > 0.05:
        warn(w, "seasonality", f"seasonality averages {sum(season) / 12:.2f}, not 1: it changes the yearly volume too")
    for f in ("input_token_samples", "output_token_samples"):
        if any(_bad_number(x) or x < 0 for x in getattr(uc, f)):
            err(w, f, f"{_label(f)} must be token counts ≥ 0")
        elif any(x > LIMITS["input_tokens"] for x in getattr(uc, f)):
            err(w, f, f"{_label(f)} has a count above {LIMITS['input_tokens']:,.0f} tokens: a typo?")
    if uc.p95_latency_ms and uc.ttft_ms and uc.ttft_ms > uc.p95_latency_ms:
        err(
            w,
            "ttft_ms",
            f"time to first token ({uc.ttft_ms:g} ms) cannot exceed the p95 latency of the "
            f"whole response ({uc.p95_latency_ms:g} ms)",
        )
    if uc.peak_rps and uc.requests_per_day:
        avg = uc.requests_per_day / 86400
        if uc.peak_rps < avg:
            err(
                w,
                "peak_rps",
                f"peak throughput {uc.peak_rps:g}/s is below the average {avg:.3g}/s implied by "
                f"{uc.requests_per_day:,.0f} requests/day",
            )
    if (
        uc.value_per_success_usd is not None
        and uc.cost_per_txn_target_usd is not None
        and uc.cost_per_txn_target_usd > uc.value_per_success_usd
    ):
        warn(
            w,
            "cost_per_txn_target_usd",
            "the cost-per-transaction target exceeds the value of a successful request: every request would lose money",
        )
    if uc.privacy not in PRIVACY:
        err(w, "privacy", f"unknown privacy rule '{uc.privacy}' (one of: {', '.join(PRIVACY)})")
    if uc.lock_in not in LOCK_IN:
        err(w, "lock_in", f"unknown lock-in stance '{uc.lock_in}' (one of: {', '.join(LOCK_IN)})")
    unknown = [m for m in uc.modalities if m not in MODALITIES]
    if unknown:
        err(w, "modalities", f"unknown modality {', '.join(unknown)} (one of: {', '.join(MODALITIES)})")
    both = set(uc.provider_allow) & set(uc.provider_deny)
    if both:
        err(w, "provider_deny", f"provider {', '.join(sorted(both))} is both allowed and denied")
    if uc.min_context_window and uc.min_context_window < uc.max_input_tokens + uc.max_output_tokens:
        warn(
            w,
            "min_context_window",
            f"required context window {uc.min_context_window:,} is below input + output "
            f"of the largest request ({uc.max_input_tokens + uc.max_output_tokens:,.0f} tokens)",
        )
    _against_model(uc, w, prices, err, warn)


def _against_model(uc: UseCase, w: str, prices, err, warn) -> None:
    if not uc.model:
        return
    p = prices.get(uc.model)
    if p is None:
        if prices:
            warn(w, "model", f"model '{uc.model}' is not in the selected price sheet: it cannot be priced")
        return
    if p.max_output and uc.max_output_tokens > p.max_output:
        err(
            w,
            "output_tokens",
            f"output of {uc.max_output_tokens:,.0f} tokens per request is above "
            f"{p.model}'s limit of {p.max_output:,} output tokens",
        )
    if p.context_window and uc.required_context > p.context_window:
        err(
            w,
            "input_tokens",
            f"a request needs {uc.required_context:,.0f} tokens of context but {p.model}'s "
            f"window is {p.context_window:,}",
        )
    missing = [m for m in uc.modalities if m not in p.modalities]
    if missing:
        err(w, "modalities", f"{p.model} does not accept {', '.join(missing)} input")
    if uc.privacy == "no_third_party_api" and not p.self_hosted:
        err(
            w,
            "model",
            f"{p.model} is a hosted API ({p.provider or 'third party'}), which the privacy rule "
            "'no third-party API' forbids",
        )
    if uc.batch_share > 0 and p.batch_input_per_1m is None:
        warn(w, "batch_share", f"{p.model} has no batch price in this sheet: batched requests are priced at list price")
    if uc.cached_input_share > 0 and p.cache_read_per_1m is None:
        warn(
            w,
            "cached_input_share",
            f"{p.model} has no cache-read price in this sheet: cached input is priced at list price",
        )


def errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.level == "error"]


def check(rs: RequirementSet, prices: dict[str, ModelPrice] | None = None) -> list[Issue]:
    """Raise PlanningError listing every error; return the warnings."""
    issues = validate(rs, prices)
    errs = errors(issues)
    if errs:
        raise PlanningError("; ".join(str(e) for e in errs))
    return issues
