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
from llmledger.simulate.router import Progress, cross_val_proba, fold_ids

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
    for j, m in enumerate(names):
        extra = _answer_features(ds.answers.get(m)) if ds.answers.get(m) else None

        def step(done: int, total: int, what: str, j: int = j) -> None:
            if progress:
                progress(j * total + done, len(names) * total, "scorer folds")

        out[:, j], _ = cross_val_proba(
            ds.queries, labels[:, ds.index(m)], fold_of, extra=extra, progress=step, what=f"scorer {m}"
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


def _search_order(ds, cols, conf, grid, rows) -> list[dict]:
    """All threshold combinations of one order, by matrix products over queries (no loop over
    combinations for up to 3 tiers)."""
    k = len(cols)
    sc = ds.scores[np.ix_(rows, cols)]
    cs = ds.costs[np.ix_(rows, cols)]
    lt = None if ds.latency_ms is None else ds.latency_ms[np.ix_(rows, cols)]
    n = len(rows)
    c = conf[rows]
    out: list[dict] = []

    def emit(ths, acc, cost, lat, shares):
        out.append(
            {
                "thresholds": tuple(float(t) for t in ths),
                "accuracy": float(acc),
                "cost_usd": float(cost),
                "latency_ms": float(lat) if lat is not None else np.nan,
                "strong_share": float(shares[-1]),
                "accept_shares": tuple(float(s) for s in shares),
            }
        )

    if k == 1:
        emit((), sc[:, 0].mean(), cs[:, 0].sum(), None if lt is None else lt[:, 0].mean(), (1.0,))
        return out
    grids = [threshold_grid(c[:, t], grid) for t in range(k - 1)]
    if k == 2:
        a = (c[:, 0][:, None] >= grids[0][None, :]).astype(float)  # n x G
        r = 1 - a
        acc = (a.T @ sc[:, 0] + r.T @ sc[:, 1]) / n
        cost = cs[:, 0].sum() + r.T @ cs[:, 1]
        lat = None if lt is None else (lt[:, 0].sum() + r.T @ lt[:, 1]) / n
        share1 = a.mean(axis=0)
        for g, th in enumerate(grids[0]):
            emit((th,), acc[g], cost[g], None if lat is None else lat[g], (share1[g], 1 - share1[g]))
        return out
    if k == 3:
        a1 = (c[:, 0][:, None] >= grids[0][None, :]).astype(float)
        a2 = (c[:, 1][:, None] >= grids[1][None, :]).astype(float)
        r1, r2 = 1 - a1, 1 - a2
        acc = (a1.T @ sc[:, 0])[:, None] + r1.T @ (a2 * sc[:, 1:2]) + r1.T @ (r2 * sc[:, 2:3])
        cost = cs[:, 0].sum() + (r1.T @ cs[:, 1])[:, None] + r1.T @ (r2 * cs[:, 2:3])
        lat = None
        if lt is not None:
            lat = (lt[:, 0].sum() + (r1.T @ lt[:, 1])[:, None] + r1.T @ (r2 * lt[:, 2:3])) / n
        s1 = a1.mean(axis=0)
        s2 = (r1.T @ a2) / n
        s3 = (r1.T @ r2) / n
        for g1, t1 in enumerate(grids[0]):
            for g2, t2 in enumerate(grids[1]):
                emit(
                    (t1, t2),
                    acc[g1, g2] / n,
                    cost[g1, g2],
                    None if lat is None else lat[g1, g2],
                    (s1[g1], s2[g1, g2], s3[g1, g2]),
                )
        return out
    # Longer cascades: loop over the combinations (the grid grows as grid ** (k - 1)).
    sub_order = [ds.models[j] for j in cols]
    for ths in itertools.product(*grids):
        res = run_cascade(ds, sub_order, conf, list(ths), rows=rows)
        emit(ths, res.accuracy, res.cost_usd, res.latency_ms, res.accept_share)
    return out


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
    pts = _search_order(ds, cols, conf, grid, idx)
    return _frontier(pts, " > ".join(order), scorer, len(idx))


def _frontier(pts: list[dict], order_name: str | list[str], scorer: str, n: int) -> CascadeFrontier:
    df = pd.DataFrame(pts)
    if isinstance(order_name, str):
        df.insert(0, "order", order_name)
    else:
        df.insert(0, "order", order_name)
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
    pts: list[dict] = []
    orders: list[str] = []
    for i, combo in enumerate(combos):
        cols = [ds.index(m) for m in combo]
        conf = np.zeros((ds.n_queries, ds.scores.shape[1]))
        for m in combo:
            conf[:, ds.index(m)] = conf_all[:, names.index(m)]
        # _search_order takes confidence columns in tier order
        tier_conf = conf[:, cols]
        got = _search_order(ds, cols, tier_conf, grid, idx)
        pts += got
        orders += [" > ".join(combo)] * len(got)
        if progress and (i + 1) % 10 == 0 or progress and i + 1 == len(combos):
            progress(i + 1, len(combos), "cascade orders")
    return _frontier(pts, orders, scorer, len(idx))


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
