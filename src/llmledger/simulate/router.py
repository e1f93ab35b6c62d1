"""RouteLLM-style routing between a strong and a weak model, on an outcome dataset.

A router gives each query a score (RouteLLM's "strong win rate"): the higher, the more the query
needs the strong model. At threshold t a query goes to the strong model when its score >= t.
Sweeping t traces quality against the share of strong calls and against cost.

Score sources:
- random: a uniform random score per query (the baseline: on average a straight line between
  the two models);
- oracle: the strong model's gain over the weak one on that query (the upper bound);
- learned: TF-IDF features of the query text and a logistic regression predicting "the strong
  model does better", K-fold cross-validated (each query scored by a model that never saw it);
- imported: a score column that came with the dataset (e.g. another router's output).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.datasets import OutcomeDataset
from llmledger.simulate.metrics import routellm_metrics

Progress = Callable[[int, int, str], None]  # (done, total, what)

SOURCES = ("random", "oracle", "learned", "imported")


@dataclass
class LearnedScores:
    """Cross-validated scores: `scores[i]` came from the model trained without fold `fold_of[i]`;
    `train_rows[k]` are the rows fold k's model was fitted on (none of them has fold_of == k)."""

    scores: np.ndarray
    fold_of: np.ndarray
    train_rows: list[np.ndarray]
    folds: int
    label: str
    note: str = ""


@dataclass
class RouterCurve:
    """A threshold sweep: `points` has one row per threshold (threshold, strong_share,
    accuracy, cost_usd and latency_ms when known), from 0% to 100% strong calls. `metrics` are
    RouteLLM's (see simulate.metrics). Costs are dataset totals."""

    source: str
    strong: str
    weak: str
    points: pd.DataFrame
    metrics: dict[str, Any]
    rests_on: list[str] = field(default_factory=list)

    def at_share(self, share: float) -> dict[str, float]:
        """The operating point closest to `share` of strong calls (0..1)."""
        i = int((self.points["strong_share"] - share).abs().idxmin())
        return {k: float(v) for k, v in self.points.loc[i].items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "strong": self.strong,
            "weak": self.weak,
            "points": self.points.to_dict(orient="records"),
            "metrics": self.metrics,
            "rests_on": self.rests_on,
        }


# ---------------------------------------------------------------------- score sources
def random_scores(ds: OutcomeDataset, seed: int = 0) -> np.ndarray:
    """A uniform random score per query: the random router."""
    return np.random.default_rng(seed).random(ds.n_queries)


def oracle_scores(ds: OutcomeDataset, strong: str, weak: str) -> np.ndarray:
    """The strong model's gain over the weak one on each query (its score minus the weak one's):
    the oracle spends strong calls where they gain the most, first (RouteLLM's "optimal")."""
    s, w = ds.index(strong), ds.index(weak)
    return ds.scores[:, s] - ds.scores[:, w]


def strong_better(ds: OutcomeDataset, strong: str, weak: str) -> np.ndarray:
    """1 where the strong model scores higher than the weak one, else 0 (the learned router's label)."""
    return (oracle_scores(ds, strong, weak) > 0).astype(int)


def imported_scores(ds: OutcomeDataset, name: str) -> np.ndarray:
    """A router score column that came with the dataset."""
    if name not in ds.router_scores:
        have = ", ".join(sorted(ds.router_scores)) or "none"
        raise SimulationError(f"{ds.name}: no imported router score {name!r} (have: {have})")
    return ds.router_scores[name]


