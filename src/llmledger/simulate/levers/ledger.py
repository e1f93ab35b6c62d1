"""A lever applied to the ledger's own calls: read the window, price it, run the lever, scale to a
month. What the CLI (simulate/levers_cli.py) and, later, the What-if page call."""

from __future__ import annotations

from dataclasses import dataclass

from llmledger.errors import SimulationError
from llmledger.reads import levers as reads
from llmledger.simulate.levers import batching, compression, prefix, response, sessions
from llmledger.simulate.levers.core import LeverResult, ModelPrices, usd

MONTH_DAYS = 30
MAX_DAYS = 3660

#: CLI name -> (function, needs prices)
LEVERS = {
    "cache": (response.response_cache, False),
    "agent-cache": (response.agent_cache, False),
    "prompt-cache": (prefix.prompt_cache, True),
    "compress": (compression.compress, True),
    "memory": (sessions.memory, True),
    "batch": (batching.batch_api, True),
    "caps": (batching.output_caps, True),
}


@dataclass
class LedgerLever:
    result: LeverResult
    feature: str | None
    sheet: str
    period_start: str
    period_end: str
    days_covered: float
    notes: list[str]

    @property
    def monthly_scale(self) -> float:
        return MONTH_DAYS / self.days_covered

    def to_dict(self) -> dict:
        d = self.result.to_dict()
        s = self.monthly_scale
        d.update(
            feature=self.feature,
            sheet=self.sheet,
            period_start=self.period_start,
            period_end=self.period_end,
            days_covered=round(self.days_covered, 3),
            monthly_baseline_usd=usd(self.result.baseline_usd * s),
            monthly_whatif_usd=usd(self.result.whatif_usd * s),
            monthly_saving_usd=usd(self.result.saving_usd * s),
        )
        d["notes"] = self.notes + d["notes"]
        d["assumptions"].append(f"monthly figures: the window's cost x {MONTH_DAYS} / {self.days_covered:.1f} days")
        return d


def apply_lever(
    con, lever: str, feature: str | None = None, days=30, sheet: str | None = None, **params
) -> LedgerLever:
    """Run `lever` (a LEVERS name) on the last `days` days of `feature`'s calls (every feature when
    None) under `sheet` (default: the active one)."""
    if lever not in LEVERS:
        raise SimulationError(f"unknown lever {lever!r}; levers: {', '.join(LEVERS)}")
    try:
        d = float(days)
    except (TypeError, ValueError):
        raise SimulationError(f"days must be a number (got {days!r})") from None
    if not 0 < d <= MAX_DAYS:
        raise SimulationError(f"days must be between 1 and {MAX_DAYS} (got {days})")
    feature = feature.strip() if isinstance(feature, str) and feature.strip() else None
    lc = reads.lever_calls(con, feature, d, sheet)
    if lc is None or lc.calls.empty:
        seen = ", ".join(reads.known_features(con)) or "none: ingest telemetry or load demo data"
        what = f"feature {feature!r} has" if feature else "the ledger has"
        raise SimulationError(f"{what} no calls with token usage; features seen: {seen}")
    fn, needs_prices = LEVERS[lever]
    if needs_prices:
        raw = reads.lever_prices(con, lc.sheet, lc.calls["model"].dropna().unique())
        params["prices"] = {m: ModelPrices(**p) for m, p in raw.items()}
    result = fn(lc.calls, **params)
    return LedgerLever(
        result=result,
        feature=feature,
        sheet=lc.sheet,
        period_start=lc.start.isoformat(),
        period_end=lc.end.isoformat(),
        days_covered=lc.days,
        notes=lc.notes
        + ([f"{lc.unpriced:,} calls have no price under sheet {lc.sheet!r} (counted as $0)"] if lc.unpriced else []),
    )
