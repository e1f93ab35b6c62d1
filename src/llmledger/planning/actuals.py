"""Plan vs actual: a use case's planned volume, tokens and cost beside what `llm_calls` recorded.

The use case is linked to telemetry by its feature tag. Over a period [start, end) the plan's
volume is summed day by day (daily volume × growth of that month × its seasonality), and its
token cost uses the plan's model and cache/batch assumptions under the plan's price sheet.
Fixed and one-off costs are not telemetry, so both sides here are token costs only. The actual
side is *actual cost* under the viewer's sheet (pricing.engine.ACTUAL_COST_RULE), the same figure
the Spend and Reprice pages show; unpriced calls are left out of it and counted.

Variance = actual − planned, split into effects that add up exactly (each step swaps one
planned quantity for the actual one, in this order):

    volume      = (N_a − N_p) · c_p
    input mix   = N_a · (ī_a − i_p) · α_P
    output mix  = N_a · (ō_a − o_p) · β_P
    model mix   = Σ_m n_m·(i_m·α_m + o_m·β_m) − N_a·(ī_a·α_P + ō_a·β_P)
    price       = C_a − Σ_m n_m·(i_m·α_m + o_m·β_m)

N calls, i/o tokens per call, α/β the plan's effective USD per input/output token (P = the
planned model, m = each model actually called, priced on the plan's sheet with the plan's cache
and batch shares), C_a the recorded cost. "Price" therefore holds everything that is neither
volume, tokens nor model choice: a different sheet or price change, real cache hits and batch use
differing from the plan, long-context tiers. A model missing from the plan's sheet is taken at
its recorded cost per call, so it moves the model-mix effect and leaves price untouched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from llmledger.errors import PlanningError
from llmledger.planning.prices import ModelPrice
from llmledger.planning.projection import PLAN, per_token_rates
from llmledger.planning.requirements import RequirementSet, UseCase
from llmledger.pricing.sheets import pricing_sheet
from llmledger.reads.actuals import feature_actuals

EXPLANATION = """
**How the variance is split.** Starting from the planned token cost, each step swaps one planned
figure for the actual one, and the step's change in cost is that driver's effect:
1. **Volume**: actual number of calls instead of planned, at the planned cost per call.
2. **Input / output tokens per call**: actual average tokens instead of planned, still on the planned model.
3. **Model mix**: the models actually called (with their own tokens per call) instead of the planned
   model, all priced on the plan's sheet with the plan's cache and batch shares.
4. **Price**: recorded cost minus step 3 — sheet or price changes, real cache hits and batch use
   that differ from the plan, long-context tiers.

The effects add up exactly to actual − planned. Fixed and one-off costs are not in telemetry and are
left out of both sides.
"""

EFFECTS = ("volume", "input tokens per call", "output tokens per call", "model mix", "price")


@dataclass
class PlanVsActual:
    use_case: str
    feature: str
    start: dt.date
    end: dt.date
    comparison: pd.DataFrame  # metric, planned, actual, variance, variance_pct
    effects: pd.DataFrame  # effect, usd (sums to the cost variance)
    by_model: pd.DataFrame  # actual calls per model with plan-sheet prices
    by_day: pd.DataFrame  # day, planned_calls, actual_calls, planned_cost, actual_cost
    notes: list[str] = field(default_factory=list)
    actual_sheet: str = ""  # the sheet the actual cost is under
    computed_calls: int = 0  # calls priced by that sheet
    reported_only_calls: int = 0  # calls whose actual cost is their reported one
    reported_only_usd: float = 0.0
    unpriced_calls: int = 0  # calls with no known cost: left out of the actual cost

    @property
    def planned_cost(self) -> float:
        return float(self.comparison.set_index("metric").loc["token cost (USD)", "planned"])

    @property
    def actual_cost(self) -> float:
        return float(self.comparison.set_index("metric").loc["token cost (USD)", "actual"])

    @property
    def cost_variance(self) -> float:
        return float(self.effects["usd"].sum())


def planned_daily(rs: RequirementSet, uc: UseCase, start: dt.date, end: dt.date) -> pd.Series:
    """Planned requests for each day in [start, end), following the plan's monthly curve."""
    days = pd.date_range(start, end, freq="D", inclusive="left")
    y0, m0 = (int(x) for x in rs.start_month.split("-"))
    idx = (days.year - y0) * 12 + (days.month - m0)
    season = np.asarray(uc.seasonality if len(uc.seasonality) == 12 else [1.0] * 12, dtype=float)
    g = 1 + uc.growth_pct_per_month / 100.0
    vals = uc.requests_per_day * np.power(g, idx.to_numpy(dtype=float)) * season[days.month.to_numpy() - 1]
    return pd.Series(vals, index=days.date, name="planned_calls")


def _rates(models: list[str], prices: dict[str, ModelPrice], uc: UseCase):
    a, b = per_token_rates(
        [models], prices, np.array([uc.cached_input_share] * len(models)), np.array([uc.batch_share] * len(models))
    )
    return a[0], b[0]