def fold_ids(ds: OutcomeDataset, folds: int, seed: int = 0, holdout: np.ndarray | None = None) -> np.ndarray:
    """A fold per query; queries of one group (by default, identical text) share a fold, so a
    repeated question is never both trained on and scored. Rows in `holdout` (a boolean mask)
    get fold -1: see cross_val_proba."""
    if folds < 2:
        raise SimulationError("cross-validation needs at least 2 folds")
    keys = ds.groups if ds.groups is not None else (np.asarray(ds.queries, dtype=object) if ds.queries else None)
    if keys is None:
        keys = np.arange(ds.n_queries)
    uniq, inverse = np.unique(np.asarray(keys).astype(str), return_inverse=True)
    if len(uniq) < folds:
        raise SimulationError(f"{ds.name}: {len(uniq)} distinct queries, too few for {folds}-fold cross-validation")
    perm = np.random.default_rng(seed).permutation(len(uniq))
    group_fold = np.empty(len(uniq), int)
    group_fold[perm] = np.arange(len(uniq)) % folds
    out = group_fold[inverse]
    if holdout is not None:
        out[np.asarray(holdout, bool)] = -1
    return out


def single_thread_blas():
    """A context that keeps BLAS to one thread: the products here are small, and a BLAS thread
    pool on a busy 2-core machine spends far longer waking threads than multiplying."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def hashed_text(texts: list[str]):
    """Word 1-2 gram counts of each text, hashed into 2^18 columns. Hashing is stateless (no
    vocabulary fitted on anything), so computing it once for all rows leaks nothing between
    folds; the IDF weights are fitted per fold on the training rows only."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(ngram_range=(1, 2), n_features=2**18, alternate_sign=False, norm=None, dtype=np.float32)
    return vec.transform(list(texts))


