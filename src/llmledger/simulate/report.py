"""One document for a dataset what-if (what `whatif dataset --json` prints and the page can show):
each model alone, the oracle, the router sweep with its baselines and RouteLLM's metrics, and
the cascade's cost-quality frontier."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from llmledger.errors import SimulationError
from llmledger.simulate import cascade as cascade_mod
from llmledger.simulate import router as router_mod
from llmledger.simulate.datasets import OutcomeDataset
from llmledger.simulate.metrics import model_points, oracle_point

Progress = Callable[[int, int, str], None]


def pick_pair(ds: OutcomeDataset, strong: str | None, weak: str | None) -> tuple[str, str]:
    """The router's pair: given names, else the most accurate and the cheapest model."""
    d_strong, d_weak = ds.default_pair()
    s = strong or d_strong
    w = weak or (d_weak if d_weak != s else next(m for m in ds.models if m != s))
    ds.index(s)
    ds.index(w)
    if s == w:
        raise SimulationError(f"the strong and the weak model are both {s!r}")
    return s, w


#: Below this many queries with text, the defaults are the oracle scorer and the random (or an
#: imported) router: a model trained on a few dozen queries says little.
MIN_LEARN_QUERIES = 50


def can_learn(ds: OutcomeDataset) -> bool:
    return bool(ds.queries) and len(set(ds.queries)) >= MIN_LEARN_QUERIES


def default_router_source(ds: OutcomeDataset) -> str:
    if can_learn(ds):
        return "learned"
    if ds.router_scores:
        return sorted(ds.router_scores)[0]
    return "random"


def _points(df, keys=("threshold", "strong_share", "accuracy", "cost_usd", "latency_ms")) -> list[dict]:
    cols = [k for k in keys if k in df.columns]
    return [{k: _num(v) for k, v in row.items()} for row in df[cols].to_dict(orient="records")]


def _num(v):
    if isinstance(v, tuple):
        return [float(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return None if np.isnan(v) else float(v)
    return v


def router_section(
    ds: OutcomeDataset,
    strong: str,
    weak: str,
    source: str,
    thresholds: int = 200,
    folds: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    curve = router_mod.route(
        ds, strong, weak, source=source, thresholds=thresholds, seed=seed, folds=folds, progress=progress
    )
    out = curve.as_dict()
    out["points"] = _points(curve.points)
    baselines = {}
    for name in ("random", "oracle"):
        if name == source:
            continue
        b = router_mod.route(ds, strong, weak, source=name, thresholds=thresholds, seed=seed)
        baselines[name] = {"points": _points(b.points), "metrics": b.metrics, "rests_on": b.rests_on}
    out["baselines"] = baselines
    return out


def cascade_section(
    ds: OutcomeDataset,
    order: list[str] | None,
    scorer: str,
    strong: str,
    folds: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    fr = cascade_mod.cascade(ds, order=order, scorer=scorer, folds=folds, seed=seed, progress=progress)
    front = fr.frontier
    s = ds.index(strong)
    strong_acc, strong_cost = float(ds.scores[:, s].mean()), float(ds.costs[:, s].sum())
    match = fr.cheapest_reaching(strong_acc)
    at_cost = fr.best_under(strong_cost)
    pts = []
    for row in front.to_dict(orient="records"):
        th = list(row["thresholds"])
        pts.append(
            {
                "order": row["order"],
                "threshold": th[0] if len(th) == 1 else th,
                "strong_share": row["strong_share"],
                "accuracy": row["accuracy"],
                "cost_usd": row["cost_usd"],
                "latency_ms": _num(row["latency_ms"]),
                "accept_shares": list(row["accept_shares"]),
            }
        )
    metrics = {
        "best_accuracy": float(front["accuracy"].max()),
        "cost_to_match_strong": None if match is None else float(match["cost_usd"]),
        "cost_saved_matching_strong": None if match is None else 1 - float(match["cost_usd"]) / strong_cost,
        "order_matching_strong": None if match is None else match["order"],
        "accuracy_at_strong_cost": None if at_cost is None else float(at_cost["accuracy"]),
        "accuracy_gain_at_strong_cost": None if at_cost is None else float(at_cost["accuracy"]) - strong_acc,
        "points_evaluated": int(len(fr.points)),
    }
    return {
        "order": order or "searched: subsets of up to 3 models, cheapest first",
        "scorer": scorer,
        "reference_model": strong,
        "points": pts,
        "metrics": metrics,
        "rests_on": fr.rests_on,
    }


def dataset_report(
    ds: OutcomeDataset,
    strong: str | None = None,
    weak: str | None = None,
    cascade_order: list[str] | None = None,
    router_source: str | None = None,
    scorer: str | None = None,
    thresholds: int = 200,
    folds: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole what-if of a dataset as one JSON-able document."""
    s, w = pick_pair(ds, strong, weak)
    source = router_source or default_router_source(ds)
    if source == "learned" and not ds.queries:
        raise SimulationError(
            f"{ds.name}: no query text, so no learned router; use --router oracle, random or an imported score"
        )
    sc = scorer or ("learned" if can_learn(ds) else "oracle")
    if cascade_order is None and len(ds.models) == 2:
        cascade_order = [w, s]
    return {
        "dataset": ds.describe(),
        "strong": s,
        "weak": w,
        "models": model_points(ds),
        "oracle": oracle_point(ds),
        "router": router_section(ds, s, w, source, thresholds=thresholds, folds=folds, seed=seed, progress=progress),
        "cascade": cascade_section(ds, cascade_order, sc, s, folds=folds, seed=seed, progress=progress),
    }


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _num3(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def render_text(data: dict[str, Any]) -> str:
    """A short human summary of dataset_report's document."""
    d = data["dataset"]
    lines = [
        f"{d['name']}: {d['queries']} queries, {len(d['models'])} models",
        f"  quality: {d['score_basis']}",
        f"  cost: {d['cost_basis']}",
    ]
    lines.append(f"{'model':<40} {'accuracy':>9} {'cost USD':>12}")
    for m, p in data["models"].items():
        lines.append(f"{m:<40} {p['accuracy']:>9.4f} {p['cost_usd']:>12.4f}")
    o = data["oracle"]
    lines.append(f"{'oracle (cheapest best per query)':<40} {o['accuracy']:>9.4f} {o['cost_usd']:>12.4f}")
    r = data["router"]
    m = r["metrics"]
    lines.append(
        f"router {r['source']} ({r['strong']} vs {r['weak']}): APGR {_num3(m['apgr'])}, "
        f"CPT(50%) {_pct(m['cpt50'])}, "
        f"CPT(80%) {_pct(m['cpt80'])}, cost saved at 95% of the strong model's quality {_pct(m['cost_saved_at_95'])}"
    )
    c = data["cascade"]
    cm = c["metrics"]
    saved = cm["cost_saved_matching_strong"]
    if saved is None:
        match = f"never matches {c['reference_model']}"
    elif saved >= 0:
        match = f"matches {c['reference_model']} for {_pct(saved)} less ({cm['order_matching_strong']})"
    else:
        match = f"matches {c['reference_model']} only at {_pct(-saved)} more ({cm['order_matching_strong']})"
    lines.append(f"cascade ({c['scorer']} scorer): best accuracy {cm['best_accuracy']:.4f}; {match}")
    return "\n".join(lines)
