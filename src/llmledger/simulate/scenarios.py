"""Saved what-if scenarios: a policy (router, cascade) or a lever (caching, compression, memory,
batching, caps: simulate/levers) applied to a feature's traffic, kept for the Plan page.

A scenario keeps its monthly figures and the whole result. The Plan page shows it as a
candidate: the use cases tagged with the scenario's feature cost the scenario's policy/baseline
ratio of their projected cost (the ratio measured on the feature's traffic), the others are
unchanged. A lever saved over every feature (feature NULL) applies to every use case; a lever's
saving has no band (its low and high equal it: its assumptions are stated, not intervals). `candidate_lines` does that arithmetic on plain arrays, so it needs nothing from
planning/ (a sibling layer).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.pricing.engine import query_frame

MAX_NAME = 80

SAVE_SQL = """
INSERT OR REPLACE INTO whatif_scenarios (name, saved_at, feature, kind, policy, sheet, period_start, period_end,
    calls, monthly_baseline_usd, monthly_policy_usd, monthly_saving_usd, monthly_saving_low_usd,
    monthly_saving_high_usd, body)
VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
LIST_SQL = """
SELECT name, saved_at, feature, kind, policy, sheet, calls, monthly_baseline_usd, monthly_policy_usd,
       monthly_saving_usd, monthly_saving_low_usd, monthly_saving_high_usd
FROM whatif_scenarios ORDER BY saved_at DESC, name
"""


def save(con, name: str, result, params: dict | None = None) -> dict:
    """Save (or replace) `result` under `name`: a traffic.TrafficWhatIf, or a lever on the ledger
    (levers.ledger.LedgerLever, with the `params` it ran with). Returns the saved row."""
    name = (name or "").strip()
    if not name:
        raise SimulationError("a scenario needs a name")
    if len(name) > MAX_NAME:
        raise SimulationError(f"a scenario name is at most {MAX_NAME} characters (got {len(name)})")
    row = _lever_row(result, params) if hasattr(result, "monthly_scale") else _traffic_row(result)
    if row["monthly_baseline_usd"] <= 0:
        what = f"feature {row['feature']!r}" if row["feature"] is not None else "the calls in scope"
        raise SimulationError(f"{what} cost nothing in the window: there is no saving to keep")
    con.cursor().execute(SAVE_SQL, [name, *row.values()])
    return {"name": name, "feature": row["feature"], "monthly_saving_usd": row["monthly_saving_usd"]}


def _traffic_row(result) -> dict:
    return {
        "feature": result.feature,
        "kind": result.kind,
        "policy": result.policy,
        "sheet": result.sheet,
        "period_start": result.period_start,
        "period_end": result.period_end,
        "calls": result.calls,
        "monthly_baseline_usd": result.monthly_baseline_usd,
        "monthly_policy_usd": result.monthly_policy_usd,
        "monthly_saving_usd": result.monthly_saving_usd,
        "monthly_saving_low_usd": result.monthly_saving_low_usd,
        "monthly_saving_high_usd": result.monthly_saving_high_usd,
        "body": json.dumps(result.to_dict(), default=str),
    }


def _lever_row(ll, params: dict | None) -> dict:
    d = ll.to_dict()
    d["params"] = {k: v for k, v in (params or {}).items() if k != "prices"}
    return {
        "feature": ll.feature,
        "kind": ll.result.lever,
        "policy": ll.result.title,
        "sheet": ll.sheet,
        "period_start": ll.period_start,
        "period_end": ll.period_end,
        "calls": ll.result.calls,
        "monthly_baseline_usd": d["monthly_baseline_usd"],
        "monthly_policy_usd": d["monthly_whatif_usd"],
        "monthly_saving_usd": d["monthly_saving_usd"],
        "monthly_saving_low_usd": d["monthly_saving_usd"],
        "monthly_saving_high_usd": d["monthly_saving_usd"],
        "body": json.dumps(d, default=str),
    }


def list_scenarios(con) -> pd.DataFrame:
    """Saved scenarios, newest first, with their cost ratio (policy / baseline) and its band."""
    df = query_frame(con.cursor(), LIST_SQL)
    base = df["monthly_baseline_usd"].astype(float)
    df["cost_ratio"] = df["monthly_policy_usd"].astype(float) / base
    # the saving's band ends are the cost's band ends mirrored
    df["cost_ratio_low"] = 1 - df["monthly_saving_high_usd"].astype(float) / base
    df["cost_ratio_high"] = 1 - df["monthly_saving_low_usd"].astype(float) / base
    return df


def load(con, name: str) -> dict:
    row = con.cursor().execute("SELECT body FROM whatif_scenarios WHERE name = ?", [name]).fetchone()
    if row is None:
        raise SimulationError(f"no scenario named {name!r}")
    return json.loads(row[0])


def delete(con, name: str) -> None:
    if con.cursor().execute("SELECT count(*) FROM whatif_scenarios WHERE name = ?", [name]).fetchone()[0] == 0:
        raise SimulationError(f"no scenario named {name!r}")
    con.cursor().execute("DELETE FROM whatif_scenarios WHERE name = ?", [name])


def candidate_lines(
    months: list[str], cost: np.ndarray, feature_tags: list[str | None], scenarios: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """A projection's total with each scenario applied: `cost` is the plan's (U, T) cost per use
    case and month, `feature_tags` each use case's feature. Returns a long frame (month, scenario,
    total_usd, low_usd, high_usd, saving_usd) and notes (scenarios matching no use case)."""
    cost = np.nan_to_num(np.asarray(cost, dtype=float))
    plan_total = cost.sum(axis=0)
    rows, notes = [], []
    for sc in scenarios.itertuples():
        every = sc.feature is None or (isinstance(sc.feature, float) and np.isnan(sc.feature))
        hit = np.array([every or t == sc.feature for t in feature_tags], dtype=bool)
        if not hit.any():
            notes.append(
                f"Scenario {sc.name!r} is for feature {sc.feature!r}, which no use case of this plan is tagged with."
            )
            continue
        tagged = cost[hit].sum(axis=0)
        for ratio, col in (
            (sc.cost_ratio, "total_usd"),
            (sc.cost_ratio_low, "low_usd"),
            (sc.cost_ratio_high, "high_usd"),
        ):
            line = plan_total - tagged + tagged * ratio
            for i, m in enumerate(months):
                rows.append({"month": m, "scenario": sc.name, "what": col, "usd": float(line[i])})
    df = pd.DataFrame(rows, columns=["month", "scenario", "what", "usd"])
    if df.empty:
        return pd.DataFrame(columns=["month", "scenario", "total_usd", "low_usd", "high_usd", "saving_usd"]), notes
    wide = df.pivot_table(index=["scenario", "month"], columns="what", values="usd", sort=False).reset_index()
    wide["saving_usd"] = wide["month"].map(dict(zip(months, plan_total))) - wide["total_usd"]
    return wide[["month", "scenario", "total_usd", "low_usd", "high_usd", "saving_usd"]], notes