def cross_val_proba(
    texts: list[str],
    labels: np.ndarray,
    fold_of: np.ndarray,
    extra: Callable[[np.ndarray], Any] | None = None,
    progress: Progress | None = None,
    what: str = "router",
    C: float = 1.0,
    counts: Any = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """P(label = 1) for every row, each from a model fitted on the other folds only (the
    IDF weights too). `extra(rows)` may return more sparse feature columns for those rows;
    `counts` (hashed_text(texts)) can be passed in when several labels share the texts.

    A fold id of -1 marks held-out rows: they are scored by a model fitted on all the other
    rows, and never trained on by any fold's model."""
    folds = int(fold_of.max()) + 1
    out = np.empty(len(labels))
    train_sets: list[np.ndarray] = []
    counts = hashed_text(texts) if counts is None else counts
    ks = list(range(folds)) + ([-1] if (fold_of == -1).any() else [])
    with single_thread_blas():
        _fit_folds(ks, fold_of, labels, counts, extra, C, out, train_sets, progress, what)
    return out, train_sets


def _fit_folds(ks, fold_of, labels, counts, extra, C, out, train_sets, progress, what) -> None:
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    for n_done, k in enumerate(ks):
        test = np.flatnonzero(fold_of == k)
        train = np.flatnonzero((fold_of != k) & (fold_of != -1))
        train_sets.append(train)
        y = labels[train]
        if y.min() == y.max():  # one class only in training: predict it
            out[test] = float(y[0])
        else:
            idf = TfidfTransformer(sublinear_tf=True).fit(counts[train])
            xtr, xte = idf.transform(counts[train]), idf.transform(counts[test])
            if extra is not None:
                xtr = sparse.hstack([xtr, extra(train)]).tocsr()
                xte = sparse.hstack([xte, extra(test)]).tocsr()
            clf = LogisticRegression(C=C, max_iter=1000, solver="liblinear", random_state=0)
            clf.fit(xtr, y)
            out[test] = clf.predict_proba(xte)[:, 1]
        if progress:
            progress(n_done + 1, len(ks), what)


def learned_scores(
    ds: OutcomeDataset,
    strong: str,
    weak: str,
    folds: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> LearnedScores:
    """A router trained here on the query text: P(the strong model scores higher than the weak
    one), from TF-IDF + logistic regression, K-fold cross-validated."""
    if not ds.queries:
        raise SimulationError(f"{ds.name}: no query text to train a router on (add a query column)")
    label = strong_better(ds, strong, weak)
    fold_of = fold_ids(ds, folds, seed)
    scores, train_rows = cross_val_proba(ds.queries, label, fold_of, progress=progress, what="router folds")
    return LearnedScores(
        scores=scores,
        fold_of=fold_of,
        train_rows=train_rows,
        folds=folds,
        label=f"{strong} scores higher than {weak}",
        note=f"TF-IDF + logistic regression on the query text, {folds}-fold cross-validated (seed {seed})",
    )


def scores_for(
    ds: OutcomeDataset,
    source: str,
    strong: str,
    weak: str,
    seed: int = 0,
    folds: int = 5,
    progress: Progress | None = None,
) -> tuple[np.ndarray, str]:
    """(scores, what they rest on) for a source: "random", "oracle", "learned" or an imported
    score's name (or "imported:<name>")."""
    if source == "random":
        return random_scores(ds, seed), f"random scores (seed {seed}): the baseline"
    if source == "oracle":
        return oracle_scores(ds, strong, weak), "oracle: knows each query's outcome (upper bound)"
    if source == "learned":
        ls = learned_scores(ds, strong, weak, folds=folds, seed=seed, progress=progress)
        return ls.scores, ls.note
    name = source.removeprefix("imported:")
    return imported_scores(ds, name), f"imported router score {name!r} from the dataset"


# ---------------------------------------------------------------------- the sweep
def thresholds_for(scores: np.ndarray, n: int = 1000) -> np.ndarray:
    """n thresholds at the scores' quantiles, from the highest score to the lowest (100% strong),
    plus one above the highest (0% strong), so that the strong share moves in even steps. With
    n = 11 these are the edges of RouteLLM's 10 quantile bins (`pd.qcut(scores, 10)`)."""
    q = np.quantile(scores, np.linspace(1.0, 0.0, max(n, 2)))
    top = np.nextafter(scores.max(), np.inf)
    return np.unique(np.concatenate([[top, scores.min()], q]))[::-1]


def sweep(
    ds: OutcomeDataset,
    strong: str,
    weak: str,
    scores: np.ndarray,
    thresholds: int | np.ndarray = 1000,
    source: str = "",
    rows: np.ndarray | None = None,
) -> RouterCurve:
    """Quality, strong share and cost at each threshold (strong when score >= threshold),
    vectorised: one sort, then cumulative sums. `rows` restricts to some queries."""
    if strong == weak:
        raise SimulationError("the strong and the weak model must differ")
    s, w = ds.index(strong), ds.index(weak)
    scores = np.asarray(scores, float)
    if scores.shape != (ds.n_queries,) or not np.isfinite(scores).all():
        raise SimulationError("router scores need one finite number per query")
    idx = np.arange(ds.n_queries) if rows is None else np.asarray(rows)
    if idx.dtype == bool:
        idx = np.flatnonzero(idx)
    sc = scores[idx]
    ss, sw = ds.scores[idx, s], ds.scores[idx, w]
    cs, cw = ds.costs[idx, s], ds.costs[idx, w]
    th = thresholds_for(sc, thresholds) if np.isscalar(thresholds) else np.sort(np.asarray(thresholds, float))[::-1]
    n = len(idx)
    order = np.argsort(-sc, kind="stable")
    desc = sc[order]
    # k(t) = number of queries with score >= t: they are the first k in descending order.
    k = np.searchsorted(-desc, -th, side="right")
    gain = np.concatenate([[0.0], np.cumsum((ss - sw)[order])])
    extra = np.concatenate([[0.0], np.cumsum((cs - cw)[order])])
    data = {
        "threshold": th,
        "strong_share": k / n,
        "accuracy": (sw.sum() + gain[k]) / n,
        "cost_usd": cw.sum() + extra[k],
    }
    if ds.latency_ms is not None:
        ls, lw = ds.latency_ms[idx, s], ds.latency_ms[idx, w]
        lat = np.concatenate([[0.0], np.cumsum((ls - lw)[order])])
        data["latency_ms"] = (lw.sum() + lat[k]) / n
    points = pd.DataFrame(data)
    metrics = routellm_metrics(
        points["strong_share"].to_numpy(),
        points["accuracy"].to_numpy(),
        weak_acc=float(sw.mean()),
        strong_acc=float(ss.mean()),
        cost=points["cost_usd"].to_numpy(),
        strong_cost=float(cs.sum()),
    )
    return RouterCurve(source, strong, weak, points, metrics)


def route(
    ds: OutcomeDataset,
    strong: str,
    weak: str,
    source: str = "learned",
    thresholds: int | np.ndarray = 1000,
    seed: int = 0,
    folds: int = 5,
    progress: Progress | None = None,
) -> RouterCurve:
    """scores_for + sweep, with what the curve rests on."""
    scores, note = scores_for(ds, source, strong, weak, seed=seed, folds=folds, progress=progress)
    curve = sweep(ds, strong, weak, scores, thresholds=thresholds, source=source)
    curve.rests_on = [note, f"quality: {ds.score_basis}", f"cost: {ds.cost_basis}"]
    return curve


def random_line(ds: OutcomeDataset, strong: str, weak: str, shares: np.ndarray | None = None) -> pd.DataFrame:
    """The random router's expectation: a straight line from the weak model to the strong one."""
    s, w = ds.index(strong), ds.index(weak)
    x = np.linspace(0, 1, 11) if shares is None else np.asarray(shares, float)
    acc = ds.scores[:, w].mean() + x * (ds.scores[:, s].mean() - ds.scores[:, w].mean())
    cost = ds.costs[:, w].sum() + x * (ds.costs[:, s].sum() - ds.costs[:, w].sum())
    return pd.DataFrame({"strong_share": x, "accuracy": acc, "cost_usd": cost})


def oracle_line(ds: OutcomeDataset, strong: str, weak: str, shares: np.ndarray | None = None) -> pd.DataFrame:
    """The best any router could do with at most a given share of strong calls (RouteLLM's
    "optimal"): spend them on the queries where the strong model gains the most, and none
    where it gains nothing."""
    s, w = ds.index(strong), ds.index(weak)
    gain = np.sort(ds.scores[:, s] - ds.scores[:, w])[::-1]
    cost_gain = ds.costs[:, s] - ds.costs[:, w]
    order = np.argsort(-(ds.scores[:, s] - ds.scores[:, w]), kind="stable")
    n = ds.n_queries
    x = np.linspace(0, 1, 101) if shares is None else np.asarray(shares, float)
    k = np.floor(x * n + 1e-9).astype(int)
    cum = np.concatenate([[0.0], np.cumsum(np.maximum(gain, 0))])
    cumc = np.concatenate([[0.0], np.cumsum(cost_gain[order])])
    acc = (ds.scores[:, w].sum() + cum[k]) / n
    cost = ds.costs[:, w].sum() + cumc[k]
    return pd.DataFrame({"strong_share": x, "accuracy": acc, "cost_usd": cost})


# ---------------------------------------------------------------------- N models
def route_n(
    ds: OutcomeDataset,
    predicted: np.ndarray,
    cost_weight: float,
) -> dict[str, Any]:
    """N-model routing: per query pick argmax(predicted score - cost_weight x cost), where
    `predicted` is (n_queries, n_models) (e.g. cross-validated P(correct) per model). Returns
    the operating point {"cost_weight", "accuracy", "cost_usd", "shares": {model: share}}."""
    predicted = np.asarray(predicted, float)
    if predicted.shape != ds.scores.shape:
        raise SimulationError("predicted scores need one column per model")
    pick = (predicted - cost_weight * ds.costs).argmax(axis=1)
    rows = np.arange(ds.n_queries)
    shares = np.bincount(pick, minlength=len(ds.models)) / ds.n_queries
    return {
        "cost_weight": float(cost_weight),
        "accuracy": float(ds.scores[rows, pick].mean()),
        "cost_usd": float(ds.costs[rows, pick].sum()),
        "shares": {m: float(x) for m, x in zip(ds.models, shares)},
    }