def plan_vs_actual(
    con: duckdb.DuckDBPyConnection,
    rs: RequirementSet,
    use_case: str,
    prices: dict[str, ModelPrice],
    start: dt.date,
    end: dt.date,
    actual_sheet: str | None = None,
) -> PlanVsActual:
    """The plan (priced by `prices`, the plan's sheet) beside the actual cost of [start, end)
    under `actual_sheet` (default: the active sheet)."""
    uc = rs.use_case(use_case)
    feature = (uc.feature_tag or "").strip()
    if not feature:
        raise PlanningError(f"use case '{uc.name}' has no telemetry feature tag to compare with")
    if end <= start:
        raise PlanningError(f"the period must end after it starts ({start} … {end})")
    model = uc.model or (rs.candidates[0] if rs.candidates else "")
    if not model:
        raise PlanningError(f"use case '{uc.name}' has no selected model to plan with")
    (alpha_p,), (beta_p,) = _rates([model], prices, uc)
    if np.isnan(alpha_p):
        raise PlanningError(f"the planned model '{model}' has no price in the plan's sheet")
    notes: list[str] = []
    actual_sheet = pricing_sheet(con, actual_sheet)
    by_model, by_day_a = feature_actuals(con, feature, actual_sheet, start, end)

    daily = planned_daily(rs, uc, start, end)
    i_p, o_p = uc.mean_input_tokens, uc.mean_output_tokens
    c_p = i_p * alpha_p + o_p * beta_p
    N_p = float(daily.sum())
    C_p = N_p * c_p

    n = by_model["calls"].to_numpy(dtype=float)
    N_a = float(n.sum())
    if N_a == 0:
        notes.append(f"no calls tagged feature = '{feature}' between {start} and {end}")
    i_m = by_model["input_tokens"].fillna(0).to_numpy(dtype=float)
    o_m = by_model["output_tokens"].fillna(0).to_numpy(dtype=float)
    cost_m = by_model["cost_usd"].fillna(0).to_numpy(dtype=float)
    C_a = float(cost_m.sum())
    a_m, b_m = _rates(list(by_model["model"]), prices, uc) if len(by_model) else (np.zeros(0), np.zeros(0))
    at_plan_sheet = i_m * a_m + o_m * b_m
    unknown = np.isnan(at_plan_sheet)
    with np.errstate(invalid="ignore", divide="ignore"):
        at_plan_sheet = np.where(unknown, np.where(n > 0, cost_m / n, 0.0), at_plan_sheet)
    for m in by_model["model"][unknown]:
        notes.append(f"'{m}' is not priced in the plan's sheet: taken at its recorded cost")
    reported_only = int(by_model["reported_only_calls"].sum()) if len(by_model) else 0
    if reported_only:
        notes.append(f"{reported_only:,} call(s) are not priced by sheet '{actual_sheet}': their reported cost is used")
    unpriced = int(by_model["unpriced_calls"].sum()) if len(by_model) else 0
    if unpriced:
        models = ", ".join(f"'{m}'" for m in by_model["model"][by_model["unpriced_calls"] > 0])
        notes.append(
            f"{unpriced:,} call(s) have no known cost under sheet '{actual_sheet}' ({models}): "
            "left out of the actual cost, never counted as $0"
        )
    no_usage = int(by_model["calls_without_usage"].sum()) if len(by_model) else 0
    if no_usage:
        notes.append(f"{no_usage:,} call(s) reported no token usage; token averages use the others")

    i_a = float((n * i_m).sum() / N_a) if N_a else 0.0
    o_a = float((n * o_m).sum() / N_a) if N_a else 0.0
    mix_cost = float((n * at_plan_sheet).sum())
    effects = pd.DataFrame(
        {
            "effect": EFFECTS,
            "usd": [
                (N_a - N_p) * c_p,
                N_a * (i_a - i_p) * alpha_p,
                N_a * (o_a - o_p) * beta_p,
                mix_cost - N_a * (i_a * alpha_p + o_a * beta_p),
                C_a - mix_cost,
            ],
        }
    )

    def row(metric, p, a):
        var = a - p
        return {
            "metric": metric,
            "planned": p,
            "actual": a,
            "variance": var,
            "variance_pct": (var / p * 100) if p else np.nan,
        }

    comparison = pd.DataFrame(
        [
            row("calls", N_p, N_a),
            row("input tokens per call", i_p, i_a),
            row("output tokens per call", o_p, o_a),
            row("cost per call (USD)", c_p, C_a / N_a if N_a else 0.0),
            row("token cost (USD)", C_p, C_a),
        ]
    )
    by_model = by_model.assign(
        share=n / N_a if N_a else n,
        cost_per_call_at_plan_prices=at_plan_sheet,
        planned_model=by_model["model"] == model,
    )
    by_day = pd.DataFrame({"day": daily.index, "planned_calls": daily.to_numpy()})
    by_day["planned_cost_usd"] = by_day["planned_calls"] * c_p
    by_day_a["day"] = pd.to_datetime(by_day_a["day"]).dt.date
    by_day = by_day.merge(
        by_day_a.rename(columns={"calls": "actual_calls", "cost_usd": "actual_cost_usd"}), on="day", how="left"
    ).fillna({"actual_calls": 0, "actual_cost_usd": 0.0})
    horizon_end = pd.Period(rs.start_month, "M") + rs.horizon_months
    if (
        pd.Period(start, "M") < pd.Period(rs.start_month, "M")
        or pd.Period(end - dt.timedelta(days=1), "M") >= horizon_end
    ):
        notes.append(
            f"part of the period lies outside the plan ({rs.start_month}, {rs.horizon_months} months): "
            "the plan's growth curve is extended there"
        )
    return PlanVsActual(
        uc.name,
        feature,
        start,
        end,
        comparison,
        effects,
        by_model,
        by_day,
        notes,
        actual_sheet,
        int(by_model["computed_calls"].sum()),
        reported_only,
        float(by_model["reported_only_usd"].fillna(0).sum()),
        unpriced,
    )


__all__ = ["plan_vs_actual", "planned_daily", "PlanVsActual", "EFFECTS", "PLAN"]
