"""A lever applied to the ledger's own calls: read the window, price it, run the lever, scale to a
month. What the CLI (simulate/levers_cli.py) and, later, the What-if page call."""

from __future__ import annotations

from dataclasses import dataclass

from llmledger.errors import SimulationError
from llmledger.reads import levers as reads
from llmledger.simulate.levers import batching, compression, prefix, response, semantic, sessions
from llmledger.simulate.levers.core import LeverResult, ModelPrices, usd

MONTH_DAYS = 30
MAX_DAYS = 3660

#: CLI name -> (function, needs prices)
LEVERS = {
    "cache": (response.response_cache, False),
    "semantic": (semantic.semantic_cache, False),  # the CLI's `whatif cache --semantic`
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


def _window(con, feature, days, sheet):
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
    return feature, lc


def _models(calls, *option_sets) -> list[str]:
    """The models to price: the calls' own and any model an option names (memory's summary
    model, which need not appear in the traffic)."""
    models = set(calls["model"].dropna().unique())
    for opts in option_sets:
        if isinstance(opts, dict) and isinstance(opts.get("summary_model"), str):
            models.add(opts["summary_model"])
    return sorted(models)


def apply_lever(
    con, lever: str, feature: str | None = None, days=30, sheet: str | None = None, **params
) -> LedgerLever:
    """Run `lever` (a LEVERS name) on the last `days` days of `feature`'s calls (every feature when
    None) under `sheet` (default: the active one)."""
    if lever not in LEVERS:
        raise SimulationError(f"unknown lever {lever!r}; levers: {', '.join(LEVERS)}")
    feature, lc = _window(con, feature, days, sheet)
    fn, needs_prices = LEVERS[lever]
    if needs_prices:
        raw = reads.lever_prices(con, lc.sheet, _models(lc.calls, params))
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


#: The savings summary's default steps: levers that remove calls, then shrink them, then reprice
#: them. Compression is left out by default (it runs a local model over a sample).
SUMMARY_STEPS = ("cache", "agent-cache", "memory", "prompt-cache", "caps", "batch")


def savings_summary(
    con, feature: str | None = None, days=30, sheet: str | None = None, steps=SUMMARY_STEPS, params=None
) -> dict:
    """Levers applied in sequence on the same window (summary.in_sequence): each step's extra
    saving, for a waterfall; `params` {lever: {option: value}}."""
    from llmledger.simulate.levers.summary import in_sequence

    unknown = [s for s in steps if s not in LEVERS]
    if unknown:
        raise SimulationError(f"unknown lever(s) {', '.join(unknown)}; levers: {', '.join(LEVERS)}")
    params = params or {}
    feature, lc = _window(con, feature, days, sheet)
    raw = reads.lever_prices(con, lc.sheet, _models(lc.calls, *params.values()))
    prices = {m: ModelPrices(**p) for m, p in raw.items()}

    def step(name):
        fn, needs = LEVERS[name]
        kw = dict(params.get(name, {}), **({"prices": prices} if needs else {}))
        return name, lambda d: fn(d, **kw)

    out = in_sequence(lc.calls, [step(s) for s in steps])
    scale = MONTH_DAYS / lc.days
    wf = out["waterfall"]
    return {
        "feature": feature,
        "sheet": lc.sheet,
        "period_start": lc.start.isoformat(),
        "period_end": lc.end.isoformat(),
        "days_covered": round(lc.days, 3),
        "baseline_usd": usd(out["baseline_usd"]),
        "final_usd": usd(out["final_usd"]),
        "saving_usd": usd(out["saving_usd"]),
        "monthly_saving_usd": usd(out["saving_usd"] * scale),
        "steps": [
            {
                "lever": r.lever,
                "saving_usd": usd(r.saving_usd),
                "monthly_saving_usd": usd(r.saving_usd * scale),
                "cost_after_usd": usd(r.cost_after_usd),
                "calls_after": int(r.calls_after),
                "title": out["results"][r.lever].title if r.lever in out["results"] else r.lever,
            }
            for r in wf.itertuples()
        ],
        "assumptions": [
            "levers applied in this order, each on what the ones before it left (calls a cache answered are "
            "gone; costs and input tokens as the previous step left them): savings are not counted twice",
            *[f"{n}: {a}" for n, r in out["results"].items() for a in r.assumptions],
        ],
    }
