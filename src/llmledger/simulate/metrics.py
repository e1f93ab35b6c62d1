"""Summary points (each model alone, the oracle), the Pareto frontier and RouteLLM's metrics.

RouteLLM's definitions (lm-sys/RouteLLM `routellm/evals/evaluate.py`), on a router's curve of
(percentage of calls to the strong model, quality) points sorted by that percentage:
- PGR, performance gap recovered: (quality - weak) / (strong - weak);
- CPT(x%), call-performance threshold: the share of strong calls needed to reach a PGR of x%,
  i.e. quality = weak + x * (strong - weak), read off the curve by linear interpolation
  (RouteLLM's `np.interp`; on a curve that is not monotone we take its first crossing);
- APGR: the area under the quality curve over the strong-call share (trapezoids over the
  sweep's points), minus the weak model's area, over the strong model's minus the weak's:
  (AUC - weak * span) / ((strong - weak) * span).
The paper's headline "cost saved at 95% of GPT-4's quality" is 1 - cost / strong model's cost at
the first point of the curve whose quality reaches 0.95 x the strong model's (interpolated).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llmledger.simulate.datasets import OutcomeDataset


def model_points(ds: OutcomeDataset) -> dict[str, dict[str, Any]]:
    """Each model alone: {model: {"queries", "accuracy" (mean score), "cost_usd" (total)}}, plus
    "latency_ms" (mean) when the dataset has latencies."""
    acc, cost = ds.accuracy(), ds.total_cost()
    out: dict[str, dict[str, Any]] = {}
    for j, m in enumerate(ds.models):
        out[m] = {"queries": ds.n_queries, "accuracy": float(acc[j]), "cost_usd": float(cost[j])}
        if ds.latency_ms is not None:
            out[m]["latency_ms"] = float(ds.latency_ms[:, j].mean())
    return out


def oracle_choice(ds: OutcomeDataset, models: list[str] | None = None) -> np.ndarray:
    """Per query, the column (into `models`, default all) of the cheapest model among those with
    that query's highest score."""
    sub = ds if models is None else ds.subset(models=models)
    best = sub.scores.max(axis=1, keepdims=True)
    cost = np.where(sub.scores >= best, sub.costs, np.inf)
    return cost.argmin(axis=1)


def oracle_point(ds: OutcomeDataset, models: list[str] | None = None) -> dict[str, Any]:
    """The oracle: per query, the cheapest of the models with that query's highest score.
    {"accuracy", "cost_usd" (total), "picks": {model: queries}}."""
    names = list(ds.models if models is None else models)
    sub = ds if models is None else ds.subset(models=models)
    pick = oracle_choice(sub)
    rows = np.arange(sub.n_queries)
    counts = np.bincount(pick, minlength=len(names))
    out = {
        "accuracy": float(sub.scores[rows, pick].mean()),
        "cost_usd": float(sub.costs[rows, pick].sum()),
        "picks": {m: int(c) for m, c in zip(names, counts)},
    }
    if sub.latency_ms is not None:
        out["latency_ms"] = float(sub.latency_ms[rows, pick].mean())
    return out


def pareto_mask(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """True for points on the cost-quality frontier: no other point costs no more and scores
    higher, or costs less and scores the same."""
    cost, quality = np.asarray(cost, float), np.asarray(quality, float)
    order = np.lexsort((-quality, cost))
    q = quality[order]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(q)[:-1]])
    mask = np.zeros(len(cost), bool)
    mask[order] = q > best_before
    return mask


def first_crossing(x: np.ndarray, y: np.ndarray, target: float) -> float | None:
    """Smallest x at which the piecewise-linear curve through (x, y) (x ascending) reaches
    `target`; None when it never does."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    hit = np.flatnonzero(y >= target - 1e-12)
    if not len(hit):
        return None
    i = int(hit[0])
    if i == 0 or y[i] == y[i - 1]:
        return float(x[i])
    return float(x[i - 1] + (target - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))


def routellm_metrics(
    strong_share: np.ndarray,
    accuracy: np.ndarray,
    weak_acc: float,
    strong_acc: float,
    cost: np.ndarray | None = None,
    strong_cost: float | None = None,
) -> dict[str, float | None]:
    """RouteLLM's metrics of one router curve (see the module docstring). Shares are fractions
    (0..1), not percentages. Returns {"cpt20", "cpt50", "cpt80", "apgr", "auc",
    "share_at_95", "cost_at_95", "cost_saved_at_95"}; a CPT the curve never reaches is None."""
    x = np.asarray(strong_share, float)
    y = np.asarray(accuracy, float)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    gap = strong_acc - weak_acc
    out: dict[str, float | None] = {}
    for pct in (20, 50, 80):
        out[f"cpt{pct}"] = first_crossing(x, y, weak_acc + pct / 100 * gap) if gap > 0 else None
    span = x[-1] - x[0]
    auc = float(np.trapezoid(y, x))
    out["auc"] = auc
    out["apgr"] = float((auc - weak_acc * span) / (gap * span)) if gap > 0 and span > 0 else None
    share95 = first_crossing(x, y, 0.95 * strong_acc)
    out["share_at_95"] = share95
    out["cost_at_95"] = out["cost_saved_at_95"] = None
    if cost is not None and share95 is not None:
        c = np.asarray(cost, float)[order]
        c95 = float(np.interp(share95, x, c))
        out["cost_at_95"] = c95
        if strong_cost:
            out["cost_saved_at_95"] = 1.0 - c95 / strong_cost
    return out
