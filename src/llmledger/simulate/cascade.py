"""FrugalGPT-style cascades over an ordered list of models, on an outcome dataset.

A query goes to the first model; a scorer rates that answer, and tier i accepts it when the
confidence reaches tier i's threshold. Otherwise the next model is tried. The last tier always
accepts. Cost and latency are the sums over the tiers tried; quality is the accepted answer's.

Scorers (confidence that a model's answer is good, per query and model):
- oracle: the answer's own score (accept exactly the good answers: the upper bound);
- learned: TF-IDF of the query (plus the answer's text, when the dataset has it) and a logistic
  regression predicting "this model's answer is good", K-fold cross-validated per model.

Thresholds are searched on a grid (quantiles of each tier's confidence) for every order; the
points no other point beats on both cost and quality form the cost-quality frontier, and
`best_under(budget)` reads the best quality within a budget off it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.datasets import OutcomeDataset
from llmledger.simulate.metrics import pareto_mask
from llmledger.simulate.router import Progress, cross_val_proba, fold_ids, hashed_text, single_thread_blas

#: A score at or above this counts as a good answer for the learned scorer's labels (0/1
#: correctness: correct; graded scores such as MT-Bench/10: 8 out of 10 or better).
GOOD_SCORE = 0.8


@dataclass
class CascadeResult:
    """One cascade at one set of thresholds. Costs are dataset totals, latency the mean per
    query; `accept_share[i]` is the share of queries answered by tier i; `tier[q]` the tier
    that answered query q."""

    order: list[str]
    thresholds: list[float]
    accuracy: float
    cost_usd: float
    latency_ms: float | None
    accept_share: list[float]
    tier: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "thresholds": self.thresholds,
            "accuracy": self.accuracy,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "accept_share": self.accept_share,
        }


@dataclass
class CascadeFrontier:
    """Every evaluated (order, thresholds) point: columns order (" > " joined), thresholds
    (tuple, one per tier but the last), accuracy, cost_usd (total), latency_ms (mean or NaN),
    strong_share (share of queries that reached the last tier), accept_shares (tuple), pareto."""

    points: pd.DataFrame
    scorer: str
    queries: int
    rests_on: list[str] = field(default_factory=list)

    @property
    def frontier(self) -> pd.DataFrame:
        """The Pareto points, cheapest first."""
        return self.points[self.points["pareto"]].sort_values("cost_usd").reset_index(drop=True)

    def best_under(self, budget_usd: float) -> pd.Series | None:
        """The most accurate point whose total cost is within `budget_usd` (cheaper on a tie)."""
        ok = self.points[self.points["cost_usd"] <= budget_usd + 1e-12]
        if ok.empty:
            return None
        return ok.sort_values(["accuracy", "cost_usd"], ascending=[False, True]).iloc[0]

    def budget_curve(self, budgets: list[float] | np.ndarray | None = None, per_query: bool = False) -> pd.DataFrame:
        """The best quality under each budget (FrugalGPT's curve): one row per budget with the
        chosen point's order, thresholds, accuracy and cost. Budgets are dataset totals, or USD
        per query with `per_query`; default: 20 budgets from the cheapest point to the dearest."""
        scale = self.queries if per_query else 1
        if budgets is None:
            lo, hi = self.points["cost_usd"].min(), self.points["cost_usd"].max()
            budgets = np.linspace(lo, hi, 20) / scale
        front = self.frontier  # cheapest first, accuracy rising
        costs = front["cost_usd"].to_numpy()
        rows = []
        for b in np.asarray(budgets, float):
            i = int(np.searchsorted(costs, b * scale + 1e-12, side="right")) - 1
            if i < 0:
                rows.append(
                    {"budget": float(b), "order": None, "thresholds": None, "accuracy": np.nan, "cost_usd": np.nan}
                )
                continue
            r = front.iloc[i]
            rows.append(
                {
                    "budget": float(b),
                    "order": r["order"],
                    "thresholds": r["thresholds"],
                    "accuracy": float(r["accuracy"]),
                    "cost_usd": float(r["cost_usd"]) / scale,
                }
            )
        return pd.DataFrame(rows)

    def cheapest_reaching(self, accuracy: float) -> pd.Series | None:
        """The cheapest point whose accuracy is at least `accuracy`."""
        ok = self.points[self.points["accuracy"] >= accuracy - 1e-12]
        if ok.empty:
            return None
        return ok.sort_values(["cost_usd", "accuracy"], ascending=[True, False]).iloc[0]


# ---------------------------------------------------------------------- running one cascade
def _check_order(ds: OutcomeDataset, order: list[str]) -> list[int]:
    if len(order) < 1:
        raise SimulationError("a cascade needs at least one model")
    if len(set(order)) != len(order):
        raise SimulationError(f"a model appears twice in the cascade {' > '.join(order)}")
    return [ds.index(m) for m in order]


def run_cascade(
    ds: OutcomeDataset,
    order: list[str],
    confidence: np.ndarray,
    thresholds: list[float],
    rows: np.ndarray | None = None,
) -> CascadeResult:
    """Run the cascade `order` with `confidence` (n_queries x len(order), the scorer's confidence
    in each tier's answer) and one threshold per tier but the last."""
    cols = _check_order(ds, order)
    k = len(cols)
    conf = np.asarray(confidence, float)
    if conf.shape != (ds.n_queries, k):
        raise SimulationError(f"confidence must be (queries, tiers) = ({ds.n_queries}, {k}), got {conf.shape}")
    if len(thresholds) != k - 1:
        raise SimulationError(f"a {k}-tier cascade needs {k - 1} threshold(s), got {len(thresholds)}")
    idx = np.arange(ds.n_queries) if rows is None else np.asarray(rows)
    conf = conf[idx]
    accept = np.ones((len(idx), k), bool)
    for t, th in enumerate(thresholds):
        accept[:, t] = conf[:, t] >= th
    tier = accept.argmax(axis=1)  # the first accepting tier (the last always accepts)
    sc = ds.scores[np.ix_(idx, cols)]
    cs = ds.costs[np.ix_(idx, cols)]
    tried = np.arange(k)[None, :] <= tier[:, None]
    r = np.arange(len(idx))
    lat = None
    if ds.latency_ms is not None:
        lat = float((ds.latency_ms[np.ix_(idx, cols)] * tried).sum(axis=1).mean())
    return CascadeResult(
        order=list(order),
        thresholds=[float(t) for t in thresholds],
        accuracy=float(sc[r, tier].mean()),
        cost_usd=float((cs * tried).sum()),
        latency_ms=lat,
        accept_share=[float(x) for x in np.bincount(tier, minlength=k) / len(idx)],
        tier=tier,
    )


# ---------------------------------------------------------------------- scorers
def oracle_confidence(ds: OutcomeDataset, models: list[str] | None = None) -> np.ndarray:
    """The oracle scorer: each answer's own score (n_queries x models)."""
    cols = [ds.index(m) for m in (models or ds.models)]
    return ds.scores[:, cols].copy()


def good_labels(ds: OutcomeDataset, good: float = GOOD_SCORE) -> np.ndarray:
    """1 where a model's answer counts as good (score >= `good`), per query and model."""
    return (ds.scores >= good - 1e-12).astype(int)


def learned_confidence(
    ds: OutcomeDataset,
    models: list[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    holdout: np.ndarray | None = None,
    good: float = GOOD_SCORE,
    progress: Progress | None = None,
) -> np.ndarray:
    """P(answer is good) per query and model (columns follow `models`, default all), each from
    a model that never trained on that query: K-fold cross-validation; rows in `holdout` are
    scored by a model fitted on all the other rows and never trained on."""
    if not ds.queries:
        raise SimulationError(f"{ds.name}: no query text to train a scorer on")
    names = list(models or ds.models)
    fold_of = fold_ids(ds, folds, seed, holdout=holdout)
    labels = good_labels(ds, good)
    out = np.empty((ds.n_queries, len(names)))
    counts = hashed_text(ds.queries)
    for j, m in enumerate(names):
        extra = _answer_features(ds.answers.get(m)) if ds.answers.get(m) else None

        def step(done: int, total: int, what: str, j: int = j) -> None:
            if progress:
                progress(j * total + done, len(names) * total, "scorer folds")

        out[:, j], _ = cross_val_proba(
            ds.queries, labels[:, ds.index(m)], fold_of, extra=extra, progress=step, what=f"scorer {m}", counts=counts
        )
    return out


def _answer_features(answers: list[str] | None) -> Callable[[np.ndarray], Any] | None:
    """Features of a model's answers: one indicator per frequent short answer (e.g. Yes/No),
    or, for long answers, their length and whether they contain a number, standardised."""
    from scipy import sparse

    arr = np.asarray(answers, dtype=object)
    short = np.array([a.strip().lower()[:40] for a in arr], dtype=object)
    values, counts = np.unique(short, return_counts=True)
    if len(values) <= 50:
        keep = values[np.argsort(-counts)][:20]
        onehot = np.column_stack([short == v for v in keep]).astype(np.float32)
        return lambda rows: sparse.csr_matrix(onehot[rows])
    length = np.log1p(np.array([len(a) for a in arr], dtype=np.float32))
    length = (length - length.mean()) / (length.std() or 1.0)
    feats = np.column_stack([length]).astype(np.float32)
    return lambda rows: sparse.csr_matrix(feats[rows])


def confidence_for(
    ds: OutcomeDataset,
    scorer: str,
    models: list[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    holdout: np.ndarray | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, str]:
    """(confidence per query and model, what it rests on) for scorer "oracle" or "learned"."""
    if scorer == "oracle":
        return oracle_confidence(ds, models), "oracle scorer: accepts exactly the good answers (upper bound)"
    if scorer == "learned":
        conf = learned_confidence(ds, models, folds=folds, seed=seed, holdout=holdout, progress=progress)
        extra = " and the answer" if ds.answers else ""
        return conf, f"learned scorer: TF-IDF of the query{extra} + logistic regression, {folds}-fold cross-validated"
    raise SimulationError(f"unknown scorer {scorer!r} (oracle or learned)")


# ---------------------------------------------------------------------- threshold search
def threshold_grid(conf: np.ndarray, grid: int) -> np.ndarray:
    """Candidate thresholds for one tier: quantiles of its confidence, plus one above the
    highest (never accept) and the lowest (always accept)."""
    q = np.quantile(conf, np.linspace(0, 1, max(grid - 1, 2)))
    return np.unique(np.concatenate([q, [np.nextafter(conf.max(), np.inf)]]))


def _search_order(ds, cols, conf, grid, rows) -> dict[str, np.ndarray]:
    """All threshold combinations of one order, as columns. Up to 3 tiers the sums over queries
    are matrix products (no loop over combinations)."""
    k = len(cols)
    sc = ds.scores[np.ix_(rows, cols)]
    cs = ds.costs[np.ix_(rows, cols)]
    lt = None if ds.latency_ms is None else ds.latency_ms[np.ix_(rows, cols)]
    n = len(rows)
    c = conf[rows]
    if k == 1:
        ths = np.zeros((1, 0))
        acc, cost = np.array([sc[:, 0].mean()]), np.array([cs[:, 0].sum()])
        lat = None if lt is None else np.array([lt[:, 0].mean()])
        shares = np.ones((1, 1))
    elif k == 2:
        g = threshold_grid(c[:, 0], grid)
        a = (c[:, 0][:, None] >= g[None, :]).astype(float)  # queries x grid: tier 1 accepts
        r = 1 - a
        acc = (a.T @ sc[:, 0] + r.T @ sc[:, 1]) / n
        cost = cs[:, 0].sum() + r.T @ cs[:, 1]
        lat = None if lt is None else (lt[:, 0].sum() + r.T @ lt[:, 1]) / n
        s1 = a.mean(axis=0)
        ths, shares = g[:, None], np.column_stack([s1, 1 - s1])
    elif k == 3:
        g1, g2 = threshold_grid(c[:, 0], grid), threshold_grid(c[:, 1], grid)
        a1 = (c[:, 0][:, None] >= g1[None, :]).astype(float)
        a2 = (c[:, 1][:, None] >= g2[None, :]).astype(float)
        r1, r2 = 1 - a1, 1 - a2
        acc = ((a1.T @ sc[:, 0])[:, None] + r1.T @ (a2 * sc[:, 1:2]) + r1.T @ (r2 * sc[:, 2:3])) / n
        cost = cs[:, 0].sum() + (r1.T @ cs[:, 1])[:, None] + r1.T @ (r2 * cs[:, 2:3])
        lat = None
        if lt is not None:
            lat = ((lt[:, 0].sum() + (r1.T @ lt[:, 1])[:, None] + r1.T @ (r2 * lt[:, 2:3])) / n).ravel()
        s1 = np.repeat(a1.mean(axis=0), len(g2))
        s2 = ((r1.T @ a2) / n).ravel()
        s3 = ((r1.T @ r2) / n).ravel()
        t1, t2 = np.meshgrid(g1, g2, indexing="ij")
        ths, shares = np.column_stack([t1.ravel(), t2.ravel()]), np.column_stack([s1, s2, s3])
        acc, cost = acc.ravel(), cost.ravel()
    else:
        # Longer cascades: loop over the combinations (the grid grows as grid ** (k - 1)).
        sub_order = [ds.models[j] for j in cols]
        grids = [threshold_grid(c[:, t], grid) for t in range(k - 1)]
        full = np.zeros((ds.n_queries, k))
        full[rows] = c
        res = [run_cascade(ds, sub_order, full, list(t), rows=rows) for t in itertools.product(*grids)]
        ths = np.array(list(itertools.product(*grids)))
        acc = np.array([r.accuracy for r in res])
        cost = np.array([r.cost_usd for r in res])
        lat = None if lt is None else np.array([r.latency_ms for r in res])
        shares = np.array([r.accept_share for r in res])
    return {
        "thresholds": ths,
        "accuracy": np.asarray(acc, float),
        "cost_usd": np.asarray(cost, float),
        "latency_ms": np.full(len(acc), np.nan) if lat is None else np.asarray(lat, float),
        "accept_shares": shares,
    }


def search_thresholds(
    ds: OutcomeDataset,
    order: list[str],
    confidence: np.ndarray,
    grid: int = 21,
    rows: np.ndarray | None = None,
    scorer: str = "",
) -> CascadeFrontier:
    """Every threshold combination on the grid for one order; `confidence` is (n_queries x
    len(order))."""
    cols = _check_order(ds, order)
    conf = np.asarray(confidence, float)
    if conf.shape != (ds.n_queries, len(cols)):
        raise SimulationError(f"confidence must be (queries, tiers) = ({ds.n_queries}, {len(cols)})")
    idx = np.arange(ds.n_queries) if rows is None else np.asarray(rows)
    with single_thread_blas():
        cols_out = _search_order(ds, cols, conf, grid, idx)
    return _frontier([cols_out], [" > ".join(order)], scorer, len(idx))


def _frontier(parts: list[dict[str, np.ndarray]], orders: list[str], scorer: str, n: int) -> CascadeFrontier:
    """One table from the per-order column blocks, with the Pareto flag."""
    sizes = [len(p["accuracy"]) for p in parts]
    df = pd.DataFrame(
        {
            "order": np.repeat(np.asarray(orders, dtype=object), sizes),
            "thresholds": [tuple(t) for p in parts for t in p["thresholds"].tolist()],
            "accuracy": np.concatenate([p["accuracy"] for p in parts]),
            "cost_usd": np.concatenate([p["cost_usd"] for p in parts]),
            "latency_ms": np.concatenate([p["latency_ms"] for p in parts]),
            "strong_share": np.concatenate([p["accept_shares"][:, -1] for p in parts]),
            "accept_shares": [tuple(s) for p in parts for s in p["accept_shares"].tolist()],
        }
    )
    df["pareto"] = pareto_mask(df["cost_usd"].to_numpy(), df["accuracy"].to_numpy())
    return CascadeFrontier(df, scorer, n)


def cheapest_first(ds: OutcomeDataset, models: list[str]) -> list[str]:
    """`models` sorted by their total cost on the dataset, cheapest first."""
    cost = ds.total_cost()
    return sorted(models, key=lambda m: (cost[ds.index(m)], m))


def search_orders(
    ds: OutcomeDataset,
    confidence: np.ndarray,
    models: list[str] | None = None,
    max_len: int = 3,
    grid: int = 21,
    rows: np.ndarray | None = None,
    scorer: str = "",
    progress: Progress | None = None,
) -> CascadeFrontier:
    """FrugalGPT's search: every subset of up to `max_len` models (default all models), tried
    cheapest first, with every threshold combination on the grid. `confidence` is (n_queries x
    len(models)), columns in the order of `models`."""
    names = list(models or ds.models)
    conf_all = np.asarray(confidence, float)
    if conf_all.shape != (ds.n_queries, len(names)):
        raise SimulationError(f"confidence must be (queries, models) = ({ds.n_queries}, {len(names)})")
    if max_len < 1:
        raise SimulationError("max_len must be at least 1")
    idx = np.arange(ds.n_queries) if rows is None else np.asarray(rows)
    ranked = cheapest_first(ds, names)
    combos = [c for r in range(1, min(max_len, len(names)) + 1) for c in itertools.combinations(ranked, r)]
    parts: list[dict[str, np.ndarray]] = []
    with single_thread_blas():
        _search_all(ds, combos, names, conf_all, grid, idx, parts, progress)
    return _frontier(parts, [" > ".join(c) for c in combos], scorer, len(idx))


def _search_all(ds, combos, names, conf_all, grid, idx, parts, progress) -> None:
    for i, combo in enumerate(combos):
        cols = [ds.index(m) for m in combo]
        tier_conf = conf_all[:, [names.index(m) for m in combo]]
        parts.append(_search_order(ds, cols, tier_conf, grid, idx))
        if progress and ((i + 1) % 20 == 0 or i + 1 == len(combos)):
            progress(i + 1, len(combos), "cascade orders")


def cascade(
    ds: OutcomeDataset,
    order: list[str] | None = None,
    scorer: str = "learned",
    max_len: int = 3,
    grid: int = 21,
    folds: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> CascadeFrontier:
    """The whole what-if: confidence from `scorer` ("oracle" or "learned"), then the threshold
    search for `order` (or FrugalGPT's search over orders of up to `max_len` models when
    `order` is None)."""
    models = list(order) if order else list(ds.models)
    if order:
        _check_order(ds, models)
    conf, note = confidence_for(ds, scorer, models, folds=folds, seed=seed, progress=progress)
    if order:
        fr = search_thresholds(ds, models, conf, grid=grid, scorer=scorer)
    else:
        fr = search_orders(ds, conf, models, max_len=max_len, grid=grid, scorer=scorer, progress=progress)
    fr.rests_on = [note, f"quality: {ds.score_basis}", f"cost: {ds.cost_basis}"]
    if ds.latency_ms is None:
        fr.rests_on.append("latency: not in the dataset")
    return fr
